import { sql, type Kysely, type Transaction } from 'kysely';
import { transact } from './sqlite-group-commit.js';
import {
  IdentityStoreError,
  type AccessKeyRecord,
  type AccessKeyStatus,
  type AccountRecord,
  type IdentityStore,
  type ListPage,
  type ManagedPolicyRecord,
  type PolicyOwner,
  type RoleRecord,
  type SecretCipher,
  type SessionRecord,
  type StoredCredential,
  type UserRecord,
} from '../identity-store.js';

// The identity tables of migration 0002, over the same kysely database as the metadata
// store (pass SqlMetadataStore.db). Works on SQLite and PostgreSQL alike.

type Db = Kysely<any> | Transaction<any>;

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

const userFrom = (r: any): UserRecord => ({ accountId: r.account_id, userId: r.user_id, name: r.name, path: r.path, createdAt: Number(r.created_at) });
const roleFrom = (r: any): RoleRecord => ({
  accountId: r.account_id,
  roleId: r.role_id,
  name: r.name,
  path: r.path,
  trustPolicy: r.trust_policy,
  description: r.description ?? null,
  maxSessionDuration: Number(r.max_session_duration),
  createdAt: Number(r.created_at),
});
const policyFrom = (r: any): ManagedPolicyRecord => ({
  accountId: r.account_id,
  policyId: r.policy_id,
  name: r.name,
  path: r.path,
  document: r.document,
  description: r.description ?? null,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  attachmentCount: Number(r.attachment_count ?? 0),
});

export class SqlIdentityStore implements IdentityStore {
  constructor(
    private readonly db: Kysely<any>,
    private readonly cipher: SecretCipher,
  ) {}

  // ---- accounts ----

