import { randomBytes, randomUUID } from 'node:crypto';
import { authorize } from '../../domain/iam/evaluate.js';
import type { Caller, IdentityService, RequestFacts } from '../../domain/iam/identity-service.js';
import { parsePolicy, PolicyValidationError, type PolicyDocument } from '../../domain/iam/policy.js';
import { openWithMaterial, parseCiphertext, sealWithMaterial } from './ciphertext.js';
import { KmsError } from './errors.js';
import type { RootOfTrust } from './root-of-trust.js';
import type { AliasRow, KeyRow, MaterialRow, SqlKeyStore } from './store.js';

// Berth's own KMS: symmetric keys (SYMMETRIC_DEFAULT, AES-256-GCM) per account and region,
// with aliases, key policies, enable/disable, scheduled deletion (crypto-shredding: the
// material rows go), rotation (new material for new ciphertexts; old ones still open) and
// tags. Key material is kept sealed by the root of trust; opened material is cached in
// memory only for a short while.

export interface Clock {
  now(): number;
}

export interface KmsCaller {
  caller: Caller;
  facts: RequestFacts;
  region: string;
}

const DAY = 86_400_000;
const MANAGED_ECR_ALIAS = 'alias/aws/ecr';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MATERIAL_CACHE_MS = 60_000;

export const keyArn = (k: { region: string; accountId: string; id: string }) => `arn:aws:kms:${k.region}:${k.accountId}:key/${k.id}`;
export const aliasArn = (region: string, accountId: string, name: string) => `arn:aws:kms:${region}:${accountId}:${name}`;

export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' }],
  });
}

export interface KeyServiceOptions {
  store: SqlKeyStore;
  root: RootOfTrust;
  identity: IdentityService;
  clock?: Clock;
  /** Called after a key changes state (enable, disable, deletion...), e.g. to drop caches. */
  onKeyChanged?: (arn: string) => void;
}

export class KeyService {
  readonly store: SqlKeyStore;
  private readonly root: RootOfTrust;
  private readonly identity: IdentityService;
  /** Replaceable in tests (advance time to complete a scheduled deletion). */
  clock: Clock;
  private readonly materials = new Map<string, { material: Buffer; until: number }>();
  private readonly listeners: ((arn: string) => void)[] = [];

  constructor(options: KeyServiceOptions) {
    this.store = options.store;
    this.root = options.root;
    this.identity = options.identity;
    this.clock = options.clock ?? { now: () => Date.now() };
    if (options.onKeyChanged) this.listeners.push(options.onKeyChanged);
  }

