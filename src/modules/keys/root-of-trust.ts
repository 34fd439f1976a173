import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

// What seals key material at rest in the database. Pluggable: by default the server key
// every node already shares (src/auth/secret-box.ts); or an external AWS-KMS-compatible
// service named by endpoint (external-root.ts), so the root never sits on Berth's disks.

export interface RootOfTrust {
  readonly name: string;
  /** Seals 32 bytes of key material; `context` (the key's ARN) is bound to the result. */
  seal(material: Buffer, context: string): Promise<string>;
  open(sealed: string, context: string): Promise<Buffer>;
}

export class ServerKeyRoot implements RootOfTrust {
  readonly name = 'server-key';
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the server key must be 32 bytes');
  }

  async seal(material: Buffer, context: string): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`berth-kms:${context}`));
    const body = Buffer.concat([cipher.update(material), cipher.final()]);
    return `sk1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  async open(sealed: string, context: string): Promise<Buffer> {
    if (!sealed.startsWith('sk1:')) throw new Error('key material was sealed by another root of trust');
    const raw = Buffer.from(sealed.slice(4), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(`berth-kms:${context}`));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
    } catch {
      throw new Error('cannot open key material: this node has a different server key from the node that created the key');
    }
  }
}
