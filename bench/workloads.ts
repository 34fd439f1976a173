import { randomBytes } from 'node:crypto';
import type { BodyWriter, Client } from './http.js';
import { closedLoop, pool, RequestFailed } from './http.js';
import { LeanGetConnection } from './lean-get.js';
import { SyntheticBlob, smallBlob, BLOCK } from './data.js';
import { mbPerSecond, median, quantile } from './stats.js';
import type { Target } from './targets.js';

// The workload, identical for both registries. Every function returns figures of one
// round on one target and throws on the first failed request.

export interface Sizes {
  blobCount: number;
  blobBlocks: number;
  blobConcurrency: number;
  /** Blob pull reads every blob this many times (a pull of 8 x 64 MiB alone lasts well under a second). */
  pullPasses: number;
  chunkBlocks: number;
  manifestCount: number;
  manifestConcurrency: number;
  loadConcurrency: number;
  loadMaxRequests: number;
  loadMaxMs: number;
  /** Blobs pushed one after another at a network's pace (the commit-latency figure). */
  pacedBlobCount: number;
  /** The pace, MB/s (100: a 1 Gbit/s link). */
  pacedMBps: number;
  skopeoLayerBlocks: number[];
  /** skopeo copies per round and registry; the round reports their medians (one copy lasts well under a second). */
  skopeoCopies: number;
  shaBytes: number;
  diskBytes: number;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MANIFEST_ACCEPT = [OCI_MANIFEST, 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
// Unique per run, so a registry left over from another run never deduplicates our blobs.
const runId = randomBytes(6).toString('hex');

function withQuery(path: string, key: string, value: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

function checkDigest(expected: string, got: string | string[] | undefined, what: string): void {
  if (got !== expected) throw new RequestFailed(`${what}: Docker-Content-Digest is ${String(got)}, expected ${expected}`);
}

export function makeBlobs(target: Target, round: number, kind: string, sizes: Sizes): SyntheticBlob[] {
  return Array.from({ length: sizes.blobCount }, (_, i) => new SyntheticBlob(`${runId}/${target.name}/${round}/${kind}/${i}`, sizes.blobBlocks));
}

async function startUpload(client: Client, repo: string): Promise<string> {
  const res = await client.request('POST', `/v2/${repo}/blobs/uploads/`, { expect: [202] });
  return client.pathOf(res.headers.location);
}

/** POST, then one PUT with the whole blob: the monolithic upload every registry supports. */
export async function pushMonolithic(client: Client, repo: string, blob: SyntheticBlob, body: BodyWriter = blob.writer()): Promise<void> {
  const location = await startUpload(client, repo);
  const res = await client.request('PUT', withQuery(location, 'digest', blob.digest()), {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.size },
    body,
    expect: [201],
  });
  checkDigest(blob.digest(), res.headers['docker-content-digest'], `PUT ${repo} blob`);
}

/** POST, PATCH chunk after chunk with Content-Range, then PUT ?digest= with no body. */
export async function pushChunked(client: Client, repo: string, blob: SyntheticBlob, chunkBlocks: number): Promise<void> {
  let location = await startUpload(client, repo);
  for (let from = 0; from < blob.blocks; from += chunkBlocks) {
    const to = Math.min(blob.blocks, from + chunkBlocks);
    const res = await client.request('PATCH', location, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': (to - from) * BLOCK, 'Content-Range': `${from * BLOCK}-${to * BLOCK - 1}` },
      body: blob.writer(from, to),
      expect: [202],
    });
    location = client.pathOf(res.headers.location);
  }
  const res = await client.request('PUT', withQuery(location, 'digest', blob.digest()), { expect: [201] });
  checkDigest(blob.digest(), res.headers['docker-content-digest'], `PUT ${repo} chunked blob`);
}

export async function blobPush(target: Target, repo: string, blobs: SyntheticBlob[], sizes: Sizes, chunked: boolean): Promise<number> {
  for (const blob of blobs) blob.digest(); // hashed before the clock starts
  const t0 = performance.now();
  await pool(blobs.length, sizes.blobConcurrency, (i) =>
    chunked ? pushChunked(target.client, repo, blobs[i]!, sizes.chunkBlocks) : pushMonolithic(target.client, repo, blobs[i]!),
  );
  return mbPerSecond(blobs.length * blobs[0]!.size, performance.now() - t0);
}

export async function blobPull(target: Target, repo: string, blobs: SyntheticBlob[], sizes: Sizes): Promise<number> {
  // One lean keep-alive connection per concurrent puller (see lean-get.ts for why not node's http).
  const connections = Array.from({ length: sizes.blobConcurrency }, () => new LeanGetConnection(target.client.host, target.client.port));
  let next = 0;
  try {
    const t0 = performance.now();
    await pool(sizes.blobConcurrency, sizes.blobConcurrency, async (worker) => {
      const connection = connections[worker]!;
      for (let i = next++; i < blobs.length * sizes.pullPasses; i = next++) {
        const blob = blobs[i % blobs.length]!;
        const res = await connection.get(`/v2/${repo}/blobs/${blob.digest()}`);
        if (res.status !== 200) throw new RequestFailed(`GET ${repo} blob: HTTP ${res.status}, expected 200`);
        if (res.bytes !== blob.size) throw new RequestFailed(`GET ${repo} blob: ${res.bytes} bytes, expected ${blob.size}`);
        checkDigest(blob.digest(), res.headers['docker-content-digest'], `GET ${repo} blob`);
      }
    });
    return mbPerSecond(sizes.pullPasses * blobs.length * blobs[0]!.size, performance.now() - t0);
  } finally {
    for (const connection of connections) connection.close();
  }
}

/**
 * Monolithic pushes at a network's pace, one at a time: a client on a real link sends a blob
 * slower than loopback and the disk take it, so what it waits for after its last byte (the
 * registry finishing the digest and making the blob durable) is what it feels. Returns the
 * median, over the blobs, of the milliseconds from the last byte written to the 201.
 */
export async function pacedPush(target: Target, repo: string, blobs: SyntheticBlob[], sizes: Sizes): Promise<number> {
  for (const blob of blobs) blob.digest();
  const blockMs = BLOCK / 1e6 / sizes.pacedMBps * 1000;
  const waits: number[] = [];
  for (const blob of blobs) {
    let lastByteAt = Number.NaN;
    const paced: BodyWriter = async (write) => {
      const t0 = performance.now();
      for (let block = 0; block < blob.blocks; block++) {
        const due = t0 + block * blockMs;
        const now = performance.now();
        if (due > now) await new Promise((resolve) => setTimeout(resolve, due - now));
        for (const piece of blob.pieces(block, block + 1)) await write(piece);
      }
      lastByteAt = performance.now();
    };
    await pushMonolithic(target.client, repo, blob, paced);
    // A 201 before the writer saw its last write return counts as no wait at all.
    waits.push(Number.isNaN(lastByteAt) ? 0 : Math.max(0, performance.now() - lastByteAt));
  }
  return median(waits);
}

export interface ManifestSet {
  repo: string;
  tags: string[];
  sizes: Map<string, number>;
}

/** Pushes a config and a layer, then `manifestCount` distinct manifests, each with its own tag. Returns manifests/s. */
export async function manifestPush(target: Target, round: number, sizes: Sizes): Promise<{ perSecond: number; set: ManifestSet }> {
  const repo = `bench/manifests-${round}`;
  const layer = smallBlob(randomBytes(4096));
  const config = smallBlob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: {} }));
  for (const blob of [layer, config]) {
    const location = await startUpload(target.client, repo);
    await target.client.request('PUT', withQuery(location, 'digest', blob.digest), { headers: { 'Content-Type': 'application/octet-stream' }, body: blob.bytes, expect: [201] });
  }
  const manifests = Array.from({ length: sizes.manifestCount }, (_, i) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.bytes.length }],
        annotations: { 'org.example.bench': `${runId}-${target.name}-${round}-${i}` },
      }),
    ),
  );
  const set: ManifestSet = { repo, tags: [], sizes: new Map() };
  const t0 = performance.now();
  await pool(manifests.length, sizes.manifestConcurrency, async (i) => {
    const body = manifests[i]!;
    await target.client.request('PUT', `/v2/${repo}/manifests/t${i}`, { headers: { 'Content-Type': OCI_MANIFEST }, body, expect: [201] });
  });
  const perSecond = manifests.length / ((performance.now() - t0) / 1000);
  // GETs cycle over a handful of tags, as CI does with `latest` and friends.
  for (let i = 0; i < Math.min(16, manifests.length); i++) {
    set.tags.push(`t${i}`);
    set.sizes.set(`t${i}`, manifests[i]!.length);
  }
  return { perSecond, set };
}

