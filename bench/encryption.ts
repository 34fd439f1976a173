import { createCipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { kmsClient, kmsOk } from '../test/helpers/kms.js';
import { pool } from './http.js';
import { formatNumber, mbPerSecond, median, MiB } from './stats.js';
import { startBerth, type Target } from './targets.js';
import { blobPull, blobPush, makeBlobs, type Sizes } from './workloads.js';

// BENCH_ONLY=encryption: KMS-encrypted against unencrypted repositories on one Berth, in
// the same run, push and pull, with AES-256-GCM's single-core speed (64 KiB segments, as
// the store uses) as the limit; and blob pulls over HTTPS against plain HTTP, each through
// node's keep-alive client (the same client on both sides).

/** AES-256-GCM over `totalBytes` in 64 KiB segments on this thread, MB/s. */
export function aesGcmThroughput(totalBytes: number): number {
  const key = randomBytes(32);
  const segment = randomBytes(64 * 1024);
  const iv = Buffer.alloc(12);
  const t0 = performance.now();
  for (let done = 0, i = 0; done < totalBytes; done += segment.length, i++) {
    iv.writeUInt32BE(i, 4);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.update(segment);
    c.final();
    c.getAuthTag();
  }
  return mbPerSecond(totalBytes, performance.now() - t0);
}

async function adminCredentials(target: Target): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const text = await readFile(join(target.dataDir, 'credentials'), 'utf8');
  return { accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(text)![1]!, secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(text)![1]! };
}

async function createEncryptedRepository(target: Target, name: string): Promise<void> {
  const credentials = await adminCredentials(target);
  const kms = kmsOk(kmsClient(target.url, credentials));
  const key = (await kms('CreateKey', { Description: 'bench' })).KeyMetadata;
  const { ECRClient, CreateRepositoryCommand } = await import('@aws-sdk/client-ecr');
  const ecr = new ECRClient({ endpoint: target.url, region: 'us-east-1', credentials });
  await ecr.send(new CreateRepositoryCommand({ repositoryName: name, encryptionConfiguration: { encryptionType: 'KMS', kmsKey: key.Arn } }));
  ecr.destroy();
}

/** Pulls every blob `passes` times through node's keep-alive http(s) client: MB/s. */
async function nodeClientPull(url: string, repo: string, digests: { digest: string; size: number }[], passes: number, concurrency: number, ca?: Buffer): Promise<number> {
  const tls = url.startsWith('https:');
  const agent = tls ? new HttpsAgent({ keepAlive: true, maxSockets: concurrency, ...(ca ? { ca } : {}) }) : new HttpAgent({ keepAlive: true, maxSockets: concurrency });
  const get = tls ? httpsGet : httpGet;
  let next = 0;
  const t0 = performance.now();
  await pool(concurrency, concurrency, async () => {
    for (let i = next++; i < digests.length * passes; i = next++) {
      const blob = digests[i % digests.length]!;
      const bytes = await new Promise<number>((resolve, reject) => {
        get(`${url}/v2/${repo}/blobs/${blob.digest}`, { agent }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))));
          res.on('error', reject);
        }).on('error', reject);
      });
      if (bytes !== blob.size) throw new Error(`pulled ${bytes} bytes, expected ${blob.size}`);
    }
  });
  const elapsed = performance.now() - t0;
  agent.destroy();
  return mbPerSecond(digests.length * passes * digests[0]!.size, elapsed);
}

