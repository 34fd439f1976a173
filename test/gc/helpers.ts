import { createHash, randomBytes } from 'node:crypto';
import type { TestServer } from '../helpers/server.js';

// Small /v2 client for the garbage-collection tests: images of random layers, pushed and
// pulled over real HTTP with fetch.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface Blob {
  digest: string;
  bytes: Buffer;
}

export interface Image {
  blobs: Blob[];
  manifest: Buffer;
  digest: string;
}

export function blob(bytes: Buffer = randomBytes(1024 + Math.floor(Math.random() * 4096))): Blob {
  return { bytes, digest: sha256(bytes) };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An image whose config is unique and whose layers are the given blobs. */
export function image(layers: Blob[]): Image {
  const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.bytes.length })),
    }),
  );
  return { blobs: [config, ...layers], manifest, digest: sha256(manifest) };
}

export async function pushBlob(url: string, repo: string, b: Blob): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(b.digest)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(b.bytes),
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`blob push answered ${res.status}`);
}

/** Pushes the blobs, then the manifest under `tag`; true when the manifest was accepted. */
export async function pushImage(url: string, repo: string, img: Image, tag: string): Promise<{ status: number; body: string }> {
  for (const b of img.blobs) await pushBlob(url, repo, b);
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: new Uint8Array(img.manifest) });
  return { status: res.status, body: await res.text() };
}

export async function deleteManifest(url: string, repo: string, digest: string): Promise<number> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
  await res.arrayBuffer();
  return res.status;
}

export async function listTags(url: string, repo: string): Promise<string[]> {
  const res = await fetch(`${url}/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/** Pulls an image by tag; resolves to the digests of its blobs after checking every byte. */
export async function pullAndVerify(url: string, repo: string, reference: string): Promise<{ digest: string; blobs: string[] }> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
  if (res.status !== 200) throw new Error(`manifest ${repo}:${reference} answered ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const manifest = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const digests = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
  for (const digest of digests) {
    const blobRes = await fetch(`${url}/v2/${repo}/blobs/${digest}`);
    if (blobRes.status !== 200) throw new Error(`blob ${digest} of ${repo}:${reference} answered ${blobRes.status}`);
    const got = sha256(Buffer.from(await blobRes.arrayBuffer()));
    if (got !== digest) throw new Error(`blob ${digest} of ${repo}:${reference} hashes to ${got}`);
  }
  return { digest: sha256(bytes), blobs: digests };
}

/** Every digest in the server's blob store. */
export async function storedDigests(server: TestServer): Promise<Set<string>> {
  const found = new Set<string>();
  for await (const entry of server.berth.blobs.list()) found.add(entry.digest);
  return found;
}
