import type { Kysely } from 'kysely';
import type { SecretCipher } from '../../stores/identity-store.js';
import { transact } from '../../stores/metadata/sqlite-group-commit.js';

// SQL of the events module. Rules, targets, connections and API destinations are per
// account (the default event bus only); deliveries are the per-target queue of matched
// events, delivered in id order, and stay as the record of what was delivered or dead-lettered.

export interface RuleRecord {
  accountId: string;
  name: string;
  eventPattern: string;
  state: 'ENABLED' | 'DISABLED';
  description: string | null;
  region: string;
  createdBy: string;
  createdAt: number;
}

/** The target as PutTargets gave it (echoed by ListTargetsByRule). */
export interface TargetRecord {
  accountId: string;
  ruleName: string;
  id: string;
  arn: string;
  spec: Record<string, unknown>;
}

export type AuthorizationType = 'API_KEY' | 'BASIC' | 'OAUTH_CLIENT_CREDENTIALS';

export interface ConnectionRecord {
  accountId: string;
  name: string;
  uuid: string;
  description: string | null;
  authorizationType: AuthorizationType;
  /** AuthParameters as DescribeConnection shows them: no secret values. */
  authPublic: Record<string, unknown>;
  /** AuthParameters as CreateConnection gave them, secrets included (sealed at rest). */
  authSecret: Record<string, unknown>;
  /** The per-connection key of the X-Berth-Signature HMAC (sealed at rest). */
  signingSecret: string;
  state: string;
  createdAt: number;
  modifiedAt: number;
  authorizedAt: number | null;
}

export interface ApiDestinationRecord {
  accountId: string;
  name: string;
  uuid: string;
  description: string | null;
  connectionArn: string;
  endpoint: string;
  httpMethod: string;
  rateLimit: number | null;
  createdAt: number;
  modifiedAt: number;
}

export type DeliveryState = 'pending' | 'delivered' | 'dead';

