import { sql, type Kysely } from 'kysely';
import type { JobListing, JobRecord, JobState, JobStore } from '../job-store.js';
import type { SqlDialectName } from './migrations.js';
import type { Database } from './schema.js';
import { transact } from './sqlite-group-commit.js';

/** The job queue over SQLite or PostgreSQL (table `jobs`). */
export class SqlJobStore implements JobStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialectName,
  ) {}

  async enqueueJob(kind: string, payload: unknown, runAt: number, uniqueKey?: string): Promise<number> {
    const row = await this.db
      .insertInto('jobs')
      .values({ kind, payload: JSON.stringify(payload ?? null), run_at: runAt, attempts: 0, created_at: Date.now(), unique_key: uniqueKey ?? null })
      .onConflict((oc) => oc.column('unique_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (row) return row.id;
    const existing = await this.db.selectFrom('jobs').select('id').where('unique_key', '=', uniqueKey!).executeTakeFirstOrThrow();
    return existing.id;
  }

  async rescheduleJob(id: number, owner: string, runAt: number): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ lease_owner: null, lease_expires_at: null, attempts: 0, last_error: null, run_at: runAt })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async claimJob(kinds: readonly string[], owner: string, now: number, leaseMs: number): Promise<JobRecord | null> {
    if (kinds.length === 0) return null;
    return transact(this.db, async (trx) => {
      let candidate = trx
        .selectFrom('jobs')
        .select('id')
        .where('kind', 'in', kinds)
        .where('run_at', '<=', now)
        .where('dead_at', 'is', null)
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .orderBy('run_at')
        .limit(1);
      // PostgreSQL: concurrent claimers skip each other's rows. SQLite has one writer.
      if (this.dialect === 'postgres') candidate = candidate.forUpdate().skipLocked();
      const picked = await candidate.executeTakeFirst();
      if (!picked) return null;
      const row = await trx
        .updateTable('jobs')
        .set((eb) => ({ lease_owner: owner, lease_expires_at: now + leaseMs, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', picked.id)
        .returning(['id', 'kind', 'payload', 'attempts'])
        .executeTakeFirstOrThrow();
      return { id: row.id, kind: row.kind, payload: JSON.parse(row.payload), attempts: row.attempts };
    });
  }

  async renewJobLease(id: number, owner: string, leaseExpiresAt: number): Promise<boolean> {
    const result = await this.db.updateTable('jobs').set({ lease_expires_at: leaseExpiresAt }).where('id', '=', id).where('lease_owner', '=', owner).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async completeJob(id: number, owner: string): Promise<void> {
    await this.db.deleteFrom('jobs').where('id', '=', id).where('lease_owner', '=', owner).execute();
  }

  async failJob(id: number, owner: string, error: string, retryAt: number): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ lease_owner: null, lease_expires_at: null, last_error: error.slice(0, 2000), run_at: retryAt })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async buryJob(id: number, owner: string, error: string, now: number): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ lease_owner: null, lease_expires_at: null, last_error: error.slice(0, 2000), dead_at: now })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async enqueueDeadJob(kind: string, payload: unknown, error: string, now: number): Promise<number> {
    const row = await this.db
      .insertInto('jobs')
      .values({ kind, payload: JSON.stringify(payload ?? null), run_at: now, attempts: 0, created_at: now, unique_key: null, last_error: error.slice(0, 2000), dead_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async listJobs(filter: { state?: JobState; kind?: string; limit: number; afterId?: number }, now: number): Promise<JobListing[]> {
    let query = this.db.selectFrom('jobs').selectAll();
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
    if (filter.state === 'dead') query = query.where('dead_at', 'is not', null);
    if (filter.state === 'running') query = query.where('dead_at', 'is', null).where('lease_expires_at', '>=', now);
    if (filter.state === 'pending') query = query.where('dead_at', 'is', null).where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]));
    const rows = await query.orderBy('id').limit(filter.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      payload: JSON.parse(r.payload),
      attempts: r.attempts,
      state: r.dead_at !== null ? 'dead' : r.lease_expires_at !== null && r.lease_expires_at >= now ? 'running' : 'pending',
      runAt: r.run_at,
      leaseOwner: r.lease_owner,
      leaseExpiresAt: r.lease_expires_at,
      lastError: r.last_error,
      createdAt: r.created_at,
      deadAt: r.dead_at,
    }));
  }

  async retryJob(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ dead_at: null, attempts: 0, run_at: now, lease_owner: null, lease_expires_at: null })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('dead_at', 'is not', null), eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async jobQueueStats(now: number): Promise<Array<{ kind: string; state: JobState; count: number; oldestDueAgeMs: number }>> {
    // The state is computed once in a subquery, so both engines group by the same expression.
    const rows = await this.db
      .selectFrom(
        this.db
          .selectFrom('jobs')
          .select(['kind', 'run_at', sql<number>`case when dead_at is not null then 2 when lease_expires_at >= ${now} then 1 else 0 end`.as('state')])
          .as('j'),
      )
      .select(['j.kind', 'j.state', sql<number>`count(*)`.as('count'), sql<number>`min(j.run_at)`.as('oldest')])
      .groupBy(['j.kind', 'j.state'])
      .execute();
    const states: JobState[] = ['pending', 'running', 'dead'];
    return rows.map((r) => ({ kind: r.kind, state: states[Number(r.state)]!, count: Number(r.count), oldestDueAgeMs: Math.max(0, now - Number(r.oldest)) }));
  }
}
