// Background work as rows: a job is claimed with a lease so it runs once across nodes, and
// is taken over when its holder dies. A job that fails too often is buried (dead-lettered)
// until an operator retries it.

export interface JobRecord {
  id: number;
  kind: string;
  payload: unknown;
  attempts: number;
}

export type JobState = 'pending' | 'running' | 'dead';

export interface JobListing extends JobRecord {
  state: JobState;
  runAt: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  lastError: string | null;
  createdAt: number;
  deadAt: number | null;
}

export interface JobStore {
  /**
   * Adds a job. With a uniqueKey, a job with that key that already exists is left as it
   * is and its id returned (so every node can ensure a recurring job without duplicates).
   */
  enqueueJob(kind: string, payload: unknown, runAt: number, uniqueKey?: string): Promise<number>;
  /** Claims the most overdue job of one of these kinds (never a buried one). */
  claimJob(kinds: readonly string[], owner: string, now: number, leaseMs: number): Promise<JobRecord | null>;
  /** Extends a held lease (a heartbeat); false when the lease was lost to another node. */
  renewJobLease(id: number, owner: string, leaseExpiresAt: number): Promise<boolean>;
  completeJob(id: number, owner: string): Promise<void>;
  /** Releases a claimed job to run again at `runAt` (recurring jobs). */
  rescheduleJob(id: number, owner: string, runAt: number): Promise<void>;
  failJob(id: number, owner: string, error: string, retryAt: number): Promise<void>;
  /** Dead-letters a claimed job: it stays, with its error, and runs again only when retried. */
  buryJob(id: number, owner: string, error: string, now: number): Promise<void>;
  /** Adds a job that is dead from the start (a change a subscriber could not take). */
  enqueueDeadJob(kind: string, payload: unknown, error: string, now: number): Promise<number>;
  listJobs(filter: { state?: JobState; kind?: string; limit: number; afterId?: number }, now: number): Promise<JobListing[]>;
  /** Makes a buried (or failing) job due now with a fresh attempt count; false when there is none. */
  retryJob(id: number, now: number): Promise<boolean>;
  /** Pending jobs per kind and the age of the oldest due one (metrics). */
  jobQueueStats(now: number): Promise<Array<{ kind: string; state: JobState; count: number; oldestDueAgeMs: number }>>;
}