  onKeyChanged(listener: (arn: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(key: KeyRow): void {
    for (const id of [...this.materials.keys()]) if (id.startsWith(`${key.id}/`)) this.materials.delete(id);
    for (const l of this.listeners) l(keyArn(key));
  }

  // ---------- lookup ----------

  /**
   * The key a KeyId names: a key id, a key ARN, an alias name or an alias ARN. Completes a
   * deletion whose time has come and a rotation that is due, so both follow the clock.
   */
  async findKey(accountId: string, region: string, input: unknown, field = 'KeyId'): Promise<KeyRow> {
    if (typeof input !== 'string' || input.length === 0 || input.length > 2048) throw new KmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length between 1 and 2048`);
    let id: string | null = null;
    let account = accountId;
    let inRegion = region;
    let alias: string | null = null;
    const arn = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(input);
    if (arn) {
      inRegion = arn[1]!;
      account = arn[2]!;
      if (arn[3]!.startsWith('key/')) id = arn[3]!.slice(4);
      else alias = arn[3]!;
    } else if (input.startsWith('arn:')) {
      throw new KmsError('NotFoundException', `Invalid arn ${input}`);
    } else if (input.startsWith('alias/')) alias = input;
    else id = input;
    if (alias) {
      let row = await this.store.getAlias(account, inRegion, alias);
      if (!row && alias === MANAGED_ECR_ALIAS && account === accountId) row = await this.ensureManagedEcrKey(account, inRegion);
      if (!row) throw new KmsError('NotFoundException', `Alias ${aliasArn(inRegion, account, alias)} is not found.`);
      id = row.keyId;
    }
    if (!id || !UUID.test(id)) throw new KmsError('NotFoundException', `Invalid keyId '${input}'`);
    const key = await this.store.getKey(id);
    if (!key || key.accountId !== account || key.region !== inRegion) throw new KmsError('NotFoundException', `Key '${keyArn({ region: inRegion, accountId: account, id })}' does not exist`);
    return this.advance(key);
  }

  /** Applies what the clock says happened since: deletion completed, rotation due. */
  private async advance(key: KeyRow): Promise<KeyRow> {
    const now = this.clock.now();
    if (key.state === 'PendingDeletion' && key.deletionAt !== null && key.deletionAt <= now) {
      await this.store.deleteKey(key.id);
      this.changed(key);
      throw new KmsError('NotFoundException', `Key '${keyArn(key)}' does not exist`);
    }
    if (key.rotationEnabled && key.nextRotationAt !== null && key.nextRotationAt <= now && key.state === 'Enabled') {
      const next = now + (key.rotationPeriodDays ?? 365) * DAY;
      await this.addMaterial(key, 'AUTOMATIC', next);
      return (await this.store.getKey(key.id)) ?? key;
    }
    return key;
  }

  /** Runs the clock's consequences for every key (a periodic job): deletions and rotations due. */
  async sweep(): Promise<{ deleted: number; rotated: number }> {
    const now = this.clock.now();
    let deleted = 0;
    let rotated = 0;
    for (const key of await this.store.keysDueForDeletion(now)) {
      await this.store.deleteKey(key.id);
      this.changed(key);
      deleted++;
    }
    for (const key of await this.store.keysDueForRotation(now)) {
      if (key.state !== 'Enabled') continue;
      await this.addMaterial(key, 'AUTOMATIC', now + (key.rotationPeriodDays ?? 365) * DAY);
      rotated++;
    }
    return { deleted, rotated };
  }

  private async newMaterial(key: { id: string; region: string; accountId: string }, rotationType: MaterialRow['rotationType']): Promise<MaterialRow> {
    const material = randomBytes(32);
    const materialId = randomBytes(32).toString('hex');
    return { keyId: key.id, materialId, sealed: await this.root.seal(material, `${keyArn(key)}/${materialId}`), createdAt: this.clock.now(), rotationType };
  }

  private async addMaterial(key: KeyRow, type: 'AUTOMATIC' | 'ON_DEMAND', nextRotationAt?: number | null): Promise<void> {
    await this.store.addMaterial(await this.newMaterial(key, type), nextRotationAt);
  }

  private async material(key: KeyRow, materialId: string): Promise<Buffer> {
    const cacheId = `${key.id}/${materialId}`;
    const cached = this.materials.get(cacheId);
    const now = Date.now();
    if (cached && cached.until > now) return cached.material;
    const row = await this.store.getMaterial(key.id, materialId);
    if (!row) throw new KmsError('InvalidCiphertextException', 'The ciphertext refers to key material that does not exist.');
    const material = await this.root.open(row.sealed, `${keyArn(key)}/${materialId}`).catch((err: Error) => {
      throw new KmsError('KMSInternalException', `the root of trust (${this.root.name}) could not open the key material: ${err.message}`);
    });
    this.materials.set(cacheId, { material, until: now + MATERIAL_CACHE_MS });
    return material;
  }

  // ---------- authorization (key policies with KMS's semantics) ----------

  /**
   * KMS's rule: the key policy decides. Its statement naming the account root (the default
   * policy's "Enable IAM User Permissions") delegates to IAM, so the caller's identity
   * policies must then allow too; a statement naming the caller itself is enough alone.
   * Without a key-policy Allow, no IAM policy helps. Explicit denies win everywhere.
   */
  async requireOnKey(c: KmsCaller, action: string, key: KeyRow): Promise<void> {
    const arn = keyArn(key);
    let policy: PolicyDocument;
    try {
      policy = parsePolicy(key.policy, 'resource');
    } catch {
      throw new KmsError('AccessDeniedException', `User: ${c.caller.principal.arn} is not authorized to perform: ${action} on resource: ${arn} (the key policy cannot be read)`);
    }
    const context = { 'aws:SourceIp': c.facts.sourceIp, 'aws:SecureTransport': c.facts.secureTransport };
    // Does any key-policy statement admit this principal, directly or through its account?
    const keyPolicyOnly = authorize({ principal: { ...c.caller.principal, kind: 'root' }, action, resource: arn, resourceAccount: key.accountId, identityPolicies: [], resourcePolicies: [policy], context, now: this.clock.now() });
    const full = await this.identity.authorize(c.caller, action, arn, key.accountId, c.facts, [policy]);
    if (keyPolicyOnly.reason === 'allowed-by-identity-and-resource-policy' && full.allowed) return;
    throw new KmsError('AccessDeniedException', `User: ${c.caller.principal.arn} is not authorized to perform: ${action} on resource: ${arn} because no ${full.reason === 'explicit-deny' ? 'policy allows it (explicit deny)' : 'key policy and identity-based policy together allow it'}`);
  }

  /** Actions on no particular key (CreateKey, ListKeys, ListAliases): IAM alone. */
  async requireIam(c: KmsCaller, action: string): Promise<void> {
    const decision = await this.identity.authorize(c.caller, action, '*', c.caller.accountId, c.facts);
    if (!decision.allowed) throw new KmsError('AccessDeniedException', `User: ${c.caller.principal.arn} is not authorized to perform: ${action} because no identity-based policy allows the ${action} action`);
  }

  private async keyFor(c: KmsCaller, input: unknown, action: string): Promise<KeyRow> {
    const key = await this.findKey(c.caller.accountId, c.region, input);
    await this.requireOnKey(c, action, key);
    return key;
  }

  // ---------- keys ----------

  async createKey(c: KmsCaller, input: { description?: string; policy?: string; tags?: { key: string; value: string }[]; keyUsage?: string; keySpec?: string }): Promise<KeyRow> {
    await this.requireIam(c, 'kms:CreateKey');
    if (input.keyUsage !== undefined && input.keyUsage !== 'ENCRYPT_DECRYPT') throw new KmsError('UnsupportedOperationException', `KeyUsage ${input.keyUsage} is not supported here: only ENCRYPT_DECRYPT`);
    if (input.keySpec !== undefined && input.keySpec !== 'SYMMETRIC_DEFAULT') throw new KmsError('UnsupportedOperationException', `KeySpec ${input.keySpec} is not supported here: only SYMMETRIC_DEFAULT`);
    const policy = input.policy ?? defaultKeyPolicy(c.caller.accountId);
    validatePolicy(policy);
    validateTags(input.tags ?? []);
    return this.insertKey(c.caller.accountId, c.region, { description: input.description ?? '', policy, keyManager: 'CUSTOMER', tags: input.tags ?? [] });
  }

  private async insertKey(accountId: string, region: string, k: { description: string; policy: string; keyManager: 'CUSTOMER' | 'AWS'; tags: { key: string; value: string }[] }, alias?: string): Promise<KeyRow> {
    const id = randomUUID();
    const now = this.clock.now();
    const material = await this.newMaterial({ id, region, accountId }, null);
    const managed = k.keyManager === 'AWS';
    const row: KeyRow = {
      id,
      accountId,
      region,
      description: k.description,
      keyManager: k.keyManager,
      state: 'Enabled',
      createdAt: now,
      deletionAt: null,
      pendingWindowDays: null,
      policy: k.policy,
      // AWS managed keys rotate every year, always.
      rotationEnabled: managed,
      rotationPeriodDays: managed ? 365 : null,
      nextRotationAt: managed ? now + 365 * DAY : null,
      currentMaterial: material.materialId,
    };
    await this.store.createKey(row, material, k.tags, alias ? { accountId, region, name: alias, keyId: id, createdAt: now, updatedAt: now } : undefined);
    return row;
  }

  /** The AWS managed key of ECR in this account and region, made on first use. */
  private async ensureManagedEcrKey(accountId: string, region: string): Promise<AliasRow> {
    const existing = await this.store.getAlias(accountId, region, MANAGED_ECR_ALIAS);
    if (existing) return existing;
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Id: 'auto-ecr-1',
      Statement: [{ Sid: 'Allow access through Amazon ECR for all principals in the account that are authorized to use Amazon ECR', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'kms:*', Resource: '*' }],
    });
    try {
      await this.insertKey(accountId, region, { description: 'Default key that protects my ECR data when no other key is defined', policy, keyManager: 'AWS', tags: [] }, MANAGED_ECR_ALIAS);
    } catch (err) {
      // Another request (or node) made it first: use theirs.
      const raced = await this.store.getAlias(accountId, region, MANAGED_ECR_ALIAS);
      if (raced) return raced;
      throw err;
    }
    return (await this.store.getAlias(accountId, region, MANAGED_ECR_ALIAS))!;
  }

  async describeKey(c: KmsCaller, keyId: unknown): Promise<KeyRow> {
    return this.keyFor(c, keyId, 'kms:DescribeKey');
  }

  async listKeys(c: KmsCaller, limit: number, marker: string | null): Promise<{ keys: KeyRow[]; next: string | null }> {
    await this.requireIam(c, 'kms:ListKeys');
    const rows = await this.store.listKeys(c.caller.accountId, c.region, marker, limit + 1);
    const page = rows.slice(0, limit);
    return { keys: page, next: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  private requireCustomer(key: KeyRow, what: string): void {
    if (key.keyManager === 'AWS') throw new KmsError('UnsupportedOperationException', `${keyArn(key)} is an AWS managed key: ${what} is not allowed on it`);
  }

  private requireNotPendingDeletion(key: KeyRow): void {
    if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${keyArn(key)} is pending deletion.`);
  }

  async enableKey(c: KmsCaller, keyId: unknown): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:EnableKey');
    this.requireCustomer(key, 'EnableKey');
    this.requireNotPendingDeletion(key);
    await this.store.updateKey(key.id, { state: 'Enabled' });
    this.changed(key);
  }

