import { sql, type Kysely, type Transaction } from 'kysely';
import { transact } from '../../stores/metadata/sqlite-group-commit.js';
import type { AuditTables } from './migrations.js';
import { canonicalJson, chainHash, GENESIS_HASH, type CloudTrailRecord } from './record.js';

// The audit trail's SQL: appending chained records, looking them up, exporting, verifying
// the chains and purging past the retention period.

/** A record ready to append, with the columns LookupEvents filters on. */
export interface PendingRecord {
  record: CloudTrailRecord;
  time: number;
  username: string | null;
}

export interface StoredRecord {
  accountId: string;
  seq: number;
  eventId: string;
  eventTime: number;
  eventName: string;
  eventSource: string;
  username: string | null;
  accessKeyId: string | null;
  readOnly: boolean;
  record: string;
  resources: { type: string; name: string; arn: string }[];
}

export type LookupKey = 'EventId' | 'EventName' | 'ReadOnly' | 'Username' | 'ResourceType' | 'ResourceName' | 'EventSource' | 'AccessKeyId';

export interface LookupQuery {
  accountId: string;
  attribute?: { key: LookupKey; value: string };
  startTime?: number;
  endTime?: number;
  limit: number;
  /** Keyset: records strictly older than this (time, seq). */
  before?: { time: number; seq: number };
}

export interface ChainProblem {
  accountId: string;
  kind: 'edited' | 'deleted' | 'columns-edited' | 'head-mismatch';
  /** The record named: its eventID (for a deleted one, as its successor or the chain head remembers it). */
  eventId: string | null;
  seq: number;
  detail: string;
}

const PG_MAX_PARAMS = 60_000;

export class AuditStore {
  readonly db: Kysely<AuditTables>;
  constructor(
    db: Kysely<any>,
    readonly dialect: 'sqlite' | 'postgres',
  ) {
    this.db = db as Kysely<AuditTables>;
  }

  /**
   * Appends records in one transaction, each account's chained onto its head row, which is
   * locked for the transaction on PostgreSQL (several nodes append to the same chains).
   */
  async append(batch: PendingRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const byAccount = new Map<string, PendingRecord[]>();
    for (const p of batch) {
      const list = byAccount.get(p.record.recipientAccountId);
      if (list) list.push(p);
      else byAccount.set(p.record.recipientAccountId, [p]);
    }
    // Accounts in a fixed order, so two nodes locking several heads cannot deadlock.
    const accounts = [...byAccount.keys()].sort();
    await transact(
      this.db,
      async (trx) => {
        for (const accountId of accounts) await this.appendToChain(trx, accountId, byAccount.get(accountId)!);
      },
      { durable: false },
    );
  }

  private async appendToChain(trx: Transaction<AuditTables>, accountId: string, records: PendingRecord[]): Promise<void> {
    await trx.insertInto('audit_chain_heads').values({ account_id: accountId, seq: 0, hash: GENESIS_HASH, event_id: null }).onConflict((oc) => oc.column('account_id').doNothing()).execute();
    let headQuery = trx.selectFrom('audit_chain_heads').selectAll().where('account_id', '=', accountId);
    if (this.dialect === 'postgres') headQuery = headQuery.forUpdate();
    const head = await headQuery.executeTakeFirstOrThrow();
    let seq = Number(head.seq);
    let prevHash = head.hash;
    let prevEventId = head.event_id;
    const rows: AuditTables['audit_events'][] = [];
    const resources: AuditTables['audit_event_resources'][] = [];
    for (const { record, time, username } of records) {
      seq++;
      const text = canonicalJson(record);
      const hash = chainHash(prevHash, text);
      rows.push({
        account_id: accountId,
        seq,
        event_id: record.eventID,
        event_time: time,
        event_name: record.eventName,
        event_source: record.eventSource,
        username,
        access_key_id: record.userIdentity.accessKeyId ?? null,
        read_only: record.readOnly ? 1 : 0,
        prev_event_id: prevEventId,
        prev_hash: prevHash,
        hash,
        record: text,
      });
      for (const r of record.resources ?? []) resources.push({ account_id: accountId, seq, resource_type: r.type, resource_name: resourceName(r.ARN), resource_arn: r.ARN });
      prevHash = hash;
      prevEventId = record.eventID;
    }
    // Multi-row inserts, within each engine's limit on bound parameters (13 per row).
    const chunk = this.dialect === 'postgres' ? Math.floor(PG_MAX_PARAMS / 13) : 2_000;
    for (let i = 0; i < rows.length; i += chunk) await trx.insertInto('audit_events').values(rows.slice(i, i + chunk)).execute();
    for (let i = 0; i < resources.length; i += chunk) await trx.insertInto('audit_event_resources').values(resources.slice(i, i + chunk)).execute();
    await trx.updateTable('audit_chain_heads').set({ seq, hash: prevHash, event_id: prevEventId }).where('account_id', '=', accountId).execute();
  }

