import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { ECRClient } from '@aws-sdk/client-ecr';
import { startBerth, testAdmin, type TestServer, type TestServerOptions } from '../helpers/server.js';

export const region = 'us-east-1';
export const credentials = { accessKeyId: testAdmin.accessKeyId, secretAccessKey: testAdmin.secretAccessKey };

// The pyenv shim in front of `aws` costs seconds per call on a loaded machine: skip it when we can.
export const awsBinary = (() => {
  const resolved = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' });
  return resolved.status === 0 && resolved.stdout.trim() ? resolved.stdout.trim() : 'aws';
})();

/** The aws CLI's environment: the test administrator, no config files, no instance metadata. */
export const awsCliEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_DEFAULT_REGION: region,
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_PAGER: '',
};

/** Runs `aws ecr ...` against `url`; returns the parsed JSON output ({} when there is none). */
export async function awsEcr(url: string, ...args: string[]): Promise<any> {
  const { stdout } = await promisify(execFile)(awsBinary, ['ecr', ...args, '--endpoint-url', url, '--output', 'json'], { env: awsCliEnv, timeout: 60_000 });
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

export interface EcrTestServer extends TestServer {
  client: ECRClient;
}

export async function startEcr(options: TestServerOptions = {}): Promise<EcrTestServer> {
  const server = await startBerth(options);
  const client = new ECRClient({ endpoint: server.url, region, credentials: { ...credentials }, maxAttempts: 1 });
  return {
    ...server,
    client,
    async stop() {
      client.destroy();
      await server.stop();
    },
  };
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Pushes a blob over /v2 in one request; returns its descriptor. */
export async function pushBlob(server: TestServer, repo: string, bytes: Buffer, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') {
  const digest = sha256(bytes);
  const res = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: new Uint8Array(bytes),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(res.status, 201, await res.text());
  return { mediaType, digest, size: bytes.length };
}

export interface TestImage {
  manifest: string;
  digest: string;
  config: { mediaType: string; digest: string; size: number };
  layers: Array<{ mediaType: string; digest: string; size: number }>;
}

/** An OCI image manifest over a config and layers already in the repository. */
export function imageManifest(config: TestImage['config'], layers: TestImage['layers'], annotations?: Record<string, string>): TestImage {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers,
    ...(annotations ? { annotations } : {}),
  });
  return { manifest, digest: sha256(manifest), config, layers };
}

/** Pushes a config and one layer over /v2 and returns an image manifest over them (not yet pushed). */
export async function prepareImage(server: TestServer, repo: string, seed: string): Promise<TestImage> {
  const config = await pushBlob(server, repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed })), 'application/vnd.oci.image.config.v1+json');
  const layer = await pushBlob(server, repo, Buffer.from(`layer bytes for ${seed} `.repeat(50)));
  return imageManifest(config, [layer]);
}

/** PUTs a manifest over /v2. */
export async function putManifestV2(server: TestServer, repo: string, reference: string, manifest: string) {
  return fetch(`${server.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
}

/** Asserts that the promise rejects with the named AWS exception; returns the error. */
export async function rejectsWith(promise: Promise<unknown>, name: string, message?: RegExp): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${name}, but the call succeeded`);
}
