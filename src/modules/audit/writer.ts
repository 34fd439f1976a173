import type { AuditStore, PendingRecord } from './store.js';

// Records leave the request path at once: the hook only queues them; a flush every
// `intervalMs` (or as soon as `batchSize` wait) appends them in one transaction per batch,
// which also makes chaining cheap (one head row per account per batch, not per record).
// close() flushes what is queued: at least once on a graceful shutdown.

export interface AuditWriterOptions {
  intervalMs?: number;
  batchSize?: number;
  /** Records kept in memory at most while the database is unreachable; older ones are dropped (and counted). */
  maxQueued?: number;
  onError?: (err: unknown, records: number) => void;
}

export class AuditWriter {
  private queue: PendingRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly maxQueued: number;
  /** Records given up on (queue overflow while the database failed). */
  dropped = 0;
  written = 0;

  constructor(
    private readonly store: AuditStore,
    private readonly options: AuditWriterOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 200;
    this.batchSize = options.batchSize ?? 1000;
    this.maxQueued = options.maxQueued ?? 200_000;
  }

  add(record: PendingRecord): void {
    this.queue.push(record);
    if (this.queue.length > this.maxQueued) {
      this.queue.shift();
      this.dropped++;
    }
    if (this.closed) return;
    if (this.queue.length >= this.batchSize && !this.flushing) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes everything queued so far; resolves when it is in the database. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.flushing = (async () => {
      let done = 0;
      try {
        for (; done < batch.length; done += this.batchSize) {
          const part = batch.slice(done, done + this.batchSize);
          await this.store.append(part);
          this.written += part.length;
        }
      } catch (err) {
        // Put the unwritten ones back in front: the next flush tries again (their
        // transaction rolled back, so the chain head did not move).
        this.queue = batch.slice(done).concat(this.queue);
        this.options.onError?.(err, batch.length);
        if (!this.closed && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = null;
            void this.flush();
          }, Math.max(1000, this.intervalMs));
          this.timer.unref();
        }
        throw err;
      } finally {
        this.flushing = null;
      }
    })();
    await this.flushing.catch(() => {});
    if (this.queue.length >= this.batchSize && !this.closed) void this.flush();
  }

  /** Flushes and stops; later records are still queued and written by a final flush. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    if (this.flushing) await this.flushing.catch(() => {});
  }
}
