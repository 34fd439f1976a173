import type { BerthConfig } from '../../config/config.js';
import { ExternalKmsRoot } from './external-root.js';
import { ServerKeyRoot, type RootOfTrust } from './root-of-trust.js';

// Keys: Berth's KMS (key-service.ts), its API (kms-api.ts), its rows (store.ts, migrations
// 0110-0119) and what seals key material (root-of-trust.ts, external-root.ts).

export async function rootOfTrust(config: BerthConfig, serverKey: Buffer): Promise<RootOfTrust> {
  const root = config.kms.root;
  if (root.kind === 'server-key') return new ServerKeyRoot(serverKey);
  const accessKeyId = root.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = root.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('kms.root kind "kms" needs accessKeyId and secretAccessKey (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)');
  return new ExternalKmsRoot({ endpoint: root.endpoint, keyId: root.keyId, region: root.region ?? config.region, credentials: { accessKeyId, secretAccessKey, ...(process.env.AWS_SESSION_TOKEN ? { sessionToken: process.env.AWS_SESSION_TOKEN } : {}) } });
}
