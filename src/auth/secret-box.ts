import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SecretCipher } from '../stores/identity-store.js';

// Secret access keys must be recoverable (SigV4 verification recomputes the signature
// with the secret itself), so they cannot be stored as one-way hashes. They are sealed
// with AES-256-GCM under a server key that lives outside the database: a stolen database
// dump alone does not reveal any secret. The key is <data-dir>/server.key (created 0600
// on first start) or BERTH_SERVER_KEY (base64 of 32 bytes), which several nodes sharing
// one PostgreSQL database must all be given.

const VERSION = 'v1';

export class AesGcmSecretCipher implements SecretCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the server key must be 32 bytes');
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    if (!sealed.startsWith(`${VERSION}:`)) throw new Error('unknown sealed-secret format');
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(
        'cannot open a stored secret: this node has a different server key from the node that stored it (set the same serverKey / BERTH_SERVER_KEY on every node sharing the database)',
      );
    }
  }
}

/** The configured server key (serverKey / BERTH_SERVER_KEY), else <dataDir>/server.key, created when missing. */
export async function loadServerKey(dataDir: string, configured?: string): Promise<Buffer> {
  if (configured) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) throw new Error('serverKey must be the base64 of 32 bytes');
    return key;
  }
  const path = join(dataDir, 'server.key');
  try {
    const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    if (key.length !== 32) throw new Error(`${path} does not hold a base64 32-byte key`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  // 'wx': never overwrite a key another process just created.
  try {
    await writeFile(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadServerKey(dataDir);
    throw err;
  }
}
