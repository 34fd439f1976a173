import type { Kysely } from 'kysely';
import type { BlobEncryption } from '../../domain/registry-service.js';
import type { DataKeys } from '../../stores/blob/encrypting-blobs.js';
import type { KeyService } from './key-service.js';

// Which repositories Berth encrypts, and with what: those whose ECR encryption setting is
// KMS (one layer) or KMS_DSSE (two), naming a key ARN of Berth's KMS (resolved when the
// repository was created). AES256 repositories are stored as before (docs/encryption.md).
// A repository's encryption never changes after creation (as on ECR), so the answer is
// cached by repository id and the unencrypted path costs a map lookup.

const KEY_ARN = /^arn:aws:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;
const CACHE_LIMIT = 50_000;

export class RepositoryEncryption {
  private readonly cache = new Map<number, BlobEncryption | null>();
  constructor(private readonly db: Kysely<any>) {}

  async of(repositoryId: number): Promise<BlobEncryption | null> {
    const hit = this.cache.get(repositoryId);
    if (hit !== undefined) return hit;
    const row = await this.db.selectFrom('ecr_repository_settings').select('settings').where('repository_id', '=', repositoryId).executeTakeFirst();
    let enc: BlobEncryption | null = null;
    if (row) {
      const e = (JSON.parse(row.settings as string) as { encryption?: { encryptionType?: string; kmsKey?: string } }).encryption;
      if ((e?.encryptionType === 'KMS' || e?.encryptionType === 'KMS_DSSE') && e.kmsKey && KEY_ARN.test(e.kmsKey)) enc = { keyArn: e.kmsKey, layers: e.encryptionType === 'KMS_DSSE' ? 2 : 1 };
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    // Only a settled answer is cached: a repository without settings may get them (created by ECR) later.
    if (row) this.cache.set(repositoryId, enc);
    return enc;
  }
}

/** The data keys of blobs, from Berth's KMS (given once it exists: the registry is made first). */
export function kmsDataKeys(keys: () => KeyService): DataKeys {
  return {
    async generate(keyArn, context) {
      const r = await keys().dataKeyForService(keyArn, context);
      return { plaintext: r.plaintext, wrapped: r.wrapped };
    },
    unwrap: (wrapped, context) => keys().unwrapForService(wrapped, context),
    async requireUsable(keyArn) {
      await keys().requireUsable(keyArn);
    },
  };
}