  async createAccount(account: AccountRecord): Promise<AccountRecord> {
    try {
      await this.db.insertInto('accounts').values({ id: account.id, region: account.region, name: account.name, created_at: account.createdAt }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityStoreError('EntityAlreadyExists', `Account ${account.id} already exists.`);
      throw err;
    }
    return account;
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    const r = await this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? { id: r.id, region: r.region, name: r.name, createdAt: Number(r.created_at) } : null;
  }

  async listAccounts(): Promise<AccountRecord[]> {
    const rows = await this.db.selectFrom('accounts').selectAll().orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, region: r.region, name: r.name, createdAt: Number(r.created_at) }));
  }

  // ---- users ----

  async createUser(user: UserRecord): Promise<UserRecord> {
    await this.insertUnique('iam_users', {
      user_id: user.userId,
      account_id: user.accountId,
      name: user.name,
      name_key: user.name.toLowerCase(),
      path: user.path,
      created_at: user.createdAt,
    }, `User with name ${user.name} already exists.`);
    return user;
  }

  private async userRow(db: Db, accountId: string, name: string) {
    return db.selectFrom('iam_users').selectAll().where('account_id', '=', accountId).where('name_key', '=', name.toLowerCase()).executeTakeFirst();
  }

  async getUser(accountId: string, name: string): Promise<UserRecord | null> {
    const r = await this.userRow(this.db, accountId, name);
    return r ? userFrom(r) : null;
  }

  async listUsers(accountId: string, page: ListPage): Promise<UserRecord[]> {
    let q = this.db.selectFrom('iam_users').selectAll().where('account_id', '=', accountId);
    if (page.after !== undefined) q = q.where('name_key', '>', page.after);
    if (page.pathPrefix) q = q.where(pathStartsWith(sql.ref('path'), page.pathPrefix));
    const rows = await q.orderBy('name_key').limit(page.limit).execute();
    return rows.map(userFrom);
  }

  async deleteUser(accountId: string, name: string): Promise<void> {
    await transact(this.db, async (trx) => {
      const user = await this.userRow(trx, accountId, name);
      if (!user) throw noSuchUser(name);
      const blockers = await this.ownerBlockers(trx, user.user_id);
      const keys = await trx.selectFrom('iam_access_keys').select('access_key_id').where('user_id', '=', user.user_id).limit(1).execute();
      if (keys.length > 0) blockers.push('access keys');
      if (blockers.length) throw new IdentityStoreError('DeleteConflict', `Cannot delete entity, must delete ${blockers.join(' and ')} first.`);
      await trx.deleteFrom('iam_users').where('user_id', '=', user.user_id).execute();
    });
  }

  private async ownerBlockers(trx: Db, ownerId: string): Promise<string[]> {
    const out: string[] = [];
    const inline = await trx.selectFrom('iam_inline_policies').select('name').where('owner_id', '=', ownerId).limit(1).execute();
    if (inline.length) out.push('policies');
    const attached = await trx.selectFrom('iam_policy_attachments').select('policy_arn').where('owner_id', '=', ownerId).limit(1).execute();
    if (attached.length) out.push('attached policies');
    return out;
  }

  // ---- roles ----

  async createRole(role: RoleRecord): Promise<RoleRecord> {
    await this.insertUnique('iam_roles', {
      role_id: role.roleId,
      account_id: role.accountId,
      name: role.name,
      name_key: role.name.toLowerCase(),
      path: role.path,
      trust_policy: role.trustPolicy,
      description: role.description,
      max_session_duration: role.maxSessionDuration,
      created_at: role.createdAt,
    }, `Role with name ${role.name} already exists.`);
    return role;
  }

  private async roleRow(db: Db, accountId: string, name: string) {
    return db.selectFrom('iam_roles').selectAll().where('account_id', '=', accountId).where('name_key', '=', name.toLowerCase()).executeTakeFirst();
  }

  async getRole(accountId: string, name: string): Promise<RoleRecord | null> {
    const r = await this.roleRow(this.db, accountId, name);
    return r ? roleFrom(r) : null;
  }

  async listRoles(accountId: string, page: ListPage): Promise<RoleRecord[]> {
    let q = this.db.selectFrom('iam_roles').selectAll().where('account_id', '=', accountId);
    if (page.after !== undefined) q = q.where('name_key', '>', page.after);
    if (page.pathPrefix) q = q.where(pathStartsWith(sql.ref('path'), page.pathPrefix));
    const rows = await q.orderBy('name_key').limit(page.limit).execute();
    return rows.map(roleFrom);
  }

  async updateTrustPolicy(accountId: string, name: string, document: string): Promise<void> {
    const r = await this.db.updateTable('iam_roles').set({ trust_policy: document }).where('account_id', '=', accountId).where('name_key', '=', name.toLowerCase()).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw noSuchRole(name);
  }

  async deleteRole(accountId: string, name: string): Promise<void> {
    await transact(this.db, async (trx) => {
      const role = await this.roleRow(trx, accountId, name);
      if (!role) throw noSuchRole(name);
      const blockers = await this.ownerBlockers(trx, role.role_id);
      if (blockers.length) throw new IdentityStoreError('DeleteConflict', `Cannot delete entity, must delete ${blockers.join(' and ')} first.`);
      // Sessions of the role go with it (foreign key cascade): they stop working at once.
      await trx.deleteFrom('iam_roles').where('role_id', '=', role.role_id).execute();
    });
  }

  // ---- access keys ----

  async createAccessKey(accountId: string, userName: string, key: { accessKeyId: string; secret: string; createdAt: number }): Promise<AccessKeyRecord> {
    const user = await this.userRow(this.db, accountId, userName);
    if (!user) throw noSuchUser(userName);
    await this.db
      .insertInto('iam_access_keys')
      .values({
        access_key_id: key.accessKeyId,
        account_id: accountId,
        user_id: user.user_id,
        secret_sealed: this.cipher.seal(key.secret),
        status: 'Active',
        created_at: key.createdAt,
      })
      .execute();
    return { accessKeyId: key.accessKeyId, accountId, userName: user.name, status: 'Active', createdAt: key.createdAt };
  }

  async listAccessKeys(accountId: string, userName: string): Promise<AccessKeyRecord[]> {
    const user = await this.userRow(this.db, accountId, userName);
    if (!user) throw noSuchUser(userName);
    const rows = await this.db.selectFrom('iam_access_keys').select(['access_key_id', 'status', 'created_at']).where('user_id', '=', user.user_id).orderBy('created_at').orderBy('access_key_id').execute();
    return rows.map((r) => ({ accessKeyId: r.access_key_id, accountId, userName: user.name, status: r.status, createdAt: Number(r.created_at) }));
  }

  async updateAccessKey(accountId: string, userName: string, accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    const user = await this.userRow(this.db, accountId, userName);
    if (!user) throw noSuchUser(userName);
    const r = await this.db.updateTable('iam_access_keys').set({ status }).where('access_key_id', '=', accessKeyId).where('user_id', '=', user.user_id).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw noSuchKey(accessKeyId);
  }

  async deleteAccessKey(accountId: string, userName: string, accessKeyId: string): Promise<void> {
    const user = await this.userRow(this.db, accountId, userName);
    if (!user) throw noSuchUser(userName);
    const r = await this.db.deleteFrom('iam_access_keys').where('access_key_id', '=', accessKeyId).where('user_id', '=', user.user_id).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw noSuchKey(accessKeyId);
  }

  // ---- inline policies ----

  async putInlinePolicy(owner: PolicyOwner, name: string, document: string, now: number): Promise<void> {
    await this.db
      .insertInto('iam_inline_policies')
      .values({ owner_id: owner.id, name, document, updated_at: now })
      .onConflict((oc) => oc.columns(['owner_id', 'name']).doUpdateSet({ document, updated_at: now }))
      .execute();
  }

  async getInlinePolicy(owner: PolicyOwner, name: string): Promise<string | null> {
    const r = await this.db.selectFrom('iam_inline_policies').select('document').where('owner_id', '=', owner.id).where('name', '=', name).executeTakeFirst();
    return r ? r.document : null;
  }

  async listInlinePolicies(owner: PolicyOwner): Promise<string[]> {
    const rows = await this.db.selectFrom('iam_inline_policies').select('name').where('owner_id', '=', owner.id).orderBy('name').execute();
    return rows.map((r) => r.name);
  }

  async deleteInlinePolicy(owner: PolicyOwner, name: string): Promise<void> {
    const r = await this.db.deleteFrom('iam_inline_policies').where('owner_id', '=', owner.id).where('name', '=', name).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new IdentityStoreError('NoSuchEntity', `The ${owner.kind} policy with name ${name} cannot be found.`);
  }

  // ---- managed policies ----

  async createManagedPolicy(policy: Omit<ManagedPolicyRecord, 'attachmentCount'>): Promise<ManagedPolicyRecord> {
    await this.insertUnique('iam_managed_policies', {
      policy_id: policy.policyId,
      account_id: policy.accountId,
      name: policy.name,
      name_key: policy.name.toLowerCase(),
      path: policy.path,
      document: policy.document,
      description: policy.description,
      created_at: policy.createdAt,
      updated_at: policy.updatedAt,
    }, `A policy called ${policy.name} already exists. Duplicate names are not allowed.`);
    return { ...policy, attachmentCount: 0 };
  }

  private managedQuery(db: Db) {
    return db
      .selectFrom('iam_managed_policies as p')
      .selectAll('p')
      .select((eb: any) =>
        eb
          .selectFrom('iam_policy_attachments as a')
          .select(eb.fn.countAll().as('n'))
          .where('a.policy_arn', '=', sql<string>`'arn:aws:iam::' || p.account_id || ':policy' || p.path || p.name`)
          .as('attachment_count'),
      );
  }

  async getManagedPolicy(accountId: string, name: string): Promise<ManagedPolicyRecord | null> {
    const r = await this.managedQuery(this.db).where('p.account_id', '=', accountId).where('p.name_key', '=', name.toLowerCase()).executeTakeFirst();
    return r ? policyFrom(r) : null;
  }

  async listManagedPolicies(accountId: string, page: ListPage): Promise<ManagedPolicyRecord[]> {
    let q = this.managedQuery(this.db).where('p.account_id', '=', accountId);
    if (page.after !== undefined) q = q.where('p.name_key', '>', page.after);
    if (page.pathPrefix) q = q.where(pathStartsWith(sql.ref('p.path'), page.pathPrefix));
    const rows = await q.orderBy('p.name_key').limit(page.limit).execute();
    return rows.map(policyFrom);
  }

  async deleteManagedPolicy(accountId: string, name: string, arn: string): Promise<void> {
    await transact(this.db, async (trx) => {
      const r = await trx.selectFrom('iam_managed_policies').select('policy_id').where('account_id', '=', accountId).where('name_key', '=', name.toLowerCase()).executeTakeFirst();
      if (!r) throw new IdentityStoreError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`);
      const attached = await trx.selectFrom('iam_policy_attachments').select('owner_id').where('policy_arn', '=', arn).limit(1).execute();
      if (attached.length) throw new IdentityStoreError('DeleteConflict', 'Cannot delete a policy attached to entities.');
      await trx.deleteFrom('iam_managed_policies').where('policy_id', '=', r.policy_id).execute();
    });
  }

  async attachPolicy(owner: PolicyOwner, policyArn: string, now: number): Promise<void> {
    await this.db
      .insertInto('iam_policy_attachments')
      .values({ owner_id: owner.id, policy_arn: policyArn, created_at: now })
      .onConflict((oc) => oc.columns(['owner_id', 'policy_arn']).doNothing())
      .execute();
  }

  async detachPolicy(owner: PolicyOwner, policyArn: string): Promise<void> {
    const r = await this.db.deleteFrom('iam_policy_attachments').where('owner_id', '=', owner.id).where('policy_arn', '=', policyArn).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new IdentityStoreError('NoSuchEntity', `Policy ${policyArn} was not found.`);
  }

  async listAttachedPolicies(owner: PolicyOwner): Promise<string[]> {
    const rows = await this.db.selectFrom('iam_policy_attachments').select('policy_arn').where('owner_id', '=', owner.id).orderBy('policy_arn').execute();
    return rows.map((r) => r.policy_arn);
  }

  // ---- sessions ----

  async createSession(session: SessionRecord, secret: string, tokenHash: string): Promise<void> {
    await this.db
      .insertInto('iam_sessions')
      .values({
        access_key_id: session.accessKeyId,
        account_id: session.accountId,
        role_id: session.roleId,
        session_name: session.sessionName,
        secret_sealed: this.cipher.seal(secret),
        token_hash: tokenHash,
        source_arn: session.sourceArn,
        session_policy: session.sessionPolicy,
        expires_at: session.expiresAt,
        created_at: session.createdAt,
      })
      .execute();
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    const r = await this.db.deleteFrom('iam_sessions').where('expires_at', '<', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // ---- lookups for authentication and authorization ----

  async findCredential(accessKeyId: string): Promise<StoredCredential | null> {
    const key = await this.db
      .selectFrom('iam_access_keys as k')
      .innerJoin('iam_users as u', 'u.user_id', 'k.user_id')
      .select(['k.access_key_id', 'k.secret_sealed', 'k.status', 'u.user_id', 'u.account_id', 'u.name', 'u.path', 'u.created_at'])
      .where('k.access_key_id', '=', accessKeyId)
      .executeTakeFirst();
    if (key) return { kind: 'user', accessKeyId, secret: this.cipher.open(key.secret_sealed), status: key.status, user: userFrom(key) };
    const s = await this.db.selectFrom('iam_sessions').selectAll().where('access_key_id', '=', accessKeyId).executeTakeFirst();
    if (!s) return null;
    const role = await this.db.selectFrom('iam_roles').selectAll().where('role_id', '=', s.role_id).executeTakeFirst();
    if (!role) return null;
    return {
      kind: 'session',
      accessKeyId,
      secret: this.cipher.open(s.secret_sealed),
      tokenHash: s.token_hash,
      role: roleFrom(role),
      session: {
        accessKeyId,
        accountId: s.account_id,
        roleId: s.role_id,
        sessionName: s.session_name,
        sourceArn: s.source_arn,
        sessionPolicy: s.session_policy ?? null,
        expiresAt: Number(s.expires_at),
        createdAt: Number(s.created_at),
      },
    };
  }

  async policyDocumentsFor(owner: PolicyOwner): Promise<{ inline: string[]; attachedArns: string[]; managed: string[] }> {
    const inline = await this.db.selectFrom('iam_inline_policies').select('document').where('owner_id', '=', owner.id).orderBy('name').execute();
    const attachedArns = await this.listAttachedPolicies(owner);
    const managed: string[] = [];
    for (const arn of attachedArns) {
      const m = /^arn:aws:iam::(\d{12}):policy(\/(?:[^/]+\/)*)([^/]+)$/.exec(arn);
      if (!m) continue; // AWS-managed: resolved by the caller from the built-in set
      const r = await this.db.selectFrom('iam_managed_policies').select('document').where('account_id', '=', m[1]!).where('name_key', '=', m[3]!.toLowerCase()).where('path', '=', m[2]!).executeTakeFirst();
      if (r) managed.push(r.document);
    }
    return { inline: inline.map((r) => r.document), attachedArns, managed };
  }

  private async insertUnique(table: string, values: Record<string, unknown>, conflictMessage: string): Promise<void> {
    try {
      await this.db.insertInto(table).values(values).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityStoreError('EntityAlreadyExists', conflictMessage);
      throw err;
    }
  }
}

// substr, not LIKE: no wildcard escaping, and case-sensitive on both engines.
function pathStartsWith(column: ReturnType<typeof sql.ref>, prefix: string) {
  return sql<boolean>`substr(${column}, 1, ${prefix.length}) = ${prefix}`;
}

const noSuchUser = (name: string) => new IdentityStoreError('NoSuchEntity', `The user with name ${name} cannot be found.`);
const noSuchRole = (name: string) => new IdentityStoreError('NoSuchEntity', `The role with name ${name} cannot be found.`);
const noSuchKey = (id: string) => new IdentityStoreError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