  /** Newest first, as LookupEvents answers. */
  async lookup(q: LookupQuery): Promise<StoredRecord[]> {
    let query = this.db.selectFrom('audit_events as e').selectAll('e').where('e.account_id', '=', q.accountId);
    if (q.startTime !== undefined) query = query.where('e.event_time', '>=', q.startTime);
    if (q.endTime !== undefined) query = query.where('e.event_time', '<=', q.endTime);
    if (q.before) {
      const b = q.before;
      query = query.where((eb) => eb.or([eb('e.event_time', '<', b.time), eb.and([eb('e.event_time', '=', b.time), eb('e.seq', '<', b.seq)])]));
    }
    const a = q.attribute;
    if (a) {
      switch (a.key) {
        case 'EventId':
          query = query.where('e.event_id', '=', a.value);
          break;
        case 'EventName':
          query = query.where('e.event_name', '=', a.value);
          break;
        case 'EventSource':
          query = query.where('e.event_source', '=', a.value);
          break;
        case 'Username':
          query = query.where('e.username', '=', a.value);
          break;
        case 'AccessKeyId':
          query = query.where('e.access_key_id', '=', a.value);
          break;
        case 'ReadOnly':
          query = query.where('e.read_only', '=', a.value === 'true' ? 1 : 0);
          break;
        case 'ResourceName':
        case 'ResourceType': {
          const match = this.db
            .selectFrom('audit_event_resources as r')
            .select('r.seq')
            .where('r.account_id', '=', q.accountId)
            .where((eb) => (a.key === 'ResourceType' ? eb('r.resource_type', '=', a.value) : eb.or([eb('r.resource_name', '=', a.value), eb('r.resource_arn', '=', a.value)])));
          query = query.where('e.seq', 'in', match);
          break;
        }
      }
    }
    const rows = await query.orderBy('e.event_time', 'desc').orderBy('e.seq', 'desc').limit(q.limit).execute();
    return this.withResources(rows);
  }

  private async withResources(rows: AuditTables['audit_events'][]): Promise<StoredRecord[]> {
    const bySeq = new Map<string, StoredRecord['resources']>();
    if (rows.length > 0) {
      const accounts = [...new Set(rows.map((r) => r.account_id))];
      const res = await this.db
        .selectFrom('audit_event_resources')
        .selectAll()
        .where('account_id', 'in', accounts)
        .where(
          'seq',
          'in',
          rows.map((r) => Number(r.seq)),
        )
        .execute();
      for (const r of res) {
        const key = `${r.account_id}/${Number(r.seq)}`;
        const list = bySeq.get(key) ?? [];
        list.push({ type: r.resource_type, name: r.resource_name, arn: r.resource_arn });
        bySeq.set(key, list);
      }
    }
    return rows.map((r) => ({
      accountId: r.account_id,
      seq: Number(r.seq),
      eventId: r.event_id,
      eventTime: Number(r.event_time),
      eventName: r.event_name,
      eventSource: r.event_source,
      username: r.username,
      accessKeyId: r.access_key_id,
      readOnly: Number(r.read_only) === 1,
      record: r.record,
      resources: bySeq.get(`${r.account_id}/${Number(r.seq)}`) ?? [],
    }));
  }

  async accounts(): Promise<string[]> {
    const heads = await this.db.selectFrom('audit_chain_heads').select('account_id').orderBy('account_id').execute();
    return heads.map((h) => h.account_id);
  }

