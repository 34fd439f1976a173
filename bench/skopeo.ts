import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { SyntheticBlob } from './data.js';
import type { Target } from './targets.js';

// A whole multi-layer image pushed and pulled with skopeo. The layers are gzip (level 0:
// stored, so making them is cheap) because skopeo would otherwise gzip uncompressed layers
// on push and we would be timing its compressor. Fresh content per round and target, so
// skopeo's blob-info cache can never turn an upload into a cross-repository mount.

// skopeo's own files (the image it pushes, the copy it pulls) live in memory (/dev/shm) where
// the machine has it: they are the client's, and on the disk they would add the client's
// writeback to the disk the registries store on, landing on whichever registry runs next.
const clientScratch = (() => {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
})();

export interface SkopeoFigures {
  pushSeconds: number;
  pullSeconds: number;
}

export async function skopeoRound(target: Target, id: string, layerBlocks: number[]): Promise<SkopeoFigures> {
  const work = await mkdtemp(join(clientScratch, 'berth-bench-skopeo-'));
  try {
    const layout = join(work, 'image');
    await writeImageLayout(layout, id, layerBlocks);
    const reference = `${new URL(target.url).host}/bench/image-${id.replace(/[^a-z0-9]+/g, '-')}:v1`;
    const env = { ...process.env, HOME: join(work, 'home'), XDG_RUNTIME_DIR: join(work, 'run'), XDG_CONFIG_HOME: join(work, 'config') };
    await mkdir(env.HOME, { recursive: true });
    let t0 = performance.now();
    await runSkopeo(['copy', '--quiet', '--dest-tls-verify=false', '--dest-no-creds', `oci:${layout}:v1`, `docker://${reference}`], env);
    const pushSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await runSkopeo(['copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', `docker://${reference}`, `oci:${join(work, 'pulled')}:v1`], env);
    const pullSeconds = (performance.now() - t0) / 1000;
    const pulled = JSON.parse(await readFile(join(work, 'pulled', 'index.json'), 'utf8')) as { manifests?: unknown[] };
    if (!pulled.manifests || pulled.manifests.length !== 1) throw new Error(`skopeo pull from ${target.name} left no image in the OCI layout`);
    return { pushSeconds, pullSeconds };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function runSkopeo(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`skopeo ${args.slice(0, 2).join(' ')} ... failed (${code ?? signal}): ${stderr.trim()}`));
    });
  });
}

async function writeImageLayout(dir: string, id: string, layerBlocks: number[]): Promise<void> {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const layers: Array<{ digest: string; size: number; diffId: string }> = [];
  for (const [i, blocks] of layerBlocks.entries()) {
    const blob = new SyntheticBlob(`${id}/layer/${i}`, blocks);
    const raw = createHash('sha256');
    const packed = createHash('sha256');
    let size = 0;
    const temp = join(dir, `layer-${i}.tmp`);
    await pipeline(
      Readable.from(
        (function* () {
          for (const piece of blob.pieces()) {
            raw.update(piece);
            yield piece;
          }
        })(),
      ),
      createGzip({ level: 0 }),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          packed.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(temp),
    );
    const hex = packed.digest('hex');
    await rename(temp, join(blobsDir, hex));
    layers.push({ digest: `sha256:${hex}`, size, diffId: `sha256:${raw.digest('hex')}` });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }),
  );
  const configDigest = await writeBlob(blobsDir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }),
  );
  const manifestDigest = await writeBlob(blobsDir, manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
      ],
    }),
  );
}

async function writeBlob(dir: string, bytes: Buffer): Promise<string> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, hex), bytes);
  return `sha256:${hex}`;
}
