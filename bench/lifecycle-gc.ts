import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEcrServices, registerEcrJobs } from '../src/domain/ecr/index.js';
import { collectGarbage } from '../src/domain/gc.js';
import { JobRunner } from '../src/domain/jobs.js';
import { RegistryService } from '../src/domain/registry-service.js';
import { FsBlobStore } from '../src/stores/blob/fs-blob-store.js';
import { SqlEcrStore } from '../src/stores/metadata/sql-ecr-store.js';
import { SqlMetadataStore } from '../src/stores/metadata/sql-metadata-store.js';

// Lifecycle evaluation and preview (and paging through all its results) over a repository
// of N images, and garbage collection over N blobs, each with wall time and peak memory
// (RSS and heap, sampled every 10 ms).
//   npm run bench:gc -- [--images 100000] [--blobs 100000]
// Data is written straight into SQLite and the blob folder (setup is not measured).

const { values } = parseArgs({ options: { images: { type: 'string', default: '100000' }, blobs: { type: 'string', default: '100000' } } });
const IMAGES = Number(values.images);
const BLOBS = Number(values.blobs);
const DAY = 86_400_000;
const REGISTRY = '000000000000';

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// Peak RSS is the kernel's (process-wide high-water mark, so each line reports the peak
// so far). Heap is sampled by a timer and at the end; with SQLite (synchronous driver) the
// timer fires rarely, so the heap figure is a lower bound.
async function measure<T>(name: string, work: () => Promise<T>, describe: (result: T) => Record<string, unknown>): Promise<void> {
  global.gc?.();
  const base = process.memoryUsage().heapUsed;
  let peakHeap = base;
  const sample = () => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed));
  const sampler = setInterval(sample, 10);
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  sample();
  clearInterval(sampler);
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({ bench: name, ms: Math.round(ms), peakRssMiB: mib(process.resourceUsage().maxRSS * 1024), peakHeapMiB: mib(peakHeap), heapGrowthMiB: mib(peakHeap - base), ...describe(result) })}\n`,
  );
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-gc-'));
  try {
    const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'meta.db') });
    await meta.migrate();
    const blobs = await new FsBlobStore(join(dir, 'storage')).init();
    const ecrStore = new SqlEcrStore(meta.db);
    const registry = new RegistryService({ blobs, meta, limits: { manifestMaxBytes: 4 << 20, maxPageSize: 1000 } });
    // Previews run as jobs; this runner is drained by hand, not started.
    const jobs = new JobRunner({ store: meta.jobs });
    const ecr = createEcrServices({ registry, meta, ecr: ecrStore, jobs }, { downloadUrlTtlMs: 60_000 });
    registerEcrJobs(jobs, ecr);
    const now = Date.now();

    // ---- lifecycle over IMAGES images ----
    const repo = await meta.ensureRepository(REGISTRY, 'bench/lifecycle', now);
    process.stderr.write(`setup: ${IMAGES} images\n`);
    // Pushes spread over 70 days whatever the count, so every rule below acts at every size.
    const spacing = Math.floor((70 * DAY) / IMAGES);
    const keepReleases = Math.min(1000, Math.floor(IMAGES / 40));
    for (let start = 0; start < IMAGES; start += 5000) {
      await meta.db.transaction().execute(async (trx) => {
        for (let i = start; i < Math.min(IMAGES, start + 5000); i += 250) {
          const rows = [];
          const tags = [];
          for (let j = i; j < Math.min(IMAGES, i + 250); j++) {
            const content = Buffer.from(JSON.stringify({ schemaVersion: 2, n: j }));
            const digest = sha256(content);
            rows.push({ repository_id: repo.id, digest, media_type: 'application/vnd.oci.image.manifest.v1+json', artifact_type: null, subject_digest: null, size: content.length, content, annotations: null, pushed_at: now - (IMAGES - j) * spacing });
            if (j % 2 === 0) tags.push({ repository_id: repo.id, name: `${j % 4 === 0 ? 'release' : 'dev'}-${j}`, manifest_digest: digest, updated_at: now });
          }
          await trx.insertInto('manifests').values(rows).execute();
          if (tags.length > 0) await trx.insertInto('tags').values(tags).execute();
        }
      });
    }
    const policy = JSON.stringify({
      rules: [
        { rulePriority: 1, description: `keep ${keepReleases} releases`, selection: { tagStatus: 'tagged', tagPatternList: ['release-*'], countType: 'imageCountMoreThan', countNumber: keepReleases }, action: { type: 'expire' } },
        { rulePriority: 2, description: 'dev builds for 30 days', selection: { tagStatus: 'tagged', tagPrefixList: ['dev'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } },
        { rulePriority: 3, description: 'archive untagged unpulled for 7 days', selection: { tagStatus: 'untagged', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 7 }, action: { type: 'transition', targetStorageClass: 'archive' } },
      ],
    });
    await ecrStore.putLifecyclePolicy(repo.id, policy, now);
    const caller = { accountId: REGISTRY, region: 'us-east-1', registryHost: 'localhost' };
    await measure(
      'lifecycle preview',
      async () => {
        await ecr.lifecycle.startPreview(caller, 'bench/lifecycle');
        await jobs.drain();
        return ecr.lifecycle.getPreview(caller, 'bench/lifecycle', undefined, undefined, { limit: 1000 });
      },
      (r) => ({ images: IMAGES, expiring: r.summary?.expiringImageTotalCount, transitioning: r.summary?.transitioningImageTotalCounts?.[0]?.imageTotalCount ?? 0 }),
    );
    // A client paging through every result at ECR's largest page size.
    await measure(
      'lifecycle preview, list all results',
      async () => {
        let pages = 0;
        let results = 0;
        let after: string | undefined;
        do {
          const page = await ecr.lifecycle.getPreview(caller, 'bench/lifecycle', undefined, undefined, { limit: 1000, after });
          pages += 1;
          results += page.previewResults.length;
          after = page.next ?? undefined;
        } while (after !== undefined);
        return { pages, results };
      },
      (r) => ({ images: IMAGES, pages: r.pages, results: r.results }),
    );
    await measure('lifecycle evaluation (dry run)', () => ecr.lifecycle.run({ registryId: REGISTRY, repositoryName: 'bench/lifecycle', dryRun: true }), (r) => ({ images: IMAGES, expiring: r[0]!.expired.length }));

    // ---- GC over BLOBS blobs: half referenced by manifests, half garbage ----
    process.stderr.write(`setup: ${BLOBS} blobs\n`);
    const gcRepo = await meta.ensureRepository(REGISTRY, 'bench/gc', now);
    const old = new Date(now - 2 * 3_600_000);
    for (let start = 0; start < BLOBS; start += 1000) {
      const batch: { digest: string; bytes: Buffer; kept: boolean }[] = [];
      for (let i = start; i < Math.min(BLOBS, start + 1000); i++) {
        const bytes = randomBytes(64);
        batch.push({ digest: sha256(bytes), bytes, kept: i % 2 === 0 });
      }
      for (const b of batch) {
        const hex = b.digest.slice(7);
        const path = join(blobs.root, 'blobs', 'sha256', hex.slice(0, 2), hex);
        await writeFile(path, b.bytes);
        await utimes(path, old, old);
      }
      await meta.db.transaction().execute(async (trx) => {
        await trx.insertInto('blobs').values(batch.map((b) => ({ digest: b.digest, size: 64, created_at: old.getTime(), incarnation: 'bench', gc_marked_at: null }))).execute();
        const kept = batch.filter((b) => b.kept);
        await trx.insertInto('repository_blobs').values(kept.map((b) => ({ repository_id: gcRepo.id, digest: b.digest, created_at: old.getTime() }))).execute();
        // One manifest per 10 kept blobs.
        for (let i = 0; i < kept.length; i += 10) {
          const refs = kept.slice(i, i + 10);
          const content = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: refs.map((r) => r.digest) }));
          const digest = sha256(content);
          await trx.insertInto('manifests').values({ repository_id: gcRepo.id, digest, media_type: 'application/vnd.oci.image.manifest.v1+json', artifact_type: null, subject_digest: null, size: content.length, content, annotations: null, pushed_at: old.getTime() }).execute();
          await trx.insertInto('manifest_references').values(refs.map((r) => ({ repository_id: gcRepo.id, manifest_digest: digest, child_digest: r.digest, child_kind: 'blob' as const }))).execute();
        }
      });
    }
    const phases = (label: string) => {
      let last = performance.now();
      return (p: { phase: string }) => {
        if (process.env.BENCH_PHASES) process.stderr.write(`  ${label} ${p.phase} +${Math.round(performance.now() - last)}ms\n`);
        last = performance.now();
      };
    };
    await measure('gc dry run', () => collectGarbage(blobs, meta, { graceMs: 3_600_000, dryRun: true, onProgress: phases('dry') }), (r) => ({ blobs: BLOBS, collectable: r.blobsDeleted }));
    await measure('gc', () => collectGarbage(blobs, meta, { graceMs: 3_600_000, onProgress: phases('gc') }), (r) => ({ blobs: BLOBS, deleted: r.blobsDeleted, orphans: r.orphansDeleted, bytesFreed: r.bytesFreed }));
    await meta.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
