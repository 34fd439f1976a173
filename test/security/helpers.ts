import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import type { TestCredentials } from '../helpers/principals.js';
import type { TestServer } from '../helpers/server.js';

// Small pieces shared by the security tests: a one-layer image, logins, raw pushes.

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface TinyImage {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
}

export function tinyImage(seed: string): TinyImage {
  const layer = gzipSync(Buffer.from(`layer ${seed}`));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(Buffer.from(`layer ${seed}`))] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return { layer, config, manifest };
}

/** Writes the image as an OCI layout (tag `v1`) for skopeo to push. */
export async function writeLayout(dir: string, image: TinyImage): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of [image.layer, image.config, image.manifest]) await writeFile(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: sha(image.manifest), size: image.manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
}

/** GetAuthorizationToken with these credentials; returns the registry password. */
export async function loginPassword(server: TestServer, credentials: TestCredentials): Promise<string> {
  // Signed for the region the server serves: GetAuthorizationToken is ECR's, one region per endpoint.
  const ecr = new ECRClient({ endpoint: server.url, region: server.berth.config.region, credentials: { ...credentials }, maxAttempts: 1 });
  try {
    const out = await ecr.send(new GetAuthorizationTokenCommand({}));
    const decoded = Buffer.from(out.authorizationData![0]!.authorizationToken!, 'base64').toString();
    assert.ok(decoded.startsWith('AWS:'));
    return decoded.slice(4);
  } finally {
    ecr.destroy();
  }
}

export const basic = (password: string) => `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}`;

/** Pushes the image over /v2 with plain HTTP; the first non-success status, or 201. */
export async function pushRaw(baseUrl: string, auth: string | null, repo: string, tag: string, image: TinyImage): Promise<number> {
  const headers = (extra: Record<string, string> = {}) => ({ ...(auth ? { authorization: auth } : {}), ...extra });
  for (const blob of [image.layer, image.config]) {
    const start = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: headers() });
    if (start.status !== 202) return start.status;
    const location = new URL(start.headers.get('location')!, baseUrl);
    location.searchParams.set('digest', sha(blob));
    const put = await fetch(location, { method: 'PUT', headers: headers({ 'content-type': 'application/octet-stream' }), body: new Uint8Array(blob) });
    if (put.status !== 201) return put.status;
  }
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: headers({ 'content-type': OCI_MANIFEST }), body: new Uint8Array(image.manifest) });
  return res.status;
}

/** `skopeo login --password-stdin` into the auth file. */
export function skopeoLogin(authfile: string, host: string, password: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const login = spawn('skopeo', ['login', '--authfile', authfile, '--tls-verify=false', '--username', 'AWS', '--password-stdin', host], { env });
    let err = '';
    login.stderr.on('data', (d) => (err += d));
    login.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo login failed: ${err}`))));
    login.stdin.end(password);
  });
}

/** POSTs an ECR JSON 1.1 request signed (SigV4, service ecr) with these credentials; unsigned when null. */
export async function ecrPost(baseUrl: string, operation: string, input: object, credentials: TestCredentials | null): Promise<{ status: number; type: string | null; body: { __type?: string; message?: string } }> {
  const body = JSON.stringify(input);
  const { hostname, port } = new URL(baseUrl);
  let headers: Record<string, string> = { host: `${hostname}:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonEC2ContainerRegistry_V20150921.${operation}` };
  if (credentials) {
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const { HttpRequest } = await import('@smithy/protocol-http');
    const { Hash } = await import('@smithy/hash-node');
    const signer = new SignatureV4({ service: 'ecr', region: 'us-east-1', credentials: { ...credentials }, sha256: Hash.bind(null, 'sha256') });
    const signed = await signer.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname, port: Number(port), path: '/', headers, body }));
    headers = signed.headers as Record<string, string>;
  }
  const res = await fetch(`${baseUrl}/`, { method: 'POST', body, headers });
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: (await res.json()) as { __type?: string; message?: string } };
}
