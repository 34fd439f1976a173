import { createHash } from 'node:crypto';
import {
  IdentityStoreError,
  type AccessKeyRecord,
  type AccountRecord,
  type IdentityStore,
  type ManagedPolicyRecord,
  type PolicyOwner,
  type RoleRecord,
  type StoredCredential,
  type UserRecord,
} from '../../stores/identity-store.js';
import { accountRootArn, assumedRoleArn, parseIamArn, policyArn as managedPolicyArn, roleArn, userArn } from './arns.js';
import { awsManagedPolicies, awsManagedPolicy } from './aws-managed.js';
import { IamError } from './errors.js';
import { AuthCache, NO_AUTH_CACHE } from './auth-cache.js';
import { authorize, type Decision, type PrincipalContext } from './evaluate.js';
import { newAccessKeyId, newAccountId, newPolicyId, newRoleId, newSecretAccessKey, newSessionKeyId, newSessionToken, newUserId } from './ids.js';
import { parsePolicy, PolicyValidationError, type PolicyDocument, type PolicyKind } from './policy.js';

// Accounts, IAM users and roles, policies and STS sessions: the rules of IAM over the
// identity store, with no HTTP in sight. Every operation takes the authenticated caller
// and authorizes it with the one policy evaluator before touching anything.

export interface Caller {
  principal: PrincipalContext;
  accountId: string;
  owner: PolicyOwner;
  /** Set for IAM users. */
  userName?: string;
  accessKeyId: string;
  /** The session policy passed to AssumeRole, which narrows a role session further. */
  sessionPolicy: PolicyDocument | null;
}

/** Facts about the request that policies may test. */
export interface RequestFacts {
  sourceIp?: string;
  secureTransport?: boolean;
}

export interface Page<T> {
  items: T[];
  /** Present when there are more: pass back as `marker`. */
  marker?: string;
}

export interface PageRequest {
  marker?: string;
  maxItems?: number;
  pathPrefix?: string;
}

export interface NewCredentials {
  accountId: string;
  userName: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  assumedRoleId: string;
  arn: string;
}

export interface IdentityServiceOptions {
  store: IdentityStore;
  /** Region of accounts created without one. */
  defaultRegion: string;
  now?: () => number;
  /** Credentials and parsed identity policies, kept between requests (auth-cache.ts). */
  cache?: AuthCache;
}

const NAME = /^[\w+=,.@-]+$/;
const PATH = /^\/([\x21-\x7E]*\/)?$/;
export const ADMIN_POLICY_ARN = 'arn:aws:iam::aws:policy/AdministratorAccess';
/** The bootstrap account manages the others, as an AWS Organizations management account. */
const MANAGEMENT_ACCOUNT_NAME = 'management';
export const MEMBER_ACCESS_ROLE = 'OrganizationAccountAccessRole';
/** IAM actions of Berth's own operator endpoints (docs/identity.md). */
export const OPERATOR_ACTIONS = {
  gc: 'berth:RunGarbageCollection',
  lifecycle: 'berth:RunLifecyclePolicies',
  listJobs: 'berth:ListJobs',
  retryJob: 'berth:RetryJob',
  // Scanning (src/modules/scanning).
  vulndbImport: 'berth:ImportVulnerabilityDatabase',
  vulndbStatus: 'berth:DescribeVulnerabilityDatabase',
  sbom: 'berth:GetImageSbom',
} as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[keyof typeof OPERATOR_ACTIONS];

function validation(field: string, value: string, constraint: string): IamError {
  return new IamError('ValidationError', `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`);
}