export interface DeliveryRecord {
  id: number;
  accountId: string;
  ruleName: string;
  targetId: string;
  targetKey: string;
  eventId: string;
  body: string;
  state: DeliveryState;
  attempts: number;
  maxAttempts: number;
  expiresAt: number;
  nextAttemptAt: number;
  createdAt: number;
  finishedAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

export interface NewDelivery {
  accountId: string;
  ruleName: string;
  targetId: string;
  targetKey: string;
  eventId: string;
  body: string;
  maxAttempts: number;
  expiresAt: number;
  createdAt: number;
}

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class EventsStore {
  constructor(
    readonly db: Kysely<any>,
    private readonly cipher: SecretCipher,
  ) {}

  // ---- rules

  async putRule(rule: RuleRecord): Promise<void> {
    await transact(this.db, async (trx) => {
      const existing = await trx.selectFrom('events_rules').select('name').where('account_id', '=', rule.accountId).where('name', '=', rule.name).executeTakeFirst();
      const values = { event_pattern: rule.eventPattern, state: rule.state, description: rule.description };
      if (existing) await trx.updateTable('events_rules').set(values).where('account_id', '=', rule.accountId).where('name', '=', rule.name).execute();
      else await trx.insertInto('events_rules').values({ account_id: rule.accountId, name: rule.name, region: rule.region, created_by: rule.createdBy, created_at: rule.createdAt, ...values }).execute();
    });
  }

  async getRule(accountId: string, name: string): Promise<RuleRecord | null> {
    const row = await this.db.selectFrom('events_rules').selectAll().where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
    return row ? toRule(row) : null;
  }

  /** Rules in name order after `after`, at most `limit`. */
  async listRules(accountId: string, opts: { prefix?: string; after?: string; limit: number }): Promise<RuleRecord[]> {
    let q = this.db.selectFrom('events_rules').selectAll().where('account_id', '=', accountId);
    if (opts.after !== undefined) q = q.where('name', '>', opts.after);
    const rows = await q.orderBy('name').execute();
    return rows.map(toRule).filter((r) => !opts.prefix || r.name.startsWith(opts.prefix)).slice(0, opts.limit);
  }

  /** Every enabled rule of every account (matching runs against all of them). */
  async enabledRules(): Promise<RuleRecord[]> {
    return (await this.db.selectFrom('events_rules').selectAll().where('state', '=', 'ENABLED').execute()).map(toRule);
  }

  async setRuleState(accountId: string, name: string, state: 'ENABLED' | 'DISABLED'): Promise<boolean> {
    const r = await this.db.updateTable('events_rules').set({ state }).where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteRule(accountId: string, name: string): Promise<void> {
    await this.db.deleteFrom('events_rules').where('account_id', '=', accountId).where('name', '=', name).execute();
  }

  // ---- targets

  async targets(accountId: string, ruleName: string): Promise<TargetRecord[]> {
    const rows = await this.db.selectFrom('events_targets').selectAll().where('account_id', '=', accountId).where('rule_name', '=', ruleName).orderBy('target_id').execute();
    return rows.map(toTarget);
  }

  async targetsOfRules(): Promise<TargetRecord[]> {
    return (await this.db.selectFrom('events_targets').selectAll().execute()).map(toTarget);
  }

  async putTargets(targets: TargetRecord[]): Promise<void> {
    await transact(this.db, async (trx) => {
      for (const t of targets) {
        await trx.deleteFrom('events_targets').where('account_id', '=', t.accountId).where('rule_name', '=', t.ruleName).where('target_id', '=', t.id).execute();
        await trx.insertInto('events_targets').values({ account_id: t.accountId, rule_name: t.ruleName, target_id: t.id, arn: t.arn, spec: JSON.stringify(t.spec) }).execute();
      }
    });
  }

  async removeTargets(accountId: string, ruleName: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.deleteFrom('events_targets').where('account_id', '=', accountId).where('rule_name', '=', ruleName).where('target_id', 'in', ids).execute();
  }

  // ---- connections

  async createConnection(c: ConnectionRecord): Promise<boolean> {
    const row = await this.db
      .insertInto('events_connections')
      .values({
        account_id: c.accountId,
        name: c.name,
        uuid: c.uuid,
        description: c.description,
        authorization_type: c.authorizationType,
        auth_public: JSON.stringify(c.authPublic),
        auth_sealed: this.cipher.seal(JSON.stringify(c.authSecret)),
        signing_secret_sealed: this.cipher.seal(c.signingSecret),
        state: c.state,
        created_at: c.createdAt,
        modified_at: c.modifiedAt,
        authorized_at: c.authorizedAt,
      })
      .onConflict((oc) => oc.columns(['account_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(row.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async getConnection(accountId: string, name: string): Promise<ConnectionRecord | null> {
    const row = await this.db.selectFrom('events_connections').selectAll().where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
    return row ? this.toConnection(row) : null;
  }

  async listConnections(accountId: string, opts: { prefix?: string; state?: string; after?: string; limit: number }): Promise<ConnectionRecord[]> {
    let q = this.db.selectFrom('events_connections').selectAll().where('account_id', '=', accountId);
    if (opts.after !== undefined) q = q.where('name', '>', opts.after);
    if (opts.state) q = q.where('state', '=', opts.state);
    const rows = await q.orderBy('name').execute();
    return rows.map((r) => this.toConnection(r)).filter((c) => !opts.prefix || c.name.startsWith(opts.prefix)).slice(0, opts.limit);
  }

  async deleteConnection(accountId: string, name: string): Promise<void> {
    await this.db.deleteFrom('events_connections').where('account_id', '=', accountId).where('name', '=', name).execute();
  }

  // ---- API destinations

  async createApiDestination(d: ApiDestinationRecord): Promise<boolean> {
    const row = await this.db
      .insertInto('events_api_destinations')
      .values({
        account_id: d.accountId,
        name: d.name,
        uuid: d.uuid,
        description: d.description,
        connection_arn: d.connectionArn,
        endpoint: d.endpoint,
        http_method: d.httpMethod,
        rate_limit: d.rateLimit,
        created_at: d.createdAt,
        modified_at: d.modifiedAt,
      })
      .onConflict((oc) => oc.columns(['account_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(row.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async getApiDestination(accountId: string, name: string): Promise<ApiDestinationRecord | null> {
    const row = await this.db.selectFrom('events_api_destinations').selectAll().where('account_id', '=', accountId).where('name', '=', name).executeTakeFirst();
    return row ? toApiDestination(row) : null;
  }

  async listApiDestinations(accountId: string, opts: { prefix?: string; connectionArn?: string; after?: string; limit: number }): Promise<ApiDestinationRecord[]> {
    let q = this.db.selectFrom('events_api_destinations').selectAll().where('account_id', '=', accountId);
    if (opts.after !== undefined) q = q.where('name', '>', opts.after);
    if (opts.connectionArn) q = q.where('connection_arn', '=', opts.connectionArn);
    const rows = await q.orderBy('name').execute();
    return rows.map(toApiDestination).filter((d) => !opts.prefix || d.name.startsWith(opts.prefix)).slice(0, opts.limit);
  }

  async deleteApiDestination(accountId: string, name: string): Promise<void> {
    await this.db.deleteFrom('events_api_destinations').where('account_id', '=', accountId).where('name', '=', name).execute();
  }

  // ---- deliveries

  /** Adds deliveries; one already there for the same target and event id is kept (at-least-once feeds repeat). */
  async enqueueDeliveries(deliveries: NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await transact(this.db, async (trx) => {
      for (const d of deliveries) {
        await trx
          .insertInto('events_deliveries')
          .values({
            account_id: d.accountId,
            rule_name: d.ruleName,
            target_id: d.targetId,
            target_key: d.targetKey,
            event_id: d.eventId,
            body: d.body,
            state: 'pending',
            attempts: 0,
            max_attempts: d.maxAttempts,
            expires_at: d.expiresAt,
            next_attempt_at: d.createdAt,
            created_at: d.createdAt,
          })
          .onConflict((oc) => oc.columns(['target_key', 'event_id']).doNothing())
          .execute();
      }
    });
  }

  /** The oldest pending delivery of a target: its queue's head. */
  async headOf(targetKey: string): Promise<DeliveryRecord | null> {
    const row = await this.db.selectFrom('events_deliveries').selectAll().where('state', '=', 'pending').where('target_key', '=', targetKey).orderBy('id').limit(1).executeTakeFirst();
    return row ? toDelivery(row) : null;
  }

  /** Targets whose queue head (oldest pending delivery) is due by `now`. */
  async dueTargets(now: number, limit = 1000): Promise<string[]> {
    const rows = await this.db
      .selectFrom('events_deliveries as d')
      .innerJoin(
        (eb) => eb.selectFrom('events_deliveries').select(['target_key']).select((e) => e.fn.min('id').as('head')).where('state', '=', 'pending').groupBy('target_key').as('h'),
        (join) => join.onRef('d.id', '=', 'h.head'),
      )
      .select('d.target_key')
      .where('d.next_attempt_at', '<=', now)
      .orderBy('d.id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.target_key as string);
  }

  async markDelivered(id: number, now: number, status: number): Promise<void> {
    await this.db.updateTable('events_deliveries').set((eb) => ({ state: 'delivered', finished_at: now, last_status: status, last_error: null, attempts: eb('attempts', '+', 1) })).where('id', '=', id).execute();
  }

  async markFailed(id: number, fields: { dead: boolean; nextAttemptAt: number; now: number; status: number | null; error: string }): Promise<void> {
    await this.db
      .updateTable('events_deliveries')
      .set((eb) => ({
        state: fields.dead ? 'dead' : 'pending',
        finished_at: fields.dead ? fields.now : null,
        next_attempt_at: fields.nextAttemptAt,
        last_status: fields.status,
        last_error: fields.error.slice(0, 2000),
        attempts: eb('attempts', '+', 1),
      }))
      .where('id', '=', id)
      .execute();
  }

  async deliveries(filter: { state?: DeliveryState; accountId?: string; limit?: number }): Promise<DeliveryRecord[]> {
    let q = this.db.selectFrom('events_deliveries').selectAll();
    if (filter.state) q = q.where('state', '=', filter.state);
    if (filter.accountId) q = q.where('account_id', '=', filter.accountId);
    return (await q.orderBy('id').limit(filter.limit ?? 1000).execute()).map(toDelivery);
  }

  /** Puts dead deliveries back in their queues (an operator's retry). */
  async retryDead(ids: number[] | 'all', now: number): Promise<number> {
    let q = this.db.updateTable('events_deliveries').set({ state: 'pending', attempts: 0, next_attempt_at: now, finished_at: null }).where('state', '=', 'dead');
    if (ids !== 'all') {
      if (ids.length === 0) return 0;
      q = q.where('id', 'in', ids);
    }
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Takes (or renews) the delivery lease of a target; false while another node holds it. */
  async leaseTarget(targetKey: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    await this.db.insertInto('events_target_leases').values({ target_key: targetKey, owner, expires_at: 0 }).onConflict((oc) => oc.column('target_key').doNothing()).execute();
    const r = await this.db
      .updateTable('events_target_leases')
      .set({ owner, expires_at: now + leaseMs })
      .where('target_key', '=', targetKey)
      .where((eb) => eb.or([eb('expires_at', '<', now), eb('owner', '=', owner)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async releaseTarget(targetKey: string, owner: string): Promise<void> {
    await this.db.updateTable('events_target_leases').set({ expires_at: 0 }).where('target_key', '=', targetKey).where('owner', '=', owner).execute();
  }

  private toConnection(row: any): ConnectionRecord {
    return {
      accountId: row.account_id,
      name: row.name,
      uuid: row.uuid,
      description: row.description ?? null,
      authorizationType: row.authorization_type,
      authPublic: JSON.parse(row.auth_public),
      authSecret: JSON.parse(this.cipher.open(row.auth_sealed)),
      signingSecret: this.cipher.open(row.signing_secret_sealed),
      state: row.state,
      createdAt: num(row.created_at),
      modifiedAt: num(row.modified_at),
      authorizedAt: numOrNull(row.authorized_at),
    };
  }
}

function toRule(row: any): RuleRecord {
  return {
    accountId: row.account_id,
    name: row.name,
    eventPattern: row.event_pattern,
    state: row.state,
    description: row.description ?? null,
    region: row.region,
    createdBy: row.created_by,
    createdAt: num(row.created_at),
  };
}

function toTarget(row: any): TargetRecord {
  return { accountId: row.account_id, ruleName: row.rule_name, id: row.target_id, arn: row.arn, spec: JSON.parse(row.spec) };
}

function toApiDestination(row: any): ApiDestinationRecord {
  return {
    accountId: row.account_id,
    name: row.name,
    uuid: row.uuid,
    description: row.description ?? null,
    connectionArn: row.connection_arn,
    endpoint: row.endpoint,
    httpMethod: row.http_method,
    rateLimit: numOrNull(row.rate_limit),
    createdAt: num(row.created_at),
    modifiedAt: num(row.modified_at),
  };
}

function toDelivery(row: any): DeliveryRecord {
  return {
    id: num(row.id),
    accountId: row.account_id,
    ruleName: row.rule_name,
    targetId: row.target_id,
    targetKey: row.target_key,
    eventId: row.event_id,
    body: row.body,
    state: row.state,
    attempts: num(row.attempts),
    maxAttempts: num(row.max_attempts),
    expiresAt: num(row.expires_at),
    nextAttemptAt: num(row.next_attempt_at),
    createdAt: num(row.created_at),
    finishedAt: numOrNull(row.finished_at),
    lastStatus: numOrNull(row.last_status),
    lastError: row.last_error ?? null,
  };
}
