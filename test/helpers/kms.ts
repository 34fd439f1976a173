import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

// A KMS JSON 1.1 caller signed with SigV4 (service kms) by smithy's signer, the one the JS
// SDK uses: answers { status, body } so tests can check the error names.

export type KmsCall = (operation: string, input?: Record<string, unknown>) => Promise<{ status: number; body: any }>;

export function kmsClient(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, region = 'us-east-1'): KmsCall {
  const url = new URL(endpoint);
  const signer = new SignatureV4({ credentials, region, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  return async (operation, input = {}) => {
    const body = JSON.stringify(input);
    const signed = await signer.sign(
      new HttpRequest({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
        body,
      }),
    );
    const res = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body, signal: AbortSignal.timeout(15_000) });
    return { status: res.status, body: await res.json() };
  };
}

/** Calls and fails unless the answer is 200. */
export function kmsOk(call: KmsCall): (operation: string, input?: Record<string, unknown>) => Promise<any> {
  return async (operation, input) => {
    const res = await call(operation, input);
    if (res.status !== 200) throw new Error(`${operation}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
}