export async function encryptionBench(sizes: Sizes, rounds: number, log: (line: string) => void): Promise<void> {
  const aes = aesGcmThroughput(sizes.shaBytes);
  log(`AES-256-GCM, one core, 64 KiB segments: ${formatNumber(aes)} MB/s`);
  const plain = await startBerth();
  const tls = await startBerth(['--tls-self-signed']);
  const figures = { pushPlain: [] as number[], pushEnc: [] as number[], pullPlain: [] as number[], pullEnc: [] as number[], pullHttp: [] as number[], pullHttps: [] as number[] };
  try {
    await createEncryptedRepository(plain, 'bench/encrypted');
    const ca = await readFile(join(tls.dataDir, 'tls', 'ca.pem'));
    for (let round = 0; round < rounds; round++) {
      // Interleaved, plain first on even rounds and encrypted first on odd ones.
      const a = makeBlobs(plain, round, 'enc-bench-plain', sizes);
      const b = makeBlobs(plain, round, 'enc-bench-encrypted', sizes);
      const order: ['plain' | 'enc', typeof a][] = round % 2 === 0 ? [['plain', a], ['enc', b]] : [['enc', b], ['plain', a]];
      for (const [kind, blobs] of order) {
        const mbps = await blobPush(plain, kind === 'plain' ? 'bench/plain' : 'bench/encrypted', blobs, sizes, false);
        (kind === 'plain' ? figures.pushPlain : figures.pushEnc).push(mbps);
      }
      for (const [kind, blobs] of order) {
        const mbps = await blobPull(plain, kind === 'plain' ? 'bench/plain' : 'bench/encrypted', blobs, sizes);
        (kind === 'plain' ? figures.pullPlain : figures.pullEnc).push(mbps);
      }
      // HTTP against HTTPS: the same blobs on two servers (plain repositories), one client.
      const c = makeBlobs(tls, round, 'tls-bench', sizes);
      await blobPush(plain, 'bench/tls', c, sizes, false);
      const tlsPush = await startUploadsOverTls(tls, c, ca);
      void tlsPush;
      const digests = c.map((blob) => ({ digest: blob.digest(), size: blob.size }));
      figures.pullHttp.push(await nodeClientPull(plain.url, 'bench/tls', digests, sizes.pullPasses, sizes.blobConcurrency));
      figures.pullHttps.push(await nodeClientPull(tls.url, 'bench/tls', digests, sizes.pullPasses, sizes.blobConcurrency, ca));
    }
  } finally {
    await plain.stop();
    await tls.stop();
  }
  const m = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, median(v)])) as Record<keyof typeof figures, number>;
  log(`push, unencrypted:  ${formatNumber(m.pushPlain)} MB/s`);
  log(`push, KMS:          ${formatNumber(m.pushEnc)} MB/s  = ${(m.pushEnc / m.pushPlain).toFixed(2)}x (goal >= 0.8)`);
  log(`pull, unencrypted:  ${formatNumber(m.pullPlain)} MB/s`);
  log(`pull, KMS:          ${formatNumber(m.pullEnc)} MB/s  = ${(m.pullEnc / m.pullPlain).toFixed(2)}x (goal >= 0.6); AES-GCM limit ${formatNumber(aes)} MB/s`);
  log(`pull, HTTP:         ${formatNumber(m.pullHttp)} MB/s (node's keep-alive client)`);
  log(`pull, HTTPS:        ${formatNumber(m.pullHttps)} MB/s  = ${(m.pullHttps / m.pullHttp).toFixed(2)}x (goal >= 0.7)`);
  log(`(${rounds} round(s), ${sizes.blobCount} blobs of ${sizes.blobBlocks} MiB, ${sizes.blobConcurrency} at a time, pulls x${sizes.pullPasses}; medians)`);
}

/** Monolithic pushes of the same blobs to the HTTPS server (POST then PUT), through node's https client. */
async function startUploadsOverTls(target: Target, blobs: ReturnType<typeof makeBlobs>, ca: Buffer): Promise<void> {
  const { request } = await import('node:https');
  const send = (method: string, path: string, body?: (write: (c: Buffer) => Promise<void>) => Promise<void>, length?: number) =>
    new Promise<{ status: number; location?: string }>((resolve, reject) => {
      const req = request(`${target.url}${path}`, { method, ca, headers: length !== undefined ? { 'content-length': String(length), 'content-type': 'application/octet-stream' } : {} }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, ...(typeof res.headers.location === 'string' ? { location: res.headers.location } : {}) }));
      });
      req.on('error', reject);
      if (!body) return void req.end();
      body((c) => new Promise<void>((r) => (req.write(c) ? r() : req.once('drain', r)))).then(() => req.end(), reject);
    });
  await pool(blobs.length, 2, async (i) => {
    const blob = blobs[i]!;
    const started = await send('POST', '/v2/bench/tls/blobs/uploads/');
    const location = new URL(started.location!, target.url);
    location.searchParams.set('digest', blob.digest());
    const done = await send('PUT', `${location.pathname}${location.search}`, blob.writer(), blob.size);
    if (done.status !== 201) throw new Error(`HTTPS push: HTTP ${done.status}`);
  });
}
void MiB;