function checkName(field: string, value: string | undefined, max: number, min = 1): string {
  if (value === undefined || value === '') throw new IamError('ValidationError', `The request must contain the parameter ${field}.`);
  if (value.length < min || value.length > max) throw validation(field, value, `Member must have length between ${min} and ${max}`);
  if (!NAME.test(value)) throw validation(field, value, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
  return value;
}

function checkPath(value: string | undefined): string {
  if (value === undefined || value === '') return '/';
  if (value.length > 512 || !PATH.test(value)) throw validation('path', value, 'Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)');
  return value;
}

function checkPathPrefix(value: string): string {
  if (value.length > 512 || !/^\/[\x21-\x7E]*$/.test(value)) throw validation('pathPrefix', value, 'Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*');
  return value;
}

function mapStoreError(err: unknown): never {
  if (err instanceof IdentityStoreError) throw new IamError(err.code, err.message);
  throw err;
}

export class IdentityService {
  readonly store: IdentityStore;
  private readonly defaultRegion: string;
  private readonly now: () => number;
  readonly cache: AuthCache;
  /** One Caller per cached credential: a session's policy is parsed once, not per request. */
  private readonly callers = new WeakMap<StoredCredential, Caller>();

  constructor(options: IdentityServiceOptions) {
    this.store = options.store;
    this.defaultRegion = options.defaultRegion;
    this.now = options.now ?? Date.now;
    this.cache = options.cache ?? NO_AUTH_CACHE;
  }

  // ---- authentication support ----

  /** The credential of an access key (cached; one that does not exist is asked again each time). */
  findCredential(accessKeyId: string): Promise<StoredCredential | null> {
    return this.cache.get('credential', accessKeyId, () => this.store.findCredential(accessKeyId), (found) => found !== null);
  }

  callerFor(credential: StoredCredential): Caller {
    let caller = this.callers.get(credential);
    if (!caller) this.callers.set(credential, (caller = this.makeCaller(credential)));
    return caller;
  }

  private makeCaller(credential: StoredCredential): Caller {
    if (credential.kind === 'user') {
      const u = credential.user;
      const arn = userArn(u.accountId, u.name, u.path);
      return {
        principal: { kind: 'user', account: u.accountId, arn, principalArn: arn, userId: u.userId, userName: u.name },
        accountId: u.accountId,
        owner: { kind: 'user', id: u.userId },
        userName: u.name,
        accessKeyId: credential.accessKeyId,
        sessionPolicy: null,
      };
    }
    const { role, session } = credential;
    return {
      principal: {
        kind: 'assumed-role',
        account: role.accountId,
        arn: assumedRoleArn(role.accountId, role.name, session.sessionName),
        principalArn: roleArn(role.accountId, role.name, role.path),
        userId: `${role.roleId}:${session.sessionName}`,
      },
      accountId: role.accountId,
      owner: { kind: 'role', id: role.roleId },
      accessKeyId: credential.accessKeyId,
      sessionPolicy: session.sessionPolicy ? parsePolicy(session.sessionPolicy, 'identity') : null,
    };
  }

  /** The caller's identity policies: inline, customer-managed and AWS-managed attached. */
  identityPolicies(owner: PolicyOwner): Promise<PolicyDocument[]> {
    return this.cache.get('identityPolicies', `${owner.kind}:${owner.id}`, () => this.loadIdentityPolicies(owner));
  }

  private async loadIdentityPolicies(owner: PolicyOwner): Promise<PolicyDocument[]> {
    const { inline, managed, attachedArns } = await this.store.policyDocumentsFor(owner);
    const texts = [...inline, ...managed, ...attachedArns.map((arn) => awsManagedPolicy(arn)?.document).filter((d): d is string => !!d)];
    const out: PolicyDocument[] = [];
    for (const text of texts) {
      try {
        out.push(parsePolicy(text, 'identity'));
      } catch {
        // Stored documents were validated on the way in; one that no longer parses grants nothing.
      }
    }
    return out;
  }

  /** Evaluates one action for the caller on a resource; resourcePolicies are the resource's own. */
  async authorize(caller: Caller, action: string, resource: string, resourceAccount: string, facts: RequestFacts, resourcePolicies: (PolicyDocument | null | undefined)[] = [], extraContext: Record<string, string | string[]> = {}): Promise<Decision> {
    const identityPolicies = await this.identityPolicies(caller.owner);
    const request = {
      principal: caller.principal,
      action,
      resource,
      resourceAccount,
      identityPolicies,
      resourcePolicies,
      context: { 'aws:SourceIp': facts.sourceIp, 'aws:SecureTransport': facts.secureTransport, ...extraContext },
      now: this.now(),
    };
    const decision = authorize(request);
    if (!decision.allowed || !caller.sessionPolicy) return decision;
    // A session policy can only narrow: it must allow as well.
    const narrowed = authorize({ ...request, identityPolicies: [caller.sessionPolicy], resourcePolicies: [] });
    return narrowed.allowed || narrowed.reason === 'cross-account-resource-policy-missing' ? decision : narrowed;
  }

  async require(caller: Caller, action: string, resource: string, facts: RequestFacts, resourceAccount = caller.accountId, resourcePolicies: (PolicyDocument | null | undefined)[] = []): Promise<void> {
    const decision = await this.authorize(caller, action, resource, resourceAccount, facts, resourcePolicies);
    if (decision.allowed) return;
    const why =
      decision.reason === 'explicit-deny'
        ? `with an explicit deny in a ${resourcePolicies.length ? 'resource-based or ' : ''}identity-based policy`
        : resourcePolicies.length
          ? 'because no resource-based policy allows the action'
          : `because no identity-based policy allows the ${action} action`;
    throw new IamError('AccessDenied', `User: ${caller.principal.arn} is not authorized to perform: ${action} on resource: ${resource} ${why}`);
  }

  // ---- accounts and bootstrap ----

  async createAccount(id: string, region = this.defaultRegion, name = id): Promise<AccountRecord> {
    if (!/^\d{12}$/.test(id)) throw validation('accountId', id, 'Member must be 12 digits');
    return this.store.createAccount({ id, region, name, createdAt: this.now() }).catch(mapStoreError);
  }

  /**
   * On an empty store: creates the account, an `admin` user with AdministratorAccess and
   * an access key for it (the given one, or a fresh random one). Returns null when any
   * account already exists (another node, or an earlier start, got there first).
   */
  async bootstrap(options: { accountId: string; region?: string; accessKeyId?: string; secretAccessKey?: string; userName?: string }): Promise<NewCredentials | null> {
    if ((await this.store.listAccounts()).length > 0) return null;
    try {
      await this.createAccount(options.accountId, options.region ?? this.defaultRegion, MANAGEMENT_ACCOUNT_NAME);
    } catch (err) {
      if (err instanceof IamError && err.code === 'EntityAlreadyExists') return null;
      throw err;
    }
    const userName = options.userName ?? 'admin';
    const user = await this.store.createUser({ accountId: options.accountId, userId: newUserId(), name: userName, path: '/', createdAt: this.now() });
    await this.store.attachPolicy({ kind: 'user', id: user.userId }, ADMIN_POLICY_ARN, this.now());
    const accessKeyId = options.accessKeyId ?? newAccessKeyId();
    const secretAccessKey = options.secretAccessKey ?? newSecretAccessKey();
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) throw new Error('the bootstrap access key id must be 16-128 upper-case letters and digits');
    if (secretAccessKey.length < 16) throw new Error('the bootstrap secret access key must be at least 16 characters');
    await this.store.createAccessKey(options.accountId, userName, { accessKeyId, secret: secretAccessKey, createdAt: this.now() });
    return { accountId: options.accountId, userName, accessKeyId, secretAccessKey };
  }

  /**
   * Creates a further account, the way AWS Organizations does: the new account gets a role
   * (OrganizationAccountAccessRole by default) with AdministratorAccess that principals of
   * the management account may assume. Only the management account may do this.
   */
  async createMemberAccount(caller: Caller, input: { accountName?: string; email?: string; roleName?: string }, facts: RequestFacts): Promise<{ account: AccountRecord; roleArn: string }> {
    const management = (await this.store.listAccounts()).find((a) => a.name === MANAGEMENT_ACCOUNT_NAME);
    if (!management || management.id !== caller.accountId) throw new IamError('AccessDenied', 'Only principals of the management account may create accounts.');
    const name = input.accountName ?? '';
    if (name.length < 1 || name.length > 50 || !/^[\x20-\x7E]+$/.test(name)) throw validation('accountName', name, 'Member must have length between 1 and 50');
    if (!input.email || !/^[^\s@]+@[^\s@]+$/.test(input.email)) throw validation('email', input.email ?? '', 'Member must be an email address');
    const roleName = checkName('roleName', input.roleName ?? MEMBER_ACCESS_ROLE, 64);
    await this.require(caller, 'organizations:CreateAccount', '*', facts);
    let account: AccountRecord | null = null;
    for (let attempt = 0; !account && attempt < 5; attempt++) {
      try {
        account = await this.store.createAccount({ id: newAccountId(), region: this.defaultRegion, name, createdAt: this.now() });
      } catch (err) {
        if (!(err instanceof IdentityStoreError && err.code === 'EntityAlreadyExists')) throw err;
      }
    }
    if (!account) throw new IamError('ServiceFailure', 'could not allocate an account id');
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: accountRootArn(management.id) }, Action: 'sts:AssumeRole' }] });
    const role = await this.store.createRole({ accountId: account.id, roleId: newRoleId(), name: roleName, path: '/', trustPolicy: trust, description: 'Administrator access from the management account', maxSessionDuration: 3600, createdAt: this.now() });
    await this.store.attachPolicy({ kind: 'role', id: role.roleId }, ADMIN_POLICY_ARN, this.now());
    return { account, roleArn: roleArn(account.id, roleName) };
  }

  async listMemberAccounts(caller: Caller, facts: RequestFacts): Promise<AccountRecord[]> {
    const accounts = await this.store.listAccounts();
    const management = accounts.find((a) => a.name === MANAGEMENT_ACCOUNT_NAME);
    if (!management || management.id !== caller.accountId) throw new IamError('AccessDenied', 'Only principals of the management account may list accounts.');
    await this.require(caller, 'organizations:ListAccounts', '*', facts);
    return accounts;
  }

  // ---- operator actions ----

  /**
   * Server-wide operator tasks (`berth gc`, `berth lifecycle run`) touch every account's
   * data, so, as with account management, only principals of the management account may be
   * allowed them, and only by an identity policy allowing the action on "*".
   */
  async requireOperator(caller: Caller, action: OperatorAction, facts: RequestFacts): Promise<void> {
    const management = (await this.store.listAccounts()).find((a) => a.name === MANAGEMENT_ACCOUNT_NAME);
    if (!management || management.id !== caller.accountId) {
      throw new IamError('AccessDenied', `User: ${caller.principal.arn} is not authorized to perform: ${action} because operator actions are open to principals of the management account only`);
    }
    await this.require(caller, action, '*', facts);
  }

  // ---- users ----

  async createUser(caller: Caller, input: { userName?: string; path?: string }, facts: RequestFacts): Promise<UserRecord> {
    const name = checkName('userName', input.userName, 64);
    const path = checkPath(input.path);
    await this.require(caller, 'iam:CreateUser', userArn(caller.accountId, name, path), facts);
    return this.store.createUser({ accountId: caller.accountId, userId: newUserId(), name, path, createdAt: this.now() }).catch(mapStoreError);
  }

  /** Without a name: the calling user itself (as IAM does). */
  async getUser(caller: Caller, userName: string | undefined, facts: RequestFacts): Promise<UserRecord> {
    const name = userName ?? caller.userName;
    if (!name) throw new IamError('ValidationError', 'Must specify userName when calling with non-User credentials');
    const user = await this.userOrThrow(caller.accountId, checkName('userName', name, 128));
    await this.require(caller, 'iam:GetUser', userArn(caller.accountId, user.name, user.path), facts);
    return user;
  }

  async listUsers(caller: Caller, page: PageRequest, facts: RequestFacts): Promise<Page<UserRecord>> {
    await this.require(caller, 'iam:ListUsers', userArn(caller.accountId, '', page.pathPrefix ?? '/'), facts);
    return this.paged(page, (p) => this.store.listUsers(caller.accountId, p), (u) => u.name);
  }

  async deleteUser(caller: Caller, userName: string | undefined, facts: RequestFacts): Promise<void> {
    const user = await this.userOrThrow(caller.accountId, checkName('userName', userName, 128));
    await this.require(caller, 'iam:DeleteUser', userArn(caller.accountId, user.name, user.path), facts);
    await this.store.deleteUser(caller.accountId, user.name).catch(mapStoreError);
  }

  private async userOrThrow(accountId: string, name: string): Promise<UserRecord> {
    const user = await this.store.getUser(accountId, name);
    if (!user) throw new IamError('NoSuchEntity', `The user with name ${name} cannot be found.`);
    return user;
  }

  // ---- roles ----

  async createRole(caller: Caller, input: { roleName?: string; path?: string; assumeRolePolicyDocument?: string; description?: string; maxSessionDuration?: number }, facts: RequestFacts): Promise<RoleRecord> {
    const name = checkName('roleName', input.roleName, 64);
    const path = checkPath(input.path);
    const trust = this.checkDocument(input.assumeRolePolicyDocument, 'trust', 'assumeRolePolicyDocument');
    const maxSessionDuration = input.maxSessionDuration ?? 3600;
    if (!Number.isInteger(maxSessionDuration) || maxSessionDuration < 3600 || maxSessionDuration > 43200) throw validation('maxSessionDuration', String(input.maxSessionDuration), 'Member must have value between 3600 and 43200');
    if (input.description !== undefined && input.description.length > 1000) throw validation('description', input.description.slice(0, 20), 'Member must have length less than or equal to 1000');
    await this.require(caller, 'iam:CreateRole', roleArn(caller.accountId, name, path), facts);
    return this.store
      .createRole({ accountId: caller.accountId, roleId: newRoleId(), name, path, trustPolicy: trust, description: input.description ?? null, maxSessionDuration, createdAt: this.now() })
      .catch(mapStoreError);
  }

  async getRole(caller: Caller, roleName: string | undefined, facts: RequestFacts): Promise<RoleRecord> {
    const role = await this.roleOrThrow(caller.accountId, checkName('roleName', roleName, 64));
    await this.require(caller, 'iam:GetRole', roleArn(caller.accountId, role.name, role.path), facts);
    return role;
  }

  async listRoles(caller: Caller, page: PageRequest, facts: RequestFacts): Promise<Page<RoleRecord>> {
    await this.require(caller, 'iam:ListRoles', roleArn(caller.accountId, '', page.pathPrefix ?? '/'), facts);
    return this.paged(page, (p) => this.store.listRoles(caller.accountId, p), (r) => r.name);
  }

  async updateAssumeRolePolicy(caller: Caller, roleName: string | undefined, document: string | undefined, facts: RequestFacts): Promise<void> {
    const role = await this.roleOrThrow(caller.accountId, checkName('roleName', roleName, 64));
    const trust = this.checkDocument(document, 'trust', 'policyDocument');
    await this.require(caller, 'iam:UpdateAssumeRolePolicy', roleArn(caller.accountId, role.name, role.path), facts);
    await this.store.updateTrustPolicy(caller.accountId, role.name, trust).catch(mapStoreError);
  }

  async deleteRole(caller: Caller, roleName: string | undefined, facts: RequestFacts): Promise<void> {
    const role = await this.roleOrThrow(caller.accountId, checkName('roleName', roleName, 64));
    await this.require(caller, 'iam:DeleteRole', roleArn(caller.accountId, role.name, role.path), facts);
    await this.store.deleteRole(caller.accountId, role.name).catch(mapStoreError);
  }

  private async roleOrThrow(accountId: string, name: string): Promise<RoleRecord> {
    const role = await this.store.getRole(accountId, name);
    if (!role) throw new IamError('NoSuchEntity', `The role with name ${name} cannot be found.`);
    return role;
  }

  // ---- access keys ----

  private async keyOwner(caller: Caller, userName: string | undefined): Promise<UserRecord> {
    const name = userName ?? caller.userName;
    if (!name) throw new IamError('ValidationError', 'Must specify userName when calling with non-User credentials');
    return this.userOrThrow(caller.accountId, checkName('userName', name, 128));
  }

  async createAccessKey(caller: Caller, userName: string | undefined, facts: RequestFacts): Promise<AccessKeyRecord & { secretAccessKey: string }> {
    const user = await this.keyOwner(caller, userName);
    await this.require(caller, 'iam:CreateAccessKey', userArn(caller.accountId, user.name, user.path), facts);
    const existing = await this.store.listAccessKeys(caller.accountId, user.name);
    if (existing.length >= 2) throw new IamError('LimitExceeded', 'Cannot exceed quota for AccessKeysPerUser: 2');
    const secretAccessKey = newSecretAccessKey();
    const key = await this.store.createAccessKey(caller.accountId, user.name, { accessKeyId: newAccessKeyId(), secret: secretAccessKey, createdAt: this.now() }).catch(mapStoreError);
    return { ...key, secretAccessKey };
  }

  async listAccessKeys(caller: Caller, userName: string | undefined, facts: RequestFacts): Promise<AccessKeyRecord[]> {
    const user = await this.keyOwner(caller, userName);
    await this.require(caller, 'iam:ListAccessKeys', userArn(caller.accountId, user.name, user.path), facts);
    return this.store.listAccessKeys(caller.accountId, user.name).catch(mapStoreError);
  }

  async updateAccessKey(caller: Caller, userName: string | undefined, accessKeyId: string | undefined, status: string | undefined, facts: RequestFacts): Promise<void> {
    const user = await this.keyOwner(caller, userName);
    if (!accessKeyId) throw new IamError('ValidationError', 'The request must contain the parameter AccessKeyId.');
    if (status !== 'Active' && status !== 'Inactive') throw validation('status', String(status), 'Member must satisfy enum value set: [Active, Inactive]');
    await this.require(caller, 'iam:UpdateAccessKey', userArn(caller.accountId, user.name, user.path), facts);
    await this.store.updateAccessKey(caller.accountId, user.name, accessKeyId, status).catch(mapStoreError);
  }

  async deleteAccessKey(caller: Caller, userName: string | undefined, accessKeyId: string | undefined, facts: RequestFacts): Promise<void> {
    const user = await this.keyOwner(caller, userName);
    if (!accessKeyId) throw new IamError('ValidationError', 'The request must contain the parameter AccessKeyId.');
    await this.require(caller, 'iam:DeleteAccessKey', userArn(caller.accountId, user.name, user.path), facts);
    await this.store.deleteAccessKey(caller.accountId, user.name, accessKeyId).catch(mapStoreError);
  }

  // ---- inline policies (users and roles) ----

  private async entity(caller: Caller, kind: 'user' | 'role', name: string | undefined): Promise<{ owner: PolicyOwner; arn: string; name: string }> {
    if (kind === 'user') {
      const u = await this.userOrThrow(caller.accountId, checkName('userName', name, 128));
      return { owner: { kind, id: u.userId }, arn: userArn(caller.accountId, u.name, u.path), name: u.name };
    }
    const r = await this.roleOrThrow(caller.accountId, checkName('roleName', name, 64));
    return { owner: { kind, id: r.roleId }, arn: roleArn(caller.accountId, r.name, r.path), name: r.name };
  }

  private opName(kind: 'user' | 'role', verb: string): string {
    return `iam:${verb}${kind === 'user' ? 'User' : 'Role'}Policy`;
  }

  async putInlinePolicy(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, policyName: string | undefined, document: string | undefined, facts: RequestFacts): Promise<void> {
    const e = await this.entity(caller, kind, entityName);
    const name = checkName('policyName', policyName, 128);
    const text = this.checkDocument(document, 'identity', 'policyDocument');
    await this.require(caller, this.opName(kind, 'Put'), e.arn, facts);
    await this.store.putInlinePolicy(e.owner, name, text, this.now());
  }

  async getInlinePolicy(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, policyName: string | undefined, facts: RequestFacts): Promise<{ entityName: string; policyName: string; document: string }> {
    const e = await this.entity(caller, kind, entityName);
    const name = checkName('policyName', policyName, 128);
    await this.require(caller, this.opName(kind, 'Get'), e.arn, facts);
    const document = await this.store.getInlinePolicy(e.owner, name);
    if (document === null) throw new IamError('NoSuchEntity', `The ${kind} policy with name ${name} cannot be found.`);
    return { entityName: e.name, policyName: name, document };
  }

  async listInlinePolicies(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, facts: RequestFacts): Promise<string[]> {
    const e = await this.entity(caller, kind, entityName);
    await this.require(caller, `iam:List${kind === 'user' ? 'User' : 'Role'}Policies`, e.arn, facts);
    return this.store.listInlinePolicies(e.owner);
  }

  async deleteInlinePolicy(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, policyName: string | undefined, facts: RequestFacts): Promise<void> {
    const e = await this.entity(caller, kind, entityName);
    const name = checkName('policyName', policyName, 128);
    await this.require(caller, this.opName(kind, 'Delete'), e.arn, facts);
    await this.store.deleteInlinePolicy(e.owner, name).catch(mapStoreError);
  }

  // ---- managed policies ----

  async createPolicy(caller: Caller, input: { policyName?: string; path?: string; policyDocument?: string; description?: string }, facts: RequestFacts): Promise<ManagedPolicyRecord> {
    const name = checkName('policyName', input.policyName, 128);
    const path = checkPath(input.path);
    const text = this.checkDocument(input.policyDocument, 'identity', 'policyDocument', 6144);
    await this.require(caller, 'iam:CreatePolicy', managedPolicyArn(caller.accountId, name, path), facts);
    const now = this.now();
    return this.store
      .createManagedPolicy({ accountId: caller.accountId, policyId: newPolicyId(), name, path, document: text, description: input.description ?? null, createdAt: now, updatedAt: now })
      .catch(mapStoreError);
  }

  /** A customer-managed policy of the caller's account or a built-in AWS-managed one. */
  async getPolicy(caller: Caller, arn: string | undefined, facts: RequestFacts): Promise<ManagedPolicyRecord> {
    const policy = await this.policyByArn(caller, arn);
    await this.require(caller, 'iam:GetPolicy', arn!, facts);
    return policy;
  }

  async deletePolicy(caller: Caller, arn: string | undefined, facts: RequestFacts): Promise<void> {
    const policy = await this.policyByArn(caller, arn);
    if (policy.accountId === 'aws') throw new IamError('AccessDenied', 'AWS-managed policies cannot be deleted.');
    await this.require(caller, 'iam:DeletePolicy', arn!, facts);
    await this.store.deleteManagedPolicy(caller.accountId, policy.name, arn!).catch(mapStoreError);
  }

  async listPolicies(caller: Caller, scope: string | undefined, onlyAttached: boolean, page: PageRequest, facts: RequestFacts): Promise<Page<ManagedPolicyRecord>> {
    await this.require(caller, 'iam:ListPolicies', managedPolicyArn(caller.accountId, '', page.pathPrefix ?? '/'), facts);
    const wantAws = scope === undefined || scope === 'All' || scope === 'AWS';
    const wantLocal = scope === undefined || scope === 'All' || scope === 'Local';
    if (scope !== undefined && !['All', 'AWS', 'Local'].includes(scope)) throw validation('scope', scope, 'Member must satisfy enum value set: [All, AWS, Local]');
    const all: ManagedPolicyRecord[] = [];
    if (wantAws) for (const p of awsManagedPolicies) all.push(await this.awsRecord(p.arn));
    if (wantLocal) all.push(...(await this.store.listManagedPolicies(caller.accountId, { limit: 10_000, ...(page.pathPrefix ? { pathPrefix: page.pathPrefix } : {}) })));
    const filtered = all.filter((p) => (!onlyAttached || p.attachmentCount > 0) && (!page.pathPrefix || p.path.startsWith(page.pathPrefix)));
    const start = page.marker ? Number(Buffer.from(page.marker, 'base64url').toString()) || 0 : 0;
    const max = page.maxItems ?? 100;
    const items = filtered.slice(start, start + max);
    return start + max < filtered.length ? { items, marker: Buffer.from(String(start + max)).toString('base64url') } : { items };
  }

  async getPolicyVersion(caller: Caller, arn: string | undefined, versionId: string | undefined, facts: RequestFacts): Promise<{ document: string; versionId: string; createDate: number }> {
    const policy = await this.policyByArn(caller, arn);
    await this.require(caller, 'iam:GetPolicyVersion', arn!, facts);
    if (versionId !== 'v1') throw new IamError('NoSuchEntity', `Policy ${arn} version ${versionId} does not exist or is not attachable.`);
    return { document: policy.document, versionId: 'v1', createDate: policy.createdAt };
  }

  async attachPolicy(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, arn: string | undefined, facts: RequestFacts): Promise<void> {
    const e = await this.entity(caller, kind, entityName);
    await this.policyByArn(caller, arn);
    await this.require(caller, `iam:Attach${kind === 'user' ? 'User' : 'Role'}Policy`, e.arn, facts);
    const attached = await this.store.listAttachedPolicies(e.owner);
    if (!attached.includes(arn!) && attached.length >= 20) throw new IamError('LimitExceeded', `Cannot exceed quota for PoliciesPerUser: 20`);
    await this.store.attachPolicy(e.owner, arn!, this.now());
  }

  async detachPolicy(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, arn: string | undefined, facts: RequestFacts): Promise<void> {
    const e = await this.entity(caller, kind, entityName);
    if (!arn) throw new IamError('ValidationError', 'The request must contain the parameter PolicyArn.');
    await this.require(caller, `iam:Detach${kind === 'user' ? 'User' : 'Role'}Policy`, e.arn, facts);
    await this.store.detachPolicy(e.owner, arn).catch(mapStoreError);
  }

  async listAttachedPolicies(caller: Caller, kind: 'user' | 'role', entityName: string | undefined, facts: RequestFacts): Promise<{ policyName: string; policyArn: string }[]> {
    const e = await this.entity(caller, kind, entityName);
    await this.require(caller, `iam:ListAttached${kind === 'user' ? 'User' : 'Role'}Policies`, e.arn, facts);
    const arns = await this.store.listAttachedPolicies(e.owner);
    return arns.map((a) => ({ policyArn: a, policyName: a.slice(a.lastIndexOf('/') + 1) }));
  }

  private async policyByArn(caller: Caller, arn: string | undefined): Promise<ManagedPolicyRecord> {
    if (!arn) throw new IamError('ValidationError', 'The request must contain the parameter PolicyArn.');
    const builtIn = awsManagedPolicy(arn);
    if (builtIn) return this.awsRecord(arn);
    const parsed = parseIamArn(arn, 'policy');
    if (!parsed) throw new IamError('InvalidInput', `ARN ${arn} is not valid.`);
    const policy = parsed.account === caller.accountId ? await this.store.getManagedPolicy(caller.accountId, parsed.name) : null;
    if (!policy || policy.path !== parsed.path) throw new IamError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`);
    return policy;
  }

  private async awsRecord(arn: string): Promise<ManagedPolicyRecord> {
    const p = awsManagedPolicy(arn)!;
    return { accountId: 'aws', policyId: p.policyId, name: p.name, path: '/', document: p.document, description: p.description, createdAt: Date.UTC(2015, 1, 6, 18, 39, 46), updatedAt: Date.UTC(2015, 1, 6, 18, 39, 46), attachmentCount: 0 };
  }

  // ---- STS ----

  async assumeRole(caller: Caller, input: { roleArn?: string; roleSessionName?: string; durationSeconds?: number; policy?: string }, facts: RequestFacts): Promise<TemporaryCredentials> {
    if (!input.roleArn) throw new IamError('ValidationError', "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
    const sessionName = checkName('roleSessionName', input.roleSessionName, 64, 2);
    const parsed = parseIamArn(input.roleArn, 'role');
    if (!parsed || parsed.account === 'aws') throw validation('roleArn', input.roleArn, 'Member must be a role ARN');
    const role = await this.store.getRole(parsed.account, parsed.name);
    const deny = () => new IamError('AccessDenied', `User: ${caller.principal.arn} is not authorized to perform: sts:AssumeRole on resource: ${input.roleArn}`);
    if (!role || role.path !== parsed.path) throw deny();
    const chained = caller.principal.kind === 'assumed-role';
    const duration = input.durationSeconds ?? 3600;
    const max = chained ? 3600 : role.maxSessionDuration;
    if (!Number.isInteger(duration) || duration < 900 || duration > max) {
      throw new IamError('ValidationError', `The requested DurationSeconds exceeds the MaxSessionDuration set for this role.`.replace('exceeds', duration < 900 ? 'is below the minimum of 900 seconds for' : 'exceeds'));
    }
    let sessionPolicy: string | null = null;
    if (input.policy !== undefined) sessionPolicy = this.checkDocument(input.policy, 'identity', 'policy', 2048);
    let trust: PolicyDocument;
    try {
      trust = parsePolicy(role.trustPolicy, 'trust');
    } catch {
      throw deny();
    }
    const decision = await this.authorize(caller, 'sts:AssumeRole', roleArn(role.accountId, role.name, role.path), role.accountId, facts, [trust]);
    if (!decision.allowed) throw deny();

    const accessKeyId = newSessionKeyId();
    const secretAccessKey = newSecretAccessKey();
    const sessionToken = newSessionToken();
    const now = this.now();
    const expiresAt = Math.floor(now / 1000) * 1000 + duration * 1000;
    await this.store.createSession(
      { accessKeyId, accountId: role.accountId, roleId: role.roleId, sessionName, sourceArn: caller.principal.arn ?? '', sessionPolicy, expiresAt, createdAt: now },
      secretAccessKey,
      createHash('sha256').update(sessionToken).digest('hex'),
    );
    return { accessKeyId, secretAccessKey, sessionToken, expiration: new Date(expiresAt), assumedRoleId: `${role.roleId}:${sessionName}`, arn: assumedRoleArn(role.accountId, role.name, sessionName) };
  }

  // ---- helpers ----

  private checkDocument(text: string | undefined, kind: PolicyKind, field: string, maxLength = 10_240): string {
    if (text === undefined || text === '') throw new IamError('ValidationError', `The request must contain the parameter ${field}.`);
    try {
      parsePolicy(text, kind, { maxLength });
    } catch (err) {
      if (err instanceof PolicyValidationError) throw new IamError('MalformedPolicyDocument', err.message);
      throw err;
    }
    return text;
  }

  private async paged<T>(page: PageRequest, fetch: (p: { limit: number; after?: string; pathPrefix?: string }) => Promise<T[]>, key: (t: T) => string): Promise<Page<T>> {
    const max = page.maxItems ?? 100;
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw validation('maxItems', String(page.maxItems), 'Member must have value between 1 and 1000');
    let after: string | undefined;
    if (page.marker) {
      after = Buffer.from(page.marker, 'base64url').toString('utf8');
      if (!after) throw new IamError('ValidationError', 'Invalid Marker.');
    }
    const rows = await fetch({ limit: max + 1, ...(after !== undefined ? { after } : {}), ...(page.pathPrefix ? { pathPrefix: checkPathPrefix(page.pathPrefix) } : {}) });
    if (rows.length <= max) return { items: rows };
    const items = rows.slice(0, max);
    return { items, marker: Buffer.from(key(items[max - 1]!).toLowerCase()).toString('base64url') };
  }
}

export { accountRootArn };
