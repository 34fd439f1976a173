import { sql, type Kysely, type Transaction } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { Changes, StoredChange } from '../../domain/events/change.js';
import type { ChangeStore, SubscriptionRecord } from '../change-store.js';
import type { SqlDialectName } from './migrations.js';
import type { Database } from './schema.js';

// The transactional outbox. `appendChanges` runs inside the transaction that makes the
// change (transact(db, work, { changes }) calls it), so a change and its event commit or
// roll back together. Readers must only hand out changes that are durable and that no
// earlier change can still come before:
// - PostgreSQL: appends take a transaction-level advisory lock, so rows commit in seq order
//   (a reader that saw seq N will never later find an N-1 appearing).
// - SQLite: the group commit keeps a transaction open across the loop turn, and a read on
//   the same connection would see rows not yet committed or fsynced; readers stop at the
//   highest seq whose transaction has returned from its fsync (`durableSeq`).

const APPEND_LOCK = 0x6265_7274; // 'bert': one lock for every appender of the feed

interface FeedState {
  dialect: SqlDialectName;
  /** SQLite: highest seq known durable (null: read it from the table on first use). */
  durableSeq: number | null;
  listeners: Set<(seq: number) => void>;
}

const feeds = new WeakMap<Kysely<any>, FeedState>();

export function registerFeed(db: Kysely<any>, dialect: SqlDialectName): FeedState {
  let state = feeds.get(db);
  if (!state) feeds.set(db, (state = { dialect, durableSeq: null, listeners: new Set() }));
  return state;
}

/** Called (on this node) after changes commit durably, with the highest seq appended. */
export function onChangesCommitted(db: Kysely<any>, listener: (seq: number) => void): () => void {
  const state = feeds.get(db);
  if (!state) throw new Error('the change feed is not registered on this database');
  state.listeners.add(listener);
  return () => state.listeners.delete(listener);
}

