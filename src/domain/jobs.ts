import { randomUUID } from 'node:crypto';
import type { JobRecord, JobStore } from '../stores/job-store.js';
import type { Clock } from './clock.js';

// Background work as rows in the metadata store: a job is claimed with a lease, so it
// survives a restart and, on PostgreSQL, runs once across many nodes; a job held by a dead
// node is taken over when its lease expires. The runner renews the lease of a running job
// (a heartbeat), so a long scan or replication is not taken over while it is alive. A job
// that fails `maxAttempts` times is buried (dead-lettered) until an operator retries it
// (`berth jobs list|retry`). Handlers must be idempotent.

export interface JobContext {
  job: JobRecord;
  /** Aborted when the runner stops or the lease is lost to another node. */
  signal: AbortSignal;
  /** Renews the lease now (the runner also renews it on its own every third of the lease). */
  heartbeat(): Promise<void>;
}

export type JobHandler = (ctx: JobContext) => Promise<void>;

export interface JobKindOptions {
  /** How many jobs of this kind one node runs at once (default 1). */
  concurrency?: number;
  /** Failed attempts before the job is dead-lettered (default: the runner's). */
  maxAttempts?: number;
}

/** What domain services need to hand work to the background: a durable job row. */
export interface JobQueue {
  /** Adds a job due at `runAt` (default: now). */
  enqueue(kind: string, payload: unknown, runAt?: number): Promise<void>;
}

export interface JobRunnerOptions {
  store: JobStore;
  /** How often an idle runner looks for due jobs. */
  pollMs?: number;
  /** How long a claim lasts before another node may take the job over (renewed while running). */
  leaseMs?: number;
  /** Delay before a failed job is retried (doubles per attempt, capped at retryMaxMs). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Failed attempts before a job is dead-lettered (default 10). */
  maxAttempts?: number;
  /** Jobs one node runs at once, across kinds (default 2). */
  concurrency?: number;
  onError?: (job: JobRecord, err: unknown) => void;
  /** A job was dead-lettered. */
  onDead?: (job: JobRecord, err: unknown) => void;
  clock?: Clock | (() => number);
}

interface Registration {
  handler: JobHandler;
  concurrency: number;
  maxAttempts: number;
  /** Recurring jobs: the interval; one row each, rescheduled after every run. */
  intervalMs?: number;
  /** Recurring jobs whose row, when first made, waits one interval (see every()). */
  firstRunAfterInterval?: boolean;
}