  /** Every record of an account in chain order, a page at a time (for export and verify). */
  async *scan(accountId: string, options: { since?: number; until?: number; pageSize?: number } = {}): AsyncGenerator<AuditTables['audit_events']> {
    let after = -1;
    for (;;) {
      let query = this.db.selectFrom('audit_events').selectAll().where('account_id', '=', accountId).where('seq', '>', after);
      if (options.since !== undefined) query = query.where('event_time', '>=', options.since);
      if (options.until !== undefined) query = query.where('event_time', '<=', options.until);
      const rows = await query.orderBy('seq').limit(options.pageSize ?? 1000).execute();
      for (const row of rows) yield row;
      if (rows.length < (options.pageSize ?? 1000)) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  /**
   * Walks each chain from its anchor (or the start) to its head and names every record whose
   * content no longer matches its hash, and every record missing from the chain.
   */
  async verify(accountIds?: string[]): Promise<{ records: number; accounts: number; problems: ChainProblem[] }> {
    const accounts = accountIds ?? (await this.accounts());
    const problems: ChainProblem[] = [];
    let records = 0;
    for (const accountId of accounts) {
      const anchor = await this.db.selectFrom('audit_anchors').selectAll().where('account_id', '=', accountId).executeTakeFirst();
      const head = await this.db.selectFrom('audit_chain_heads').selectAll().where('account_id', '=', accountId).executeTakeFirst();
      let expectSeq = anchor ? Number(anchor.seq) + 1 : 1;
      let prevHash = anchor ? anchor.hash : GENESIS_HASH;
      let prevEventId: string | null = anchor ? anchor.event_id : null;
      for await (const row of this.scan(accountId)) {
        records++;
        const seq = Number(row.seq);
        if (seq < expectSeq) continue; // older than the anchor: purge in progress
        if (seq > expectSeq || row.prev_hash !== prevHash) {
          // The record(s) before this one are gone (or this one's link was rewritten).
          const missing = seq > expectSeq ? seq - expectSeq : 0;
          problems.push({
            accountId,
            kind: 'deleted',
            eventId: row.prev_event_id,
            seq: seq - 1,
            detail: missing > 1 ? `${missing} records before ${row.event_id} are missing (seq ${expectSeq}-${seq - 1}); the last of them was ${row.prev_event_id}` : `the record before ${row.event_id} (seq ${seq - 1}, eventID ${row.prev_event_id}) is missing or was altered`,
          });
        }
        const recomputed = chainHash(row.prev_hash, row.record);
        if (recomputed !== row.hash) {
          problems.push({ accountId, kind: 'edited', eventId: row.event_id, seq, detail: `record ${row.event_id} (seq ${seq}) does not match its hash: it was edited` });
        } else if (!columnsMatch(row)) {
          problems.push({ accountId, kind: 'columns-edited', eventId: row.event_id, seq, detail: `the lookup columns of record ${row.event_id} (seq ${seq}) were edited` });
        }
        expectSeq = seq + 1;
        prevHash = row.hash;
        prevEventId = row.event_id;
      }
      if (head && Number(head.seq) >= expectSeq) {
        problems.push({
          accountId,
          kind: 'deleted',
          eventId: head.event_id,
          seq: Number(head.seq),
          detail: `the chain ends at seq ${expectSeq - 1} but its head is seq ${head.seq} (eventID ${head.event_id}): the newest records were deleted`,
        });
      } else if (head && Number(head.seq) === expectSeq - 1 && head.hash !== prevHash) {
        problems.push({ accountId, kind: 'head-mismatch', eventId: prevEventId, seq: expectSeq - 1, detail: `the newest record ${prevEventId} does not match the chain head` });
      }
    }
    return { records, accounts: accounts.length, problems };
  }

  /**
   * Deletes records older than `cutoff`, a page at a time; the chain then starts at an
   * anchor (the last purged record's seq and hash), so verify still checks what is left.
   */
  async purge(cutoff: number, signal?: AbortSignal): Promise<number> {
    let purged = 0;
    for (const accountId of await this.accounts()) {
      for (;;) {
        if (signal?.aborted) return purged;
        // Oldest first, by seq: a chain is purged from its start, so what is left stays whole.
        const last = await this.db
          .selectFrom('audit_events')
          .select(['seq', 'hash', 'event_id', 'event_time'])
          .where('account_id', '=', accountId)
          .orderBy('seq')
          .offset(999)
          .limit(1)
          .executeTakeFirst();
        const oldest = await this.db
          .selectFrom('audit_events')
          .select(['seq', 'hash', 'event_id', 'event_time'])
          .where('account_id', '=', accountId)
          .where('event_time', '<', cutoff)
          .where('seq', '<=', last ? Number(last.seq) : Number.MAX_SAFE_INTEGER)
          .orderBy('seq', 'desc')
          .limit(1)
          .executeTakeFirst();
        if (!oldest) break;
        // Everything up to the newest expired record in this page goes; the anchor moves there.
        const upTo = Number(oldest.seq);
        const removed = await transact(this.db, async (trx) => {
          await trx.deleteFrom('audit_event_resources').where('account_id', '=', accountId).where('seq', '<=', upTo).execute();
          const r = await trx.deleteFrom('audit_events').where('account_id', '=', accountId).where('seq', '<=', upTo).executeTakeFirst();
          await trx
            .insertInto('audit_anchors')
            .values({ account_id: accountId, seq: upTo, hash: oldest.hash, event_id: oldest.event_id, purged_before: cutoff })
            .onConflict((oc) => oc.column('account_id').doUpdateSet({ seq: upTo, hash: oldest.hash, event_id: oldest.event_id, purged_before: cutoff }))
            .execute();
          return Number(r.numDeletedRows);
        });
        purged += removed;
        if (removed === 0) break;
      }
    }
    return purged;
  }

  /** For tests and tools: the number of stored records. */
  async count(): Promise<number> {
    const row = await this.db.selectFrom('audit_events').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}

/** The columns a lookup filters on must say what the hashed record says. */
function columnsMatch(row: AuditTables['audit_events']): boolean {
  let record: CloudTrailRecord;
  try {
    record = JSON.parse(row.record) as CloudTrailRecord;
  } catch {
    return false;
  }
  return (
    record.eventID === row.event_id &&
    record.eventName === row.event_name &&
    record.eventSource === row.event_source &&
    (record.userIdentity.accessKeyId ?? null) === row.access_key_id &&
    (record.readOnly ? 1 : 0) === Number(row.read_only) &&
    Date.parse(record.eventTime) === Math.floor(Number(row.event_time) / 1000) * 1000
  );
}

/** The resource's own name: the part of its ARN after the resource type. */
export function resourceName(arn: string): string {
  const m = /^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?:[a-z-]+\/)?(.*)$/.exec(arn);
  return m ? m[1]! : arn;
}
