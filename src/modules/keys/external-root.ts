import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { RootOfTrust } from './root-of-trust.js';

// A root of trust in another AWS-KMS-compatible service (AWS KMS itself, or another Berth):
// key material is sealed with its Encrypt and opened with its Decrypt, the key's ARN bound
// as encryption context. Berth then holds no secret that opens the material by itself.

export interface ExternalKmsRootOptions {
  endpoint: string;
  keyId: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export class ExternalKmsRoot implements RootOfTrust {
  readonly name = 'external-kms';
  private readonly signer: SignatureV4;
  private readonly url: URL;

  constructor(private readonly options: ExternalKmsRootOptions) {
    this.url = new URL(options.endpoint);
    this.signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  }

  private async call(operation: 'Encrypt' | 'Decrypt', body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const text = JSON.stringify(body);
    const request = new HttpRequest({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      ...(this.url.port ? { port: Number(this.url.port) } : {}),
      path: this.url.pathname || '/',
      headers: { host: this.url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
      body: text,
    });
    const signed = await this.signer.sign(request);
    const res = await fetch(this.url, { method: 'POST', headers: signed.headers as Record<string, string>, body: text, signal: AbortSignal.timeout(10_000) });
    const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new Error(`the external root of trust (${this.url.host}) refused ${operation}: ${String(answer.__type ?? res.status)} ${String(answer.message ?? '')}`);
    return answer;
  }

  async seal(material: Buffer, context: string): Promise<string> {
    const out = await this.call('Encrypt', { KeyId: this.options.keyId, Plaintext: material.toString('base64'), EncryptionContext: { 'berth:key': context } });
    return `ext1:${String(out.CiphertextBlob)}`;
  }

  async open(sealed: string, context: string): Promise<Buffer> {
    if (!sealed.startsWith('ext1:')) throw new Error('key material was sealed by another root of trust');
    const out = await this.call('Decrypt', { CiphertextBlob: sealed.slice(5), KeyId: this.options.keyId, EncryptionContext: { 'berth:key': context } });
    return Buffer.from(String(out.Plaintext), 'base64');
  }
}
