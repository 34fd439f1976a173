import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KmsError } from './errors.js';

// The CiphertextBlob of Encrypt and GenerateDataKey: which key and which of its materials
// sealed it, then AES-256-GCM with the encryption context as additional authenticated
// data. Self-describing, so Decrypt needs no KeyId (as KMS's symmetric ciphertexts).
//   [0] version 1 | [1..17) key id (uuid, 16 bytes) | [17..49) material id | iv 12 | tag 16 | body

const VERSION = 1;
const HEADER = 1 + 16 + 32 + 12 + 16;

export interface ParsedCiphertext {
  keyId: string;
  materialId: string;
}

export function canonicalContext(context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(`berth-kms-v1\n${JSON.stringify(entries)}`);
}

const uuidBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');
const uuidText = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export function sealWithMaterial(material: Buffer, keyId: string, materialId: string, plaintext: Buffer, context: Record<string, string> | undefined): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', material, iv);
  const head = Buffer.concat([Buffer.from([VERSION]), uuidBytes(keyId), Buffer.from(materialId, 'hex')]);
  cipher.setAAD(Buffer.concat([head, canonicalContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([head, iv, cipher.getAuthTag(), body]);
}

export function parseCiphertext(blob: Buffer): ParsedCiphertext {
  if (blob.length < HEADER || blob[0] !== VERSION) throw new KmsError('InvalidCiphertextException', 'The ciphertext is invalid or was not made by this KMS.');
  return { keyId: uuidText(blob.subarray(1, 17)), materialId: blob.subarray(17, 49).toString('hex') };
}

export function openWithMaterial(material: Buffer, blob: Buffer, context: Record<string, string> | undefined): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', material, blob.subarray(49, 61));
  decipher.setAAD(Buffer.concat([blob.subarray(0, 49), canonicalContext(context)]));
  decipher.setAuthTag(blob.subarray(61, 77));
  try {
    return Buffer.concat([decipher.update(blob.subarray(HEADER)), decipher.final()]);
  } catch {
    // Wrong encryption context, or altered bytes: KMS says the same for both.
    throw new KmsError('InvalidCiphertextException', 'The ciphertext or its encryption context is not valid for this key.');
  }
}