  async disableKey(c: KmsCaller, keyId: unknown): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:DisableKey');
    this.requireCustomer(key, 'DisableKey');
    this.requireNotPendingDeletion(key);
    await this.store.updateKey(key.id, { state: 'Disabled' });
    this.changed(key);
  }

  async scheduleKeyDeletion(c: KmsCaller, keyId: unknown, days: number | undefined): Promise<KeyRow> {
    const key = await this.keyFor(c, keyId, 'kms:ScheduleKeyDeletion');
    this.requireCustomer(key, 'ScheduleKeyDeletion');
    const window = days ?? 30;
    if (!Number.isInteger(window) || window < 7 || window > 30) throw new KmsError('ValidationException', `PendingWindowInDays must be between 7 and 30 (got ${days})`);
    this.requireNotPendingDeletion(key);
    const deletionAt = this.clock.now() + window * DAY;
    await this.store.updateKey(key.id, { state: 'PendingDeletion', deletionAt, pendingWindowDays: window });
    this.changed(key);
    return { ...key, state: 'PendingDeletion', deletionAt, pendingWindowDays: window };
  }

  async cancelKeyDeletion(c: KmsCaller, keyId: unknown): Promise<KeyRow> {
    const key = await this.keyFor(c, keyId, 'kms:CancelKeyDeletion');
    if (key.state !== 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${keyArn(key)} is not pending deletion (it is ${key.state}).`);
    // As KMS: a key whose deletion is cancelled comes back Disabled.
    await this.store.updateKey(key.id, { state: 'Disabled', deletionAt: null, pendingWindowDays: null });
    this.changed(key);
    return key;
  }

  // ---------- rotation ----------

  private requireEnabled(key: KeyRow): void {
    if (key.state === 'Disabled') throw new KmsError('DisabledException', `${keyArn(key)} is disabled.`);
    this.requireNotPendingDeletion(key);
  }

  async enableKeyRotation(c: KmsCaller, keyId: unknown, periodDays: number | undefined): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:EnableKeyRotation');
    this.requireCustomer(key, 'EnableKeyRotation');
    this.requireEnabled(key);
    const period = periodDays ?? 365;
    if (!Number.isInteger(period) || period < 90 || period > 2560) throw new KmsError('ValidationException', `RotationPeriodInDays must be between 90 and 2560 (got ${periodDays})`);
    await this.store.updateKey(key.id, { rotationEnabled: true, rotationPeriodDays: period, nextRotationAt: this.clock.now() + period * DAY });
  }

  async disableKeyRotation(c: KmsCaller, keyId: unknown): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:DisableKeyRotation');
    this.requireCustomer(key, 'DisableKeyRotation');
    this.requireEnabled(key);
    await this.store.updateKey(key.id, { rotationEnabled: false, rotationPeriodDays: null, nextRotationAt: null });
  }

  async getKeyRotationStatus(c: KmsCaller, keyId: unknown): Promise<KeyRow> {
    const key = await this.keyFor(c, keyId, 'kms:GetKeyRotationStatus');
    this.requireNotPendingDeletion(key);
    return key;
  }

  async rotateKeyOnDemand(c: KmsCaller, keyId: unknown): Promise<KeyRow> {
    const key = await this.keyFor(c, keyId, 'kms:RotateKeyOnDemand');
    this.requireCustomer(key, 'RotateKeyOnDemand');
    this.requireEnabled(key);
    const onDemand = (await this.store.listMaterials(key.id)).filter((m) => m.rotationType === 'ON_DEMAND').length;
    if (onDemand >= 25) throw new KmsError('LimitExceededException', 'A key can be rotated on demand at most 25 times.');
    await this.addMaterial(key, 'ON_DEMAND');
    this.changed(key);
    return key;
  }

  async listKeyRotations(c: KmsCaller, keyId: unknown): Promise<{ key: KeyRow; rotations: MaterialRow[] }> {
    const key = await this.keyFor(c, keyId, 'kms:ListKeyRotations');
    this.requireNotPendingDeletion(key);
    return { key, rotations: (await this.store.listMaterials(key.id)).filter((m) => m.rotationType !== null) };
  }

  // ---------- cryptography ----------

  private usable(key: KeyRow): void {
    if (key.state === 'Disabled') throw new KmsError('DisabledException', `${keyArn(key)} is disabled.`);
    if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${keyArn(key)} is pending deletion.`);
  }

  private async sealWith(key: KeyRow, plaintext: Buffer, context: Record<string, string> | undefined): Promise<Buffer> {
    this.usable(key);
    return sealWithMaterial(await this.material(key, key.currentMaterial), key.id, key.currentMaterial, plaintext, context);
  }

  async encrypt(c: KmsCaller, keyId: unknown, plaintext: Buffer, context?: Record<string, string>): Promise<{ key: KeyRow; ciphertext: Buffer }> {
    const key = await this.keyFor(c, keyId, 'kms:Encrypt');
    return { key, ciphertext: await this.sealWith(key, plaintext, context) };
  }

  /** The key a ciphertext names, if it is in the caller's reach; checks KeyId when given. */
  private async keyOfCiphertext(accountId: string, region: string, blob: Buffer, keyId: unknown): Promise<{ key: KeyRow; materialId: string }> {
    const parsed = parseCiphertext(blob);
    const key = await this.store.getKey(parsed.keyId);
    if (!key) throw new KmsError('InvalidCiphertextException', 'The ciphertext refers to a key that does not exist (it may have been deleted).');
    const current = await this.advance(key).catch((err) => {
      if (err instanceof KmsError && err.code === 'NotFoundException') throw new KmsError('InvalidCiphertextException', 'The ciphertext refers to a key that does not exist (it may have been deleted).');
      throw err;
    });
    if (keyId !== undefined) {
      const named = await this.findKey(accountId, region, keyId);
      if (named.id !== current.id) throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext.');
    }
    return { key: current, materialId: parsed.materialId };
  }

  async decrypt(c: KmsCaller, blob: Buffer, context?: Record<string, string>, keyId?: unknown): Promise<{ key: KeyRow; plaintext: Buffer; materialId: string }> {
    const { key, materialId } = await this.keyOfCiphertext(c.caller.accountId, c.region, blob, keyId);
    await this.requireOnKey(c, 'kms:Decrypt', key);
    this.usable(key);
    return { key, plaintext: openWithMaterial(await this.material(key, materialId), blob, context), materialId };
  }

  async reEncrypt(c: KmsCaller, blob: Buffer, sourceContext: Record<string, string> | undefined, sourceKeyId: unknown, destinationKeyId: unknown, destinationContext?: Record<string, string>) {
    const { key: source, materialId } = await this.keyOfCiphertext(c.caller.accountId, c.region, blob, sourceKeyId);
    await this.requireOnKey(c, 'kms:ReEncryptFrom', source);
    this.usable(source);
    const plaintext = openWithMaterial(await this.material(source, materialId), blob, sourceContext);
    const destination = await this.keyFor(c, destinationKeyId, 'kms:ReEncryptTo');
    return { source, destination, sourceMaterialId: materialId, ciphertext: await this.sealWith(destination, plaintext, destinationContext) };
  }

  async generateDataKey(c: KmsCaller, keyId: unknown, bytes: number, context: Record<string, string> | undefined, withPlaintext: boolean) {
    const key = await this.keyFor(c, keyId, withPlaintext ? 'kms:GenerateDataKey' : 'kms:GenerateDataKeyWithoutPlaintext');
    const plaintext = randomBytes(bytes);
    return { key, plaintext, ciphertext: await this.sealWith(key, plaintext, context) };
  }

  // ---------- policies and tags ----------

  async getKeyPolicy(c: KmsCaller, keyId: unknown): Promise<string> {
    return (await this.keyFor(c, keyId, 'kms:GetKeyPolicy')).policy;
  }

  async putKeyPolicy(c: KmsCaller, keyId: unknown, policy: string): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:PutKeyPolicy');
    this.requireCustomer(key, 'PutKeyPolicy');
    this.requireNotPendingDeletion(key);
    validatePolicy(policy);
    await this.store.updateKey(key.id, { policy });
  }

  async tagResource(c: KmsCaller, keyId: unknown, tags: { key: string; value: string }[]): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:TagResource');
    this.requireCustomer(key, 'TagResource');
    this.requireNotPendingDeletion(key);
    validateTags(tags);
    const existing = await this.store.listTags(key.id);
    if (new Set([...existing.map((t) => t.key), ...tags.map((t) => t.key)]).size > 50) throw new KmsError('TagException', 'A key can have at most 50 tags.');
    await this.store.putTags(key.id, tags);
  }

  async untagResource(c: KmsCaller, keyId: unknown, tagKeys: string[]): Promise<void> {
    const key = await this.keyFor(c, keyId, 'kms:UntagResource');
    this.requireNotPendingDeletion(key);
    await this.store.removeTags(key.id, tagKeys);
  }

  async listResourceTags(c: KmsCaller, keyId: unknown): Promise<{ key: string; value: string }[]> {
    return this.store.listTags((await this.keyFor(c, keyId, 'kms:ListResourceTags')).id);
  }

  // ---------- aliases ----------

  async createAlias(c: KmsCaller, name: unknown, target: unknown): Promise<void> {
    const alias = validateAliasName(name);
    const key = await this.keyFor(c, target, 'kms:CreateAlias');
    this.requireCustomer(key, 'CreateAlias');
    this.requireNotPendingDeletion(key);
    const now = this.clock.now();
    if (!(await this.store.createAlias({ accountId: c.caller.accountId, region: c.region, name: alias, keyId: key.id, createdAt: now, updatedAt: now }))) {
      throw new KmsError('AlreadyExistsException', `An alias with the name ${aliasArn(c.region, c.caller.accountId, alias)} already exists`);
    }
  }

  async updateAlias(c: KmsCaller, name: unknown, target: unknown): Promise<void> {
    const alias = validateAliasName(name);
    const existing = await this.store.getAlias(c.caller.accountId, c.region, alias);
    if (!existing) throw new KmsError('NotFoundException', `Alias ${aliasArn(c.region, c.caller.accountId, alias)} is not found.`);
    const key = await this.keyFor(c, target, 'kms:UpdateAlias');
    this.requireCustomer(key, 'UpdateAlias');
    this.requireNotPendingDeletion(key);
    await this.store.updateAlias(c.caller.accountId, c.region, alias, key.id, this.clock.now());
  }

  async deleteAlias(c: KmsCaller, name: unknown): Promise<void> {
    const alias = validateAliasName(name);
    const existing = await this.store.getAlias(c.caller.accountId, c.region, alias);
    if (!existing) throw new KmsError('NotFoundException', `Alias ${aliasArn(c.region, c.caller.accountId, alias)} is not found.`);
    const key = await this.store.getKey(existing.keyId);
    if (key) await this.requireOnKey(c, 'kms:DeleteAlias', key);
    await this.store.deleteAlias(c.caller.accountId, c.region, alias);
  }

  async listAliases(c: KmsCaller, keyId: unknown): Promise<AliasRow[]> {
    await this.requireIam(c, 'kms:ListAliases');
    const key = keyId === undefined ? null : await this.findKey(c.caller.accountId, c.region, keyId);
    return this.store.listAliases(c.caller.accountId, c.region, key?.id ?? null);
  }

  // ---------- for Berth's own use (repositories) ----------
  // ECR asks on the user's behalf; the repository's own authorization has already run.

  /** The key ARN a repository's kmsKey (id, ARN, alias name or alias ARN) names; alias/aws/ecr is made on first use. */
  async resolveForService(accountId: string, region: string, kmsKey: string): Promise<KeyRow> {
    const key = await this.findKey(accountId, region, kmsKey, 'kmsKey');
    // Only the account's own keys: another account's key would give that account the power
    // to disable or shred this repository (cross-account grants are not implemented).
    if (key.accountId !== accountId) throw new KmsError('NotFoundException', `Key '${keyArn(key)}' does not exist in account ${accountId}`);
    return key;
  }

  /** A fresh 32-byte data key, wrapped under the key's current material. Fails as KMS does when the key is not usable. */
  async dataKeyForService(arn: string, context: Record<string, string>): Promise<{ key: KeyRow; plaintext: Buffer; wrapped: Buffer }> {
    const key = await this.serviceKey(arn);
    const plaintext = randomBytes(32);
    return { key, plaintext, wrapped: await this.sealWith(key, plaintext, context) };
  }

  /** Unwraps a data key for the service; fails when the key is disabled, pending deletion, or gone (shredded). */
  async unwrapForService(wrapped: Buffer, context: Record<string, string>): Promise<Buffer> {
    const parsed = parseCiphertext(wrapped);
    const row = await this.store.getKey(parsed.keyId);
    if (!row) throw new KmsError('NotFoundException', `the key that protects this data (key/${parsed.keyId}) was deleted: the data cannot be decrypted any more`);
    const key = await this.advance(row);
    this.usable(key);
    return openWithMaterial(await this.material(key, parsed.materialId), wrapped, context);
  }

  /** Throws when the key cannot be used now (disabled, pending deletion, deleted). */
  async requireUsable(arn: string): Promise<KeyRow> {
    const key = await this.serviceKey(arn);
    this.usable(key);
    return key;
  }

  private async serviceKey(arn: string): Promise<KeyRow> {
    const m = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):key\/(.+)$/.exec(arn);
    if (!m) throw new KmsError('NotFoundException', `Invalid arn ${arn}`);
    return this.findKey(m[2]!, m[1]!, arn);
  }
}

