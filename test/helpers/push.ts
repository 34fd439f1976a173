import { readLayoutBlob, type BuiltImage, type BuiltIndex } from './images.js';

// A minimal OCI push over plain HTTP (monolithic blob uploads, then manifests), for tests
// whose subject is a pulling client and that should not depend on another client to push.

async function pushBlob(baseUrl: string, repo: string, digest: string, data: Buffer): Promise<void> {
  const res = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(data),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 201) throw new Error(`blob push of ${digest} answered ${res.status}: ${await res.text()}`);
}

async function pushManifest(baseUrl: string, repo: string, reference: string, mediaType: string, data: Buffer): Promise<void> {
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: new Uint8Array(data),
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 201) throw new Error(`manifest push of ${repo}:${reference} answered ${res.status}: ${await res.text()}`);
}

/** Pushes an image (config, layers, manifest) from an OCI layout; tags it when `tag` is given. */
export async function pushImage(baseUrl: string, layoutDir: string, repo: string, image: BuiltImage, tag?: string): Promise<void> {
  for (const descriptor of [image.config, ...image.layers.map((l) => l.descriptor)]) {
    await pushBlob(baseUrl, repo, descriptor.digest, await readLayoutBlob(layoutDir, descriptor.digest));
  }
  await pushManifest(baseUrl, repo, tag ?? image.manifest.digest, image.manifest.mediaType, image.manifestBytes);
}

/** Pushes every image of an index by digest, then the index under `tag`. */
export async function pushIndex(baseUrl: string, layoutDir: string, repo: string, index: BuiltIndex, tag: string): Promise<void> {
  for (const image of index.images) await pushImage(baseUrl, layoutDir, repo, image);
  await pushManifest(baseUrl, repo, tag, index.index.mediaType, index.indexBytes);
}
