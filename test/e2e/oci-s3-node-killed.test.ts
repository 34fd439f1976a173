import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';
import { removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';

// Two real `berth serve` processes on one PostgreSQL database and one S3 bucket take pushes
// from several clients at once. Node A is SIGKILLed in the middle. Through node B, every
// blob and manifest either node acknowledged (201) is there byte for byte, and the uploads
// A had started (and acknowledged chunks of) are continued and finished on B.

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CLIENTS = 6;
/** Node A dies once this many pushes (blobs and manifests) were acknowledged across the cluster. */
const KILL_AFTER_ACKS = 24;

interface Ack {
  node: 'A' | 'B';
  repo: string;
  digest: string;
  bytes: Buffer;
  tag?: string;
}

interface OpenUpload {
  path: string;
  data: Buffer;
  acked: number;
}

test('a node SIGKILLed mid-push loses nothing either node acknowledged; its uploads finish on the other node', async (t) => {
  if (!requireS3(t) || !(await requirePostgres(t))) return;
  const env = s3TestEnv()!;
  const database = await createTestDatabase();
  const prefix = `killed-${randomBytes(6).toString('hex')}`;
  const storage = `s3://${testBucket}/${prefix}?endpoint=${encodeURIComponent(env.endpoint)}&region=${env.region}&createBucket=true&checksums=${env.checksums}`;
  const childEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_') && !name.startsWith('AWS_'))),
    AWS_ACCESS_KEY_ID: env.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
  };
  const args = ['--metadata', database.url, '--storage', storage];
  const nodes: Record<'A' | 'B', BerthProcess> = { A: await spawnBerth(args, { env: childEnv }), B: await spawnBerth(args, { env: childEnv }) };
  t.after(async () => {
    await nodes.A.stop();
    await nodes.B.stop();
    await database.drop();
    await removePrefix(testBucket, `${prefix}/`);
  });

  // Uploads A starts and acknowledges a first chunk of, never completed there.
  const open: OpenUpload[] = [];
  for (let i = 0; i < 2; i++) {
    const data = randomBytes(700_000 + i);
    const start = await fetch(`${nodes.A.url}/v2/killed/open/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const path = start.headers.get('location')!;
    const acked = 300_000;
    const patched = await fetch(`${nodes.A.url}${path}`, { method: 'PATCH', body: new Uint8Array(data.subarray(0, acked)), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${acked - 1}` } });
    assert.equal(patched.status, 202);
    open.push({ path, data, acked });
  }

  const acks: Ack[] = [];
  let killed = false;
  const killedAt = (async () => {
    while (acks.length < KILL_AFTER_ACKS) await new Promise((r) => setTimeout(r, 5));
    nodes.A.child.kill('SIGKILL');
    killed = true;
    await nodes.A.exited;
  })();

  async function client(c: number): Promise<void> {
    const name: 'A' | 'B' = c % 2 === 0 ? 'A' : 'B';
    const base = nodes[name].url;
    const repo = `killed/client${c}`;
    let roundsAfterKill = 0;
    for (let round = 0; !(name === 'A' && killed) && round < 50; round++) {
      // B goes on through the kill and pushes one more whole image after it.
      if (killed && roundsAfterKill++ === 1) break;
      try {
        const layer = randomBytes(200_000 + c * 1000 + round);
        const layerDigest = await pushChunked(base, repo, layer);
        acks.push({ node: name, repo, digest: layerDigest, bytes: layer });
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', client: c, round, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
        const configDigest = await pushMonolithic(base, repo, config);
        acks.push({ node: name, repo, digest: configDigest, bytes: config });
        const manifest = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MANIFEST,
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
          }),
        );
        const tag = `r${round}`;
        const put = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'Content-Type': MANIFEST } });
        if (put.status !== 201) throw new Error(`manifest PUT answered ${put.status}`);
        assert.equal(put.headers.get('docker-content-digest'), sha256(manifest));
        acks.push({ node: name, repo, digest: sha256(manifest), bytes: manifest, tag });
      } catch (err) {
        // Only requests to the killed node may fail.
        if (name === 'A' && killed) return;
        throw err;
      }
    }
  }

  await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), killedAt]);
  assert.ok(killed, 'node A was killed');
  const fromA = acks.filter((a) => a.node === 'A').length;
  assert.ok(fromA > 0 && acks.length - fromA > 0, `both nodes acknowledged pushes (A ${fromA}, all ${acks.length})`);
  t.diagnostic(`acknowledged before and around the kill: ${fromA} by A, ${acks.length - fromA} by B`);
  assert.equal((await fetch(`${nodes.A.url}/v2/`).catch(() => null))?.status, undefined, 'node A is gone');

  // Everything acknowledged, through B.
  for (const ack of acks) {
    const kind = ack.tag ? 'manifests' : 'blobs';
    for (const reference of ack.tag ? [ack.digest, ack.tag] : [ack.digest]) {
      const res = await fetch(`${nodes.B.url}/v2/${ack.repo}/${kind}/${reference}`, { headers: ack.tag ? { Accept: MANIFEST } : {} });
      assert.equal(res.status, 200, `${kind} ${reference} of ${ack.repo}, acknowledged by node ${ack.node}`);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(sha256(body), ack.digest, `${kind} ${reference} of ${ack.repo}`);
    }
  }

  // The uploads A started go on at B from where B says they stand (at least what A acknowledged).
  for (const upload of open) {
    const status = await fetch(`${nodes.B.url}${upload.path}`);
    assert.equal(status.status, 204);
    const end = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1]) + 1;
    assert.ok(end >= upload.acked && end <= upload.data.length, `upload at ${end} bytes, A acknowledged ${upload.acked}`);
    const done = await fetch(`${nodes.B.url}${upload.path}?digest=${sha256(upload.data)}`, {
      method: 'PUT',
      body: new Uint8Array(upload.data.subarray(end)),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(done.status, 201);
    const pulled = await fetch(`${nodes.B.url}/v2/killed/open/blobs/${sha256(upload.data)}`);
    assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), sha256(upload.data));
  }
});

async function pushChunked(base: string, repo: string, data: Buffer): Promise<string> {
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload POST answered ${start.status}`);
  const path = start.headers.get('location')!;
  const half = Math.floor(data.length / 2);
  const patched = await fetch(`${base}${path}`, { method: 'PATCH', body: new Uint8Array(data.subarray(0, half)), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${half - 1}` } });
  if (patched.status !== 202) throw new Error(`PATCH answered ${patched.status}`);
  const digest = sha256(data);
  const done = await fetch(`${base}${path}?digest=${digest}`, { method: 'PUT', body: new Uint8Array(data.subarray(half)), headers: { 'Content-Type': 'application/octet-stream' } });
  if (done.status !== 201) throw new Error(`upload PUT answered ${done.status}`);
  return digest;
}

async function pushMonolithic(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(data), headers: { 'Content-Type': 'application/octet-stream' } });
  if (res.status !== 201) throw new Error(`monolithic upload answered ${res.status}`);
  return digest;
}
