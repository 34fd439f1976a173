import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

// A small distribution-spec client for the conformance tests: plain fetch over loopback,
// plus a raw socket for requests fetch refuses to send (bodies shorter than Content-Length).

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
}

export class Registry {
  constructor(readonly url: string) {}

  /** One request; `path` starts with /v2. Redirects are returned, not followed. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const init: RequestInit & { duplex?: 'half' } = { method, headers: options.headers, redirect: 'manual' };
    if (options.body !== undefined) {
      init.body = options.body as BodyInit;
      if (options.body instanceof ReadableStream) init.duplex = 'half';
    }
    return fetch(this.url + path, init);
  }

  /** Pushes a blob in one POST with ?digest= and returns its descriptor. */
  async pushBlob(repo: string, bytes: Uint8Array | string, mediaType: string = MediaTypes.ociLayer): Promise<Descriptor> {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const digest = sha256(data);
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    await res.arrayBuffer();
    assert.equal(res.status, 201, `pushing blob ${digest} to ${repo}`);
    return { mediaType, digest, size: data.length };
  }

  /** PUTs a manifest (an object, serialised here, or exact bytes) and returns its digest and the response. */
  async pushManifest(repo: string, reference: string, manifest: object | Buffer, mediaType?: string): Promise<{ digest: string; bytes: Buffer; res: Response }> {
    const bytes = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
    const type = mediaType ?? ((manifest as { mediaType?: string }).mediaType || MediaTypes.ociManifest);
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'Content-Type': type }, body: bytes });
    await res.arrayBuffer();
    return { digest: sha256(bytes), bytes, res };
  }

  /** Pushes a config and `layers` random layers, then an OCI image manifest tagged `tag`. */
  async pushImage(repo: string, tag: string, options: { layers?: number; layerSize?: number; docker?: boolean } = {}): Promise<Image> {
    const docker = options.docker ?? false;
    const layers: Descriptor[] = [];
    for (let i = 0; i < (options.layers ?? 1); i++) {
      layers.push(await this.pushBlob(repo, randomBytes(options.layerSize ?? 512), docker ? MediaTypes.dockerLayer : MediaTypes.ociLayer));
    }
    const config = await this.pushBlob(
      repo,
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, nonce: randomBytes(8).toString('hex') }),
      docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
      config,
      layers,
    };
    const pushed = await this.pushManifest(repo, tag, manifest);
    assert.equal(pushed.res.status, 201, `pushing manifest ${repo}:${tag}`);
    return { manifest, digest: pushed.digest, bytes: pushed.bytes, config, layers };
  }

  async tags(repo: string): Promise<string[]> {
    const res = await this.request('GET', `/v2/${repo}/tags/list`);
    if (res.status === 404) {
      await res.arrayBuffer();
      return [];
    }
    assert.equal(res.status, 200);
    return ((await res.json()) as { tags: string[] }).tags;
  }

  async blobStatus(repo: string, digest: string): Promise<number> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`);
    return res.status;
  }

  async manifestStatus(repo: string, reference: string): Promise<number> {
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${reference}`);
    return res.status;
  }

  /** Opens an upload session and returns its Location (a path). */
  async startUpload(repo: string): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`);
    await res.arrayBuffer();
    assert.equal(res.status, 202);
    const location = res.headers.get('location');
    assert.ok(location, 'POST answers with a Location');
    return pathOf(location);
  }
}

export interface Image {
  manifest: { schemaVersion: number; mediaType: string; config: Descriptor; layers: Descriptor[] };
  digest: string;
  bytes: Buffer;
  config: Descriptor;
  layers: Descriptor[];
}

/** A Location may be absolute or relative; tests follow it on the same server. */
export function pathOf(location: string): string {
  return location.startsWith('http') ? new URL(location).pathname + new URL(location).search : location;
}

/** Appends a query parameter to a Location that may already carry a query. */
export function withQuery(location: string, key: string, value: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

/** Asserts the status and the OCI error JSON body, whose first error carries `code`. Returns that error. */
export async function expectError(res: Response, status: number, code: string): Promise<{ code: string; message: string; detail?: unknown }> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text.slice(0, 300)}`);
  let body: { errors?: Array<{ code: string; message: string; detail?: unknown }> };
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${text.slice(0, 300)}`);
  }
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `error body has an errors array: ${text.slice(0, 300)}`);
  assert.equal(body.errors[0]!.code, code, `error code in ${text.slice(0, 300)}`);
  assert.equal(typeof body.errors[0]!.message, 'string');
  return body.errors[0]!;
}

/** Reads the whole body as bytes. */
export async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

export interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/**
 * Sends a request whose body stops short of its Content-Length, then closes the socket:
 * a client that died mid-upload. Resolves once the server has seen the close (or replied).
 */
export function sendTruncated(url: string, method: string, path: string, headers: Record<string, string>, body: Buffer, hangUpAfterMs = 50, waitMs = 150): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      const head = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
      socket.write(head);
      socket.write(body, () => {
        // Hang up mid-body: at once (while the server is still setting up), or after it
        // has had a moment to stream what arrived.
        setTimeout(() => {
          socket.destroy();
          setTimeout(resolve, waitMs);
        }, hangUpAfterMs);
      });
    });
    socket.on('error', reject);
  });
}

/** The bytes of a small JSON value, as pushed (so digests are computed over exactly these). */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function emptyConfigDescriptor(): Descriptor {
  return { mediaType: MediaTypes.ociEmpty, digest: sha256('{}'), size: 2 };
}
