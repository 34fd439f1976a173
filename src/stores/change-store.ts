import type { StoredChange } from '../domain/events/change.js';

// The change feed's rows (appended by the transactions that make the changes; see
// stores/metadata/change-log.ts) and each subscriber's cursor, held by one node at a time
// under a lease so a subscriber sees the feed in order, once per node failure at most twice.

export interface SubscriptionRecord {
  name: string;
  /** The last seq the subscriber has finished with. */
  position: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  /** Consecutive failures at this position, and the last error. */
  failures: number;
  lastError: string | null;
  updatedAt: number;
}

export interface ChangeStore {
  /** Committed changes after `after`, in seq order. */
  readChanges(after: number, limit: number): Promise<StoredChange[]>;
  /** Changes by seq (dead-letter retries). */
  getChanges(seqs: number[]): Promise<StoredChange[]>;
  latestSeq(): Promise<number>;
  /**
   * Takes (or renews) the lease on a subscriber's cursor, creating it at `startAt` when new;
   * null when another owner holds an unexpired lease.
   */
  leaseSubscription(name: string, owner: string, now: number, leaseMs: number, startAt: number): Promise<SubscriptionRecord | null>;
  /** Moves the cursor forward (only for the lease holder); resets the failure count. */
  advanceSubscription(name: string, owner: string, position: number, now: number): Promise<boolean>;
  recordSubscriptionFailure(name: string, owner: string, error: string, now: number): Promise<void>;
  releaseSubscription(name: string, owner: string): Promise<void>;
  listSubscriptions(): Promise<SubscriptionRecord[]>;
  /** Deletes changes older than `before` that every subscriber has passed; returns how many. */
  purgeChanges(before: number, limit: number): Promise<number>;
}
