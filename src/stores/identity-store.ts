// Accounts and IAM entities. Kept apart from MetadataStore (repositories and images) but
// living in the same database. Every method is one atomic operation.

export interface AccountRecord {
  id: string;
  region: string;
  name: string;
  createdAt: number;
}

export interface UserRecord {
  accountId: string;
  userId: string;
  name: string;
  path: string;
  createdAt: number;
}

export interface RoleRecord {
  accountId: string;
  roleId: string;
  name: string;
  path: string;
  trustPolicy: string;
  description: string | null;
  maxSessionDuration: number;
  createdAt: number;
}

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface AccessKeyRecord {
  accessKeyId: string;
  accountId: string;
  userName: string;
  status: AccessKeyStatus;
  createdAt: number;
}

export interface ManagedPolicyRecord {
  accountId: string;
  policyId: string;
  name: string;
  path: string;
  document: string;
  description: string | null;
  createdAt: number;
  updatedAt: number;
  attachmentCount: number;
}

export interface SessionRecord {
  accessKeyId: string;
  accountId: string;
  roleId: string;
  sessionName: string;
  /** The caller that assumed the role (for audit). */
  sourceArn: string;
  sessionPolicy: string | null;
  expiresAt: number;
  createdAt: number;
}

/** A user or a role, by its unique id. */
export interface PolicyOwner {
  kind: 'user' | 'role';
  id: string;
}

/** What an access key id resolves to, secret included, for signature verification. */
export type StoredCredential =
  | { kind: 'user'; accessKeyId: string; secret: string; status: AccessKeyStatus; user: UserRecord }
  | { kind: 'session'; accessKeyId: string; secret: string; tokenHash: string; session: SessionRecord; role: RoleRecord };

export type IdentityErrorCode = 'NoSuchEntity' | 'EntityAlreadyExists' | 'DeleteConflict';

export class IdentityStoreError extends Error {
  constructor(
    readonly code: IdentityErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityStoreError';
  }
}

/** Encrypts secrets at rest. The store never sees the key, only sealed text. */
export interface SecretCipher {
  seal(plain: string): string;
  open(sealed: string): string;
}

export interface ListPage {
  limit: number;
  /** Exclusive lower bound: the name key (lower-cased name) of the last item seen. */
  after?: string;
  pathPrefix?: string;
}

export interface IdentityStore {
  createAccount(account: AccountRecord): Promise<AccountRecord>;
  getAccount(id: string): Promise<AccountRecord | null>;
  listAccounts(): Promise<AccountRecord[]>;

  createUser(user: UserRecord): Promise<UserRecord>;
  getUser(accountId: string, name: string): Promise<UserRecord | null>;
  listUsers(accountId: string, page: ListPage): Promise<UserRecord[]>;
  /** Refuses (DeleteConflict) while the user has access keys or policies, as IAM does. */
  deleteUser(accountId: string, name: string): Promise<void>;

  createRole(role: RoleRecord): Promise<RoleRecord>;
  getRole(accountId: string, name: string): Promise<RoleRecord | null>;
  listRoles(accountId: string, page: ListPage): Promise<RoleRecord[]>;
  updateTrustPolicy(accountId: string, name: string, document: string): Promise<void>;
  deleteRole(accountId: string, name: string): Promise<void>;

  createAccessKey(accountId: string, userName: string, key: { accessKeyId: string; secret: string; createdAt: number }): Promise<AccessKeyRecord>;
  listAccessKeys(accountId: string, userName: string): Promise<AccessKeyRecord[]>;
  updateAccessKey(accountId: string, userName: string, accessKeyId: string, status: AccessKeyStatus): Promise<void>;
  deleteAccessKey(accountId: string, userName: string, accessKeyId: string): Promise<void>;

  putInlinePolicy(owner: PolicyOwner, name: string, document: string, now: number): Promise<void>;
  getInlinePolicy(owner: PolicyOwner, name: string): Promise<string | null>;
  listInlinePolicies(owner: PolicyOwner): Promise<string[]>;
  deleteInlinePolicy(owner: PolicyOwner, name: string): Promise<void>;

  createManagedPolicy(policy: Omit<ManagedPolicyRecord, 'attachmentCount'>): Promise<ManagedPolicyRecord>;
  getManagedPolicy(accountId: string, name: string): Promise<ManagedPolicyRecord | null>;
  listManagedPolicies(accountId: string, page: ListPage): Promise<ManagedPolicyRecord[]>;
  /** Refuses (DeleteConflict) while the policy is attached. */
  deleteManagedPolicy(accountId: string, name: string, arn: string): Promise<void>;
  attachPolicy(owner: PolicyOwner, policyArn: string, now: number): Promise<void>;
  detachPolicy(owner: PolicyOwner, policyArn: string): Promise<void>;
  listAttachedPolicies(owner: PolicyOwner): Promise<string[]>;

  createSession(session: SessionRecord, secret: string, tokenHash: string): Promise<void>;
  /** Removes sessions that expired before `now`; returns how many. */
  deleteExpiredSessions(now: number): Promise<number>;

  /** Resolves an access key id (long-term or session) with its secret. */
  findCredential(accessKeyId: string): Promise<StoredCredential | null>;
  /** Inline documents plus the documents of attached customer-managed policies. */
  policyDocumentsFor(owner: PolicyOwner): Promise<{ inline: string[]; attachedArns: string[]; managed: string[] }>;
}