/** Appends the changes' rows inside `trx`; returns the highest seq, or 0 when there were none. */
export async function appendChanges(db: Kysely<any>, trx: Transaction<any>, changes: Changes): Promise<number> {
  if (changes.events.length === 0) return 0;
  const state = feeds.get(db);
  if (state?.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${APPEND_LOCK})`.execute(trx);
  const actor = JSON.stringify(changes.actor);
  let last = 0;
  for (const e of changes.events) {
    const row = await (trx as Transaction<Database>)
      .insertInto('change_events')
      .values({
        id: randomUUID(),
        type: e.type,
        registry_id: e.registryId,
        region: e.region,
        repository: e.repository,
        occurred_at: changes.now,
        actor,
        detail: JSON.stringify(e.detail),
      })
      .returning('seq')
      .executeTakeFirstOrThrow();
    last = Math.max(last, Number(row.seq));
  }
  return last;
}

/** After the transaction that appended up to `seq` has committed durably. */
export function changesCommitted(db: Kysely<any>, seq: number): void {
  const state = feeds.get(db);
  if (!state || seq === 0) return;
  if (state.durableSeq !== null && seq > state.durableSeq) state.durableSeq = seq;
  for (const listener of state.listeners) listener(seq);
}

type ChangeRow = { seq: number; id: string; type: string; registry_id: string; region: string; repository: string | null; occurred_at: number; actor: string; detail: string };

function toStored(row: ChangeRow): StoredChange {
  return {
    seq: Number(row.seq),
    id: row.id,
    type: row.type,
    registryId: row.registry_id,
    region: row.region,
    repository: row.repository,
    time: Number(row.occurred_at),
    actor: JSON.parse(row.actor),
    detail: JSON.parse(row.detail),
  };
}

function toSubscription(row: { name: string; position: number; lease_owner: string | null; lease_expires_at: number | null; failures: number; last_error: string | null; updated_at: number }): SubscriptionRecord {
  return {
    name: row.name,
    position: Number(row.position),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    failures: row.failures,
    lastError: row.last_error,
    updatedAt: Number(row.updated_at),
  };
}

export class SqlChangeStore implements ChangeStore {
  private readonly state: FeedState;

  constructor(
    private readonly db: Kysely<Database>,
    dialect: SqlDialectName,
  ) {
    this.state = registerFeed(db, dialect);
  }

  /** Reads where the feed stands; call once the schema exists, before any write. */
  async init(): Promise<void> {
    if (this.state.dialect === 'postgres' || this.state.durableSeq !== null) return;
    const row = await this.db.selectFrom('change_events').select(sql<number>`coalesce(max(seq), 0)`.as('max')).executeTakeFirstOrThrow();
    if (this.state.durableSeq === null) this.state.durableSeq = Number(row.max);
  }

  /** The highest seq a reader may see (SQLite: durable; PostgreSQL: committed). */
  private async visibleSeq(): Promise<number> {
    if (this.state.dialect === 'postgres') return Number.MAX_SAFE_INTEGER;
    // On open every row on disk is durable: init() runs before this process writes.
    if (this.state.durableSeq === null) await this.init();
    return this.state.durableSeq!;
  }

  async readChanges(after: number, limit: number): Promise<StoredChange[]> {
    const visible = await this.visibleSeq();
    if (visible <= after) return [];
    const rows = await this.db.selectFrom('change_events').selectAll().where('seq', '>', after).where('seq', '<=', visible).orderBy('seq').limit(limit).execute();
    return rows.map((r) => toStored(r as ChangeRow));
  }

  async getChanges(seqs: number[]): Promise<StoredChange[]> {
    if (seqs.length === 0) return [];
    const rows = await this.db.selectFrom('change_events').selectAll().where('seq', 'in', seqs).orderBy('seq').execute();
    return rows.map((r) => toStored(r as ChangeRow));
  }

  async latestSeq(): Promise<number> {
    const visible = await this.visibleSeq();
    const row = await this.db.selectFrom('change_events').select(sql<number>`coalesce(max(seq), 0)`.as('max')).where('seq', '<=', visible).executeTakeFirstOrThrow();
    return Number(row.max);
  }

  async leaseSubscription(name: string, owner: string, now: number, leaseMs: number, startAt: number): Promise<SubscriptionRecord | null> {
    await this.db
      .insertInto('change_subscriptions')
      .values({ name, position: startAt, lease_owner: null, lease_expires_at: null, failures: 0, last_error: null, updated_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const taken = await this.db
      .updateTable('change_subscriptions')
      .set({ lease_owner: owner, lease_expires_at: now + leaseMs })
      .where('name', '=', name)
      .where((eb) => eb.or([eb('lease_owner', '=', owner), eb('lease_owner', 'is', null), eb('lease_expires_at', '<', now)]))
      .returningAll()
      .executeTakeFirst();
    return taken ? toSubscription(taken) : null;
  }

  async advanceSubscription(name: string, owner: string, position: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('change_subscriptions')
      .set({ position, failures: 0, last_error: null, updated_at: now })
      .where('name', '=', name)
      .where('lease_owner', '=', owner)
      .where('position', '<=', position)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async recordSubscriptionFailure(name: string, owner: string, error: string, now: number): Promise<void> {
    await this.db
      .updateTable('change_subscriptions')
      .set((eb) => ({ failures: eb('failures', '+', 1), last_error: error.slice(0, 2000), updated_at: now }))
      .where('name', '=', name)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async releaseSubscription(name: string, owner: string): Promise<void> {
    await this.db.updateTable('change_subscriptions').set({ lease_owner: null, lease_expires_at: null }).where('name', '=', name).where('lease_owner', '=', owner).execute();
  }

  async listSubscriptions(): Promise<SubscriptionRecord[]> {
    const rows = await this.db.selectFrom('change_subscriptions').selectAll().orderBy('name').execute();
    return rows.map(toSubscription);
  }

  async purgeChanges(before: number, limit: number): Promise<number> {
    const low = await this.db.selectFrom('change_subscriptions').select(sql<number | null>`min(position)`.as('min')).executeTakeFirst();
    const floor = low?.min === null || low?.min === undefined ? Number.MAX_SAFE_INTEGER : Number(low.min);
    const victims = await this.db.selectFrom('change_events').select('seq').where('occurred_at', '<', before).where('seq', '<=', floor).orderBy('seq').limit(limit).execute();
    if (victims.length === 0) return 0;
    const result = await this.db.deleteFrom('change_events').where('seq', 'in', victims.map((v) => v.seq)).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
