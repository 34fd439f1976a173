import { randomUUID } from 'node:crypto';
import type { JobRecord, MetadataStore } from '../stores/metadata-store.js';

// Background work as rows in the metadata store: a job is claimed with a lease, so it
// survives a restart and, on PostgreSQL, runs once across many nodes; a job held by a dead
// node is taken over when its lease expires. Handlers must be idempotent.

export interface JobContext {
  job: JobRecord;
  signal: AbortSignal;
}

export type JobHandler = (ctx: JobContext) => Promise<void>;

/** What domain services need to hand work to the background: a durable job row. */
export interface JobQueue {
  /** Adds a job due at `runAt` (default: now). */
  enqueue(kind: string, payload: unknown, runAt?: number): Promise<void>;
}

export interface JobRunnerOptions {
  meta: MetadataStore;
  /** How often an idle runner looks for due jobs. */
  pollMs?: number;
  /** How long a claim lasts before another node may take the job over. */
  leaseMs?: number;
  /** Delay before a failed job is retried (doubles per attempt, capped at an hour). */
  retryBaseMs?: number;
  onError?: (job: JobRecord, err: unknown) => void;
  clock?: () => number;
}

export class JobRunner implements JobQueue {
  readonly owner = `node-${randomUUID()}`;
  private readonly handlers = new Map<string, JobHandler>();
  /** Recurring job kinds and their intervals: one row each, rescheduled after every run. */
  private readonly recurring = new Map<string, number>();
  private readonly delayedFirstRun = new Set<string>();
  private readonly meta: MetadataStore;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly retryBaseMs: number;
  private readonly now: () => number;
  private readonly onError: (job: JobRecord, err: unknown) => void;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private started = false;
  /** A wake-up came while draining: drain again right after. */
  private again = false;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();

  constructor(options: JobRunnerOptions) {
    this.meta = options.meta;
    this.pollMs = options.pollMs ?? 5_000;
    this.leaseMs = options.leaseMs ?? 10 * 60_000;
    this.retryBaseMs = options.retryBaseMs ?? 30_000;
    this.now = options.clock ?? Date.now;
    this.onError = options.onError ?? (() => {});
  }

  register(kind: string, handler: JobHandler): this {
    this.handlers.set(kind, handler);
    return this;
  }

  /** A job that runs every `intervalMs` across the cluster (first run: at start). */
  /**
   * A job that runs every `intervalMs`. `firstRunAfterInterval`: a store that has no row for
   * it yet (a new, migrated or restored one) first runs it one interval from now, not at
   * once; for jobs that delete (lifecycle expiry), whose first run on a migrated target
   * would otherwise expire images at its first start, before anyone looked.
   */
  every(kind: string, intervalMs: number, handler: JobHandler, options: { firstRunAfterInterval?: boolean } = {}): this {
    this.recurring.set(kind, intervalMs);
    if (options.firstRunAfterInterval) this.delayedFirstRun.add(kind);
    return this.register(kind, handler);
  }

  /** Makes sure every recurring job has its row; safe to call from every node. */
  async ensureRecurring(): Promise<void> {
    for (const [kind, intervalMs] of this.recurring) {
      await this.meta.enqueueJob(kind, null, this.now() + (this.delayedFirstRun.has(kind) ? intervalMs : 0), `recurring:${kind}`);
    }
  }

  /** Runs due jobs until none is left; returns how many ran. */
  async drain(): Promise<number> {
    let count = 0;
    while (!this.abort.signal.aborted) {
      const job = await this.meta.claimJob([...this.handlers.keys()], this.owner, this.now(), this.leaseMs);
      if (!job) break;
      count++;
      await this.execute(job);
    }
    return count;
  }

  /**
   * Adds a job and, when this runner is started, runs it as soon as it is due rather than
   * at the next poll (another node may still take it first; each job runs once).
   */
  async enqueue(kind: string, payload: unknown, runAt?: number): Promise<void> {
    const due = runAt ?? this.now();
    await this.meta.enqueueJob(kind, payload, due);
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
      if (this.running) this.again = true;
      else this.tick();
    }, delayMs).unref();
    this.wakeTimers.add(timer);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.running = this.ensureRecurring().catch((err) => this.onError({ id: 0, kind: 'ensure-recurring', payload: null, attempts: 0 }, err));
    this.timer = setTimeout(() => this.tick(), 0).unref();
  }

  private tick(): void {
    if (this.abort.signal.aborted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.again = false;
    this.running = this.drain()
      .then(() => undefined)
      .catch(() => undefined)
      .finally(() => {
        this.running = null;
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
    await this.running;
  }

  private async execute(job: JobRecord): Promise<void> {
    const handler = this.handlers.get(job.kind)!;
    try {
      await handler({ job, signal: this.abort.signal });
      const interval = this.recurring.get(job.kind);
      if (interval !== undefined) await this.meta.rescheduleJob(job.id, this.owner, this.now() + interval);
      else await this.meta.completeJob(job.id, this.owner);
    } catch (err) {
      this.onError(job, err);
      const delay = Math.min(this.retryBaseMs * 2 ** Math.max(0, job.attempts - 1), 3_600_000);
      await this.meta.failJob(job.id, this.owner, err instanceof Error ? err.message : String(err), this.now() + delay);
    }
  }
}