export interface LoadFigures {
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
}

export async function manifestGet(target: Target, set: ManifestSet, sizes: Sizes): Promise<LoadFigures> {
  const result = await closedLoop(sizes.loadConcurrency, sizes.loadMaxRequests, sizes.loadMaxMs, async (i) => {
    const tag = set.tags[i % set.tags.length]!;
    const res = await target.client.request('GET', `/v2/${set.repo}/manifests/${tag}`, { headers: { Accept: MANIFEST_ACCEPT }, expect: [200] });
    if (res.bytes !== set.sizes.get(tag)) throw new RequestFailed(`GET ${set.repo}:${tag}: ${res.bytes} bytes, expected ${set.sizes.get(tag)}`);
  });
  return loadFigures(result);
}

export async function blobHead(target: Target, repo: string, blobs: SyntheticBlob[], sizes: Sizes): Promise<LoadFigures> {
  const result = await closedLoop(sizes.loadConcurrency, sizes.loadMaxRequests, sizes.loadMaxMs, async (i) => {
    const blob = blobs[i % blobs.length]!;
    const res = await target.client.request('HEAD', `/v2/${repo}/blobs/${blob.digest()}`, { expect: [200] });
    if (Number(res.headers['content-length']) !== blob.size) throw new RequestFailed(`HEAD ${repo} blob: Content-Length ${res.headers['content-length']}, expected ${blob.size}`);
  });
  return loadFigures(result);
}

function loadFigures(result: { requests: number; ms: number; latenciesMs: number[] }): LoadFigures {
  return { requests: result.requests, perSecond: result.requests / (result.ms / 1000), p50: quantile(result.latenciesMs, 0.5), p99: quantile(result.latenciesMs, 0.99) };
}
