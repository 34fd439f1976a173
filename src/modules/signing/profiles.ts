import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SecretCipher } from '../../stores/identity-store.js';
import { newSigningKey, type SigningKey } from './notary.js';

// AWS Signer signing profiles, the subset ECR managed signing uses: platform
// Notation-OCI-SHA384-ECDSA, a key of the profile's own (ECDSA P-384, sealed by the server
// key) and a self-signed code-signing certificate valid for the signature validity period.

export const NOTATION_PLATFORM = 'Notation-OCI-SHA384-ECDSA';
export const NOTATION_PLATFORM_NAME = 'Notation for Container Registries';

export class SignerError extends Error {
  constructor(
    readonly type: 'ValidationException' | 'ResourceNotFoundException' | 'AccessDeniedException' | 'ConflictException',
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ProfileRow {
  account_id: string;
  profile_name: string;
  profile_version: string;
  platform_id: string;
  status: string;
  validity_value: number;
  validity_type: string;
  sealed_key: string;
  chain_pem: string;
  tags: string;
  created_at: number;
}

export class SigningProfiles {
  constructor(
    private readonly db: Kysely<any>,
    private readonly cipher: SecretCipher,
    private readonly region: string,
  ) {}

  arn(accountId: string, name: string): string {
    return `arn:aws:signer:${this.region}:${accountId}:/signing-profiles/${name}`;
  }

  async put(accountId: string, name: string, input: { platformId?: string; signatureValidityPeriod?: { value?: number; type?: string }; tags?: Record<string, string> }) {
    if (!/^[a-zA-Z0-9_]{2,64}$/.test(name)) throw new SignerError('ValidationException', 400, `1 validation error detected: Value '${name.slice(0, 100)}' at 'profileName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]{2,}`);
    if (input.platformId !== NOTATION_PLATFORM) throw new SignerError('ValidationException', 400, `Berth's signer supports only the platform ${NOTATION_PLATFORM}, not '${String(input.platformId).slice(0, 100)}'`);
    const value = input.signatureValidityPeriod?.value ?? 135;
    const type = input.signatureValidityPeriod?.type ?? 'MONTHS';
    const days = type === 'DAYS' ? value : type === 'MONTHS' ? value * 30 : type === 'YEARS' ? value * 365 : NaN;
    if (!Number.isSafeInteger(days) || days < 1) throw new SignerError('ValidationException', 400, `signatureValidityPeriod must be a positive whole number of DAYS, MONTHS or YEARS`);
    const existing = await this.row(accountId, name);
    if (existing && existing.status === 'Active') throw new SignerError('ConflictException', 409, `A signing profile with name ${name} already exists`);
    const key = await newSigningKey(`/O=Berth/OU=${accountId}/CN=${name}`, days);
    const version = randomBytes(5).toString('hex');
    const row: ProfileRow = {
      account_id: accountId,
      profile_name: name,
      profile_version: version,
      platform_id: NOTATION_PLATFORM,
      status: 'Active',
      validity_value: value,
      validity_type: type,
      sealed_key: this.cipher.seal(key.privateKeyPem),
      chain_pem: JSON.stringify(key.chainPem),
      tags: JSON.stringify(input.tags ?? {}),
      created_at: Date.now(),
    };
    await this.db.deleteFrom('signing_profiles').where('account_id', '=', accountId).where('profile_name', '=', name).execute();
    await this.db.insertInto('signing_profiles').values(row).execute();
    const arn = this.arn(accountId, name);
    return { arn, profileVersion: version, profileVersionArn: `${arn}/${version}` };
  }

  private async row(accountId: string, name: string): Promise<ProfileRow | undefined> {
    return (await this.db.selectFrom('signing_profiles').selectAll().where('account_id', '=', accountId).where('profile_name', '=', name).executeTakeFirst()) as ProfileRow | undefined;
  }

  view(r: ProfileRow) {
    const arn = this.arn(r.account_id, r.profile_name);
    return {
      profileName: r.profile_name,
      profileVersion: r.profile_version,
      profileVersionArn: `${arn}/${r.profile_version}`,
      platformId: r.platform_id,
      platformDisplayName: NOTATION_PLATFORM_NAME,
      signatureValidityPeriod: { value: r.validity_value, type: r.validity_type },
      status: r.status,
      arn,
      tags: JSON.parse(r.tags) as Record<string, string>,
    };
  }

  async get(accountId: string, name: string) {
    const r = await this.row(accountId, name);
    if (!r) throw new SignerError('ResourceNotFoundException', 404, `Signing profile ${name} does not exist`);
    return this.view(r);
  }

  async list(accountId: string, includeCanceled: boolean) {
    const rows = (await this.db.selectFrom('signing_profiles').selectAll().where('account_id', '=', accountId).orderBy('profile_name').execute()) as ProfileRow[];
    return { profiles: rows.filter((r) => includeCanceled || r.status === 'Active').map((r) => this.view(r)) };
  }

  async cancel(accountId: string, name: string): Promise<void> {
    const r = await this.row(accountId, name);
    if (!r) throw new SignerError('ResourceNotFoundException', 404, `Signing profile ${name} does not exist`);
    await this.db.updateTable('signing_profiles').set({ status: 'Canceled' }).where('account_id', '=', accountId).where('profile_name', '=', name).execute();
  }

  /** The key of an Active profile named by its ARN (ECR signing rules name profiles by ARN). */
  async keyFor(profileArn: string): Promise<SigningKey | null> {
    const m = /^arn:aws[a-z-]*:signer:[a-z0-9-]+:(\d{12}):\/signing-profiles\/([a-zA-Z0-9_]+)$/.exec(profileArn);
    if (!m) return null;
    const r = await this.row(m[1]!, m[2]!);
    if (!r || r.status !== 'Active') return null;
    return { privateKeyPem: this.cipher.open(r.sealed_key), chainPem: JSON.parse(r.chain_pem) as string[] };
  }
}