function validatePolicy(policy: string): void {
  if (policy.length > 32_768) throw new KmsError('MalformedPolicyDocumentException', 'The key policy is longer than 32768 characters.');
  try {
    parsePolicy(policy, 'resource');
  } catch (err) {
    throw new KmsError('MalformedPolicyDocumentException', err instanceof PolicyValidationError ? err.message : 'The key policy is not a valid policy document.');
  }
}

function validateTags(tags: { key: string; value: string }[]): void {
  for (const t of tags) {
    if (typeof t.key !== 'string' || t.key.length < 1 || t.key.length > 128 || typeof t.value !== 'string' || t.value.length > 256) throw new KmsError('TagException', 'Tag keys must be 1-128 characters and values 0-256.');
    if (t.key.startsWith('aws:')) throw new KmsError('TagException', 'Tag keys may not begin with aws:');
  }
}

function validateAliasName(name: unknown): string {
  if (typeof name !== 'string' || !/^alias\/[a-zA-Z0-9/_-]+$/.test(name) || name.length > 256) throw new KmsError('InvalidAliasNameException', `Alias must start with the prefix "alias/" and hold only a-z A-Z 0-9 / _ - (got ${String(name)})`);
  if (name.startsWith('alias/aws/')) throw new KmsError('InvalidAliasNameException', 'Aliases beginning with alias/aws/ are reserved for AWS managed keys.');
  return name;
}