export class JobRunner implements JobQueue {
  readonly owner = `node-${randomUUID()}`;
  private readonly kinds = new Map<string, Registration>();
  private readonly running = new Map<string, number>();
  readonly store: JobStore;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxAttempts: number;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly onError: (job: JobRecord, err: unknown) => void;
  private readonly onDead: (job: JobRecord, err: unknown) => void;
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private started = false;
  /** A wake-up came while draining: drain again right after. */
  private again = false;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: JobRunnerOptions) {
    this.store = options.store;
    this.pollMs = options.pollMs ?? 5_000;
    this.leaseMs = options.leaseMs ?? 10 * 60_000;
    this.retryBaseMs = options.retryBaseMs ?? 30_000;
    this.retryMaxMs = options.retryMaxMs ?? 3_600_000;
    this.maxAttempts = options.maxAttempts ?? 10;
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    const clock = options.clock;
    this.now = typeof clock === 'function' ? clock : clock ? () => clock.now() : Date.now;
    this.onError = options.onError ?? (() => {});
    this.onDead = options.onDead ?? (() => {});
  }

  register(kind: string, handler: JobHandler, options: JobKindOptions = {}): this {
    this.kinds.set(kind, { handler, concurrency: Math.max(1, options.concurrency ?? 1), maxAttempts: options.maxAttempts ?? this.maxAttempts });
    return this;
  }

  /** A job that runs every `intervalMs` across the cluster (first run: at start). */
  /**
   * A job that runs every `intervalMs`. `firstRunAfterInterval`: a store that has no row for
   * it yet (a new, migrated or restored one) first runs it one interval from now, not at
   * once; for jobs that delete (lifecycle expiry), whose first run on a migrated target
   * would otherwise expire images at its first start, before anyone looked.
   */
  every(kind: string, intervalMs: number, handler: JobHandler, options: JobKindOptions & { firstRunAfterInterval?: boolean } = {}): this {
    this.register(kind, handler, options);
    const registration = this.kinds.get(kind)!;
    registration.intervalMs = intervalMs;
    registration.firstRunAfterInterval = options.firstRunAfterInterval ?? false;
    return this;
  }

  /** Makes sure every recurring job has its row; safe to call from every node. */
  async ensureRecurring(): Promise<void> {
    for (const [kind, r] of this.kinds) {
      if (r.intervalMs !== undefined) await this.store.enqueueJob(kind, null, this.now() + (r.firstRunAfterInterval ? r.intervalMs : 0), `recurring:${kind}`);
    }
  }

  /** Runs due jobs until none is left (up to `concurrency` at once); returns how many ran. */
  async drain(): Promise<number> {
    let count = 0;
    const slots: Promise<void>[] = [];
    let exhausted = false;
    // Claims go one at a time, and a claimed job counts as running at once, so the
    // per-kind limits hold however many slots claim.
    let claiming: Promise<unknown> = Promise.resolve();
    /** A claimed job; 'busy' when every kind is at its limit (the slot stops, others go on). */
    const claim = () => {
      const result = claiming.then(async (): Promise<JobRecord | 'busy' | null> => {
        const free = [...this.kinds].filter(([kind, r]) => (this.running.get(kind) ?? 0) < r.concurrency).map(([kind]) => kind);
        if (free.length === 0) return this.kinds.size === 0 ? null : 'busy';
        const job = await this.store.claimJob(free, this.owner, this.now(), this.leaseMs);
        if (job) this.running.set(job.kind, (this.running.get(job.kind) ?? 0) + 1);
        return job;
      });
      claiming = result.catch(() => undefined);
      return result;
    };
    const next = async (): Promise<void> => {
      while (!exhausted && !this.abort.signal.aborted) {
        const job = await claim();
        if (job === 'busy') return;
        if (!job) {
          exhausted = true;
          return;
        }
        count++;
        await this.execute(job);
      }
    };
    for (let i = 0; i < this.concurrency; i++) slots.push(next());
    await Promise.all(slots);
    return count;
  }

  /**
   * Adds a job and, when this runner is started, runs it as soon as it is due rather than
   * at the next poll (another node may still take it first; each job runs once).
   */
  async enqueue(kind: string, payload: unknown, runAt?: number): Promise<void> {
    const due = runAt ?? this.now();
    await this.store.enqueueJob(kind, payload, due);
    this.wake(Math.max(0, due - this.now()));
  }

  /** Looks for due jobs after `delayMs` instead of waiting for the next poll; no-op unless started. */
  wake(delayMs = 0, rearms = 3): void {
    if (!this.started || this.abort.signal.aborted) return;
    const target = this.now() + delayMs;
    const timer = setTimeout(() => {
      this.wakeTimers.delete(timer);
      // libuv times a timer from the loop's cached clock, which trails the real one by
      // however long the current loop turn has run: the timer can fire a few ms before
      // `target`, when a claim would not see the job as due yet, and the next poll may be
      // minutes away. Wait out the rest (a few times at most: the clock may be a test's).
      const early = target - this.now();
      if (early > 0 && rearms > 0) return this.wake(early, rearms - 1);
      if (this.draining) this.again = true;
      else this.tick();
    }, delayMs).unref();
    this.wakeTimers.add(timer);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.draining = this.ensureRecurring().catch((err) => this.onError({ id: 0, kind: 'ensure-recurring', payload: null, attempts: 0 }, err));
    this.timer = setTimeout(() => this.tick(), 0).unref();
  }

  private tick(): void {
    if (this.abort.signal.aborted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.again = false;
    this.draining = this.drain()
      .then(() => undefined)
      .catch(() => undefined)
      .finally(() => {
        this.draining = null;
        if (this.abort.signal.aborted) return;
        if (this.again) this.tick();
        else this.timer = setTimeout(() => this.tick(), this.pollMs).unref();
      });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.wakeTimers.clear();
    await this.draining;
    await Promise.all(this.inFlight);
  }

  private async execute(job: JobRecord): Promise<void> {
    // Counted as running by the claim.
    const registration = this.kinds.get(job.kind)!;
    // The job's own signal: the runner stopping, or the lease lost to another node.
    const lease = new AbortController();
    const onStop = () => lease.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    const heartbeat = async () => {
      if (!(await this.store.renewJobLease(job.id, this.owner, this.now() + this.leaseMs))) lease.abort(new Error('the job lease was lost to another node'));
    };
    const renewal = setInterval(() => void heartbeat().catch(() => {}), Math.max(1_000, Math.floor(this.leaseMs / 3))).unref();
    const work = (async () => {
      try {
        await registration.handler({ job, signal: lease.signal, heartbeat });
        if (registration.intervalMs !== undefined) await this.store.rescheduleJob(job.id, this.owner, this.now() + registration.intervalMs);
        else await this.store.completeJob(job.id, this.owner);
      } catch (err) {
        this.onError(job, err);
        const message = err instanceof Error ? err.message : String(err);
        // Recurring jobs are never buried: their next run is the retry.
        if (registration.intervalMs === undefined && job.attempts >= registration.maxAttempts) {
          await this.store.buryJob(job.id, this.owner, message, this.now());
          this.onDead(job, err);
        } else {
          const delay = Math.min(this.retryBaseMs * 2 ** Math.max(0, job.attempts - 1), this.retryMaxMs);
          await this.store.failJob(job.id, this.owner, message, this.now() + delay);
        }
      } finally {
        clearInterval(renewal);
        this.abort.signal.removeEventListener('abort', onStop);
        this.running.set(job.kind, (this.running.get(job.kind) ?? 1) - 1);
      }
    })();
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
  }
}
