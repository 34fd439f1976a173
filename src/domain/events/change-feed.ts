import type { ChangeStore } from '../../stores/change-store.js';
import type { JobStore } from '../../stores/job-store.js';
import type { JobRunner } from '../jobs.js';
import type { StoredChange } from './change.js';

// Subscribers of the change feed. Each subscriber has a durable cursor; one node at a time
// holds it under a lease and hands the changes after it, in order, to the handler, then
// moves it on. Delivery is at least once (a node that dies between handling and moving the
// cursor hands the batch again from the next holder): handlers dedupe by change id.
// A batch that keeps failing is split down to one change; a change that still fails
// `maxAttempts` times is dead-lettered as a job (`berth jobs list|retry`) and the cursor
// moves past it, so one poisoned change does not stop the subscriber.

export interface SubscriberContext {
  signal: AbortSignal;
}

export type ChangeHandler = (changes: StoredChange[], ctx: SubscriberContext) => Promise<void>;

export interface SubscribeOptions {
  /** Only these change types reach the handler (the cursor moves past the others). */
  types?: readonly string[];
  batchSize?: number;
  /** Failed attempts at one change before it is dead-lettered (default 10). */
  maxAttempts?: number;
  /** Where a new subscriber starts: the feed's end (default) or its beginning. */
  from?: 'latest' | 'beginning';
}

export interface ChangeFeedOptions {
  store: ChangeStore;
  jobs: JobRunner;
  /** Where dead letters are written. */
  jobStore: JobStore;
  /** This node's identity as a lease holder. */
  owner: string;
  /** How often an idle subscriber looks for changes from other nodes. */
  pollMs?: number;
  leaseMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  clock?: () => number;
  onError?: (subscriber: string, err: unknown) => void;
}

interface Subscriber {
  name: string;
  handler: ChangeHandler;
  options: SubscribeOptions;
  wake: (() => void) | null;
  loop: Promise<void> | null;
  /** The cursor as this node holds it: renewed only in the lease's second half, so an idle poll writes nothing. */
  held: { position: number; failures: number; until: number } | null;
}

export const deadChangeJobKind = (subscriber: string) => `feed.dead:${subscriber}`;

export class ChangeFeed {
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly abort = new AbortController();
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly now: () => number;
  private started = false;

  constructor(private readonly options: ChangeFeedOptions) {
    this.pollMs = options.pollMs ?? 1_000;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.retryBaseMs = options.retryBaseMs ?? 1_000;
    this.retryMaxMs = options.retryMaxMs ?? 300_000;
    this.now = options.clock ?? Date.now;
  }

  get store(): ChangeStore {
    return this.options.store;
  }

  /** Registers a subscriber (before start). Its dead letters run as jobs of their own kind. */
  subscribe(name: string, handler: ChangeHandler, options: SubscribeOptions = {}): void {
    if (this.subscribers.has(name)) throw new Error(`change subscriber ${name} is registered twice`);
    const subscriber: Subscriber = { name, handler, options, wake: null, loop: null, held: null };
    this.subscribers.set(name, subscriber);
    // A retried dead letter hands its change to the handler again, once.
    this.options.jobs.register(deadChangeJobKind(name), async ({ job, signal }) => {
      const { seq } = job.payload as { seq: number };
      const changes = await this.options.store.getChanges([seq]);
      if (changes.length > 0) await handler(changes, { signal });
    }, { maxAttempts: 1 });
    if (this.started) subscriber.loop = this.run(subscriber);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const s of this.subscribers.values()) s.loop = this.run(s);
  }

  /** Changes were committed on this node: subscribers look at once instead of at the next poll. */
  notify(): void {
    for (const s of this.subscribers.values()) s.wake?.();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.notify();
    await Promise.all([...this.subscribers.values()].map((s) => s.loop));
  }

  /** Runs every subscriber until it has caught up (tests and tools; needs no start()). */
  async drain(): Promise<void> {
    for (const s of this.subscribers.values()) {
      while (await this.step(s)) {
        /* until caught up */
      }
    }
  }

  private async run(s: Subscriber): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      let delay = this.pollMs;
      try {
        const progressed = await this.step(s);
        failures = 0;
        if (progressed) continue;
      } catch (err) {
        failures++;
        this.options.onError?.(s.name, err);
        delay = Math.min(this.retryBaseMs * 2 ** (failures - 1), this.retryMaxMs);
      }
      await this.sleep(s, delay);
    }
    s.held = null;
    await this.options.store.releaseSubscription(s.name, this.options.owner).catch(() => {});
  }

  /**
   * One batch: takes the lease, reads after the cursor, hands the batch over, moves the
   * cursor. Resolves true when it moved the cursor (there may be more), false when it is
   * caught up or another node holds the lease; throws when the handler failed.
   */
  private async step(s: Subscriber): Promise<boolean> {
    const store = this.options.store;
    const now = this.now();
    // No other node can take the cursor before the lease expires: in its first half this node
    // reads on from the position it holds; only then does it renew (a write).
    if (!s.held || now >= s.held.until - this.leaseMs / 2) {
      const startAt = s.options.from === 'beginning' ? 0 : await store.latestSeq();
      const taken = await store.leaseSubscription(s.name, this.options.owner, now, this.leaseMs, startAt);
      s.held = taken ? { position: taken.position, failures: taken.failures, until: now + this.leaseMs } : null;
    }
    const lease = s.held;
    if (!lease) return false;
    const advance = async (position: number) => {
      if (await store.advanceSubscription(s.name, this.options.owner, position, this.now())) {
        lease.position = position;
        lease.failures = 0;
      } else {
        s.held = null; // lost to another node: take it again before reading on
      }
    };
    // After failures, go one change at a time, to find the one that fails.
    const size = lease.failures > 0 ? 1 : (s.options.batchSize ?? 100);
    const batch = await store.readChanges(lease.position, size);
    if (batch.length === 0) return false;
    const last = batch[batch.length - 1]!.seq;
    const wanted = s.options.types ? batch.filter((c) => s.options.types!.includes(c.type)) : batch;
    if (wanted.length > 0) {
      try {
        await s.handler(wanted, { signal: this.abort.signal });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (batch.length === 1 && lease.failures + 1 >= (s.options.maxAttempts ?? 10)) {
          // Dead-letter the one change and move on.
          await this.options.jobStore.enqueueDeadJob(deadChangeJobKind(s.name), { seq: last, changeId: batch[0]!.id, type: batch[0]!.type }, message, this.now());
          await advance(last);
          return true;
        }
        await store.recordSubscriptionFailure(s.name, this.options.owner, message, this.now());
        lease.failures++;
        throw err;
      }
    }
    await advance(last);
    return true;
  }

  private sleep(s: Subscriber, ms: number): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        s.wake = null;
        resolve();
      }
      s.wake = done;
    });
  }
}
