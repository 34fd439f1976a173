// `npm run bench`: Berth against CNCF Distribution on loopback, same workload, rounds
// interleaved, medians and ratios. See BENCHMARKS.md for how to run and read it.
//
//   BENCH_QUICK=1              small sizes, one round: a smoke run of the harness
//   BENCH_NO_DISTRIBUTION=1    Berth alone
//   BENCH_ROUNDS=N             rounds (default 3; 1 when quick)
//   BENCH_DISTRIBUTION_BIN     the Distribution binary (default: docker-registry on PATH)
//   BENCH_BERTH_NODE_FLAGS     extra node flags for the Berth process (e.g. --cpu-prof)
//   BENCH_SETTLE_MS            sync, then rest this long before each registry's turn at a
//                              workload that writes a lot, or that follows one (default 5000
//                              in a full run, 0 quick)
//   BENCH_AUTH=0               leave out the authorized Berth (authentication and IAM policies on,
//                              as users run it), which runs beside the open one (BERTH_AUTH_V2=false)
//                              at manifest-push, manifest-get, push and head
//   BENCH_ONLY=a,b             only these workloads (push, chunked, paced, pull, manifest-push,
//                              manifest-get, head, skopeo); what they need still runs, unreported;
//                              lifecycle-gc: the last stage (lifecycle and GC at scale), alone
//                              when it is the only one named; encryption: KMS-encrypted
//                              against plain repositories and HTTPS against HTTP pulls
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { diskWriteThroughput, sha256Throughput } from './limits.js';
import { record, renderReport, type Limits, type Results } from './report.js';
import { skopeoRound } from './skopeo.js';
import { formatNumber, median, MiB } from './stats.js';
import { AUTHORIZED_BERTH, cpuPressure, startAuthorizedBerth, startBerth, startDistribution, type Target } from './targets.js';
import { blobHead, blobPull, blobPush, makeBlobs, manifestGet, manifestPush, pacedPush, type ManifestSet, type Sizes } from './workloads.js';
import type { SyntheticBlob } from './data.js';

const quick = process.env.BENCH_QUICK === '1';
const rounds = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`BENCH_ROUNDS must be an integer from 1 to 50, not ${process.env.BENCH_ROUNDS}`);

const fullSizes: Sizes = {
  blobCount: 8,
  blobBlocks: 64, // 64 MiB
  blobConcurrency: 4,
  pullPasses: 4,
  chunkBlocks: 8, // 8 MiB PATCHes
  manifestCount: 400,
  manifestConcurrency: 8,
  loadConcurrency: 32,
  loadMaxRequests: 30_000,
  loadMaxMs: 5_000,
  pacedBlobCount: 4,
  pacedMBps: 100,
  skopeoLayerBlocks: [32, 16, 8, 4, 2, 1],
  skopeoCopies: 5,
  shaBytes: 512 * MiB,
  diskBytes: 256 * MiB,
};
const quickSizes: Sizes = {
  blobCount: 2,
  blobBlocks: 2,
  blobConcurrency: 2,
  pullPasses: 1,
  chunkBlocks: 1,
  manifestCount: 20,
  manifestConcurrency: 4,
  loadConcurrency: 32,
  loadMaxRequests: 400,
  loadMaxMs: 1_500,
  pacedBlobCount: 1,
  pacedMBps: 100,
  skopeoLayerBlocks: [1, 1],
  skopeoCopies: 1,
  shaBytes: 32 * MiB,
  diskBytes: 16 * MiB,
};
const sizes = quick ? quickSizes : fullSizes;

const workloads = ['push', 'chunked', 'paced', 'pull', 'manifest-push', 'manifest-get', 'head', 'skopeo'] as const;
type Workload = (typeof workloads)[number];
const only = (process.env.BENCH_ONLY ?? '').split(',').filter((w) => w.length > 0);
for (const w of only) if (!(workloads as readonly string[]).includes(w) && w !== 'lifecycle-gc' && w !== 'encryption') throw new Error(`BENCH_ONLY: unknown workload ${w}; known: ${workloads.join(', ')}, lifecycle-gc, encryption`);
const selected = (w: Workload) => only.length === 0 || only.includes(w);
/** Runs when selected or when a selected workload needs what it leaves behind. */
const needed = (w: Workload) => selected(w) || (w === 'push' && (selected('pull') || selected('head'))) || (w === 'manifest-push' && selected('manifest-get'));

function hasCommand(command: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

class RoundError extends Error {}

/**
 * Before each registry's turn at a workload that writes a lot, or that comes right after
 * the pushes (the pull), flush the page cache and let the disk rest, so that neither
 * registry is measured while the kernel still writes back what the other one wrote.
 */
const settleMs = Number(process.env.BENCH_SETTLE_MS ?? (quick ? 0 : 5000));
if (!Number.isInteger(settleMs) || settleMs < 0 || settleMs > 600_000) throw new Error(`BENCH_SETTLE_MS must be a whole number of milliseconds from 0 to 600000, not ${process.env.BENCH_SETTLE_MS}`);
const diskHeavy = new Set<string>(['push', 'chunked', 'paced', 'pull', 'skopeo']);
async function settle(): Promise<void> {
  spawnSync('sync');
  await new Promise((resolve) => setTimeout(resolve, settleMs));
}

function machineLoad(): string {
  const pressure = cpuPressure();
  return `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}${pressure ? `, CPU pressure ${pressure}` : ''}`;
}

interface RoundState {
  monoBlobs: SyntheticBlob[];
  manifests?: ManifestSet;
}

async function main(): Promise<number> {
  const notes: string[] = [];
  const distributionBin = process.env.BENCH_NO_DISTRIBUTION === '1' ? null : (process.env.BENCH_DISTRIBUTION_BIN ?? hasCommand('docker-registry'));
  if (process.env.BENCH_NO_DISTRIBUTION === '1') notes.push('Distribution left out (BENCH_NO_DISTRIBUTION=1)');
  else if (!distributionBin) notes.push('Distribution left out: docker-registry is not installed (apt-get install docker-registry)');
  const skopeo = hasCommand('skopeo');
  if (!skopeo) notes.push('skopeo image push/pull left out: skopeo is not installed (apt-get install skopeo)');

  console.log(`Berth benchmark${quick ? ' (BENCH_QUICK: smoke sizes, figures mean nothing)' : ''}: ${rounds} round(s), ${new Date().toISOString()}`);
  console.log(`  node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, ${machineLoad()}`);
  console.log(
    `  blobs: ${sizes.blobCount} x ${sizes.blobBlocks} MiB, ${sizes.blobConcurrency} at a time, chunks of ${sizes.chunkBlocks} MiB, pulled ${sizes.pullPasses} time(s) each; ` +
      `${sizes.pacedBlobCount} more pushed one at a time at ${sizes.pacedMBps} MB/s; ${sizes.manifestCount} manifests, ${sizes.manifestConcurrency} at a time; GET/HEAD: ${sizes.loadConcurrency} clients, ` +
      `up to ${sizes.loadMaxRequests} requests or ${sizes.loadMaxMs / 1000} s; skopeo image: ${sizes.skopeoLayerBlocks.length} layers, ${sizes.skopeoLayerBlocks.reduce((a, b) => a + b, 0)} MiB, median of ${sizes.skopeoCopies} copies per round`,
  );

  const targets: Target[] = [];
  const stopAll = async () => {
    await Promise.all(targets.map((t) => t.stop().catch(() => {})));
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    targets.push(await startBerth());
    const withAuthorized = process.env.BENCH_AUTH !== '0' && (selected('manifest-get') || selected('head'));
    if (withAuthorized) targets.push(await startAuthorizedBerth());
    if (distributionBin) targets.push(await startDistribution(distributionBin));
    for (const t of targets) console.log(`  ${t.name} on ${t.url} (pid ${t.process.pid}); fsync before acknowledging a blob: ${t.durability}`);
    console.log(settleMs > 0 ? `  before each registry's turn at ${[...diskHeavy].join(', ')}: sync, then ${settleMs} ms of rest (BENCH_SETTLE_MS)` : '  no rest for the disk between registries (BENCH_SETTLE_MS=0)');

    const results: Results = new Map();
    const limits: Limits = { sha256: [], disk: [] };
    if (!quick) {
      process.stdout.write('warm-up (not reported) ...');
      for (const t of targets) await runRound(t, 0, quickSizes, new Map(), skopeo !== null, { record: false });
      console.log(' done');
    }
    for (let round = 1; round <= rounds; round++) {
      limits.sha256.push(sha256Throughput(sizes.shaBytes));
      limits.disk.push(await diskWriteThroughput(tmpdir(), sizes.diskBytes));
      console.log(`round ${round}: sha256 ${formatNumber(limits.sha256.at(-1)!)} MB/s, disk+fsync ${formatNumber(limits.disk.at(-1)!)} MB/s`);
      // Alternate who goes first, so neither side always runs on a warmer (or busier) machine.
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      await runRound(order, round, sizes, results, skopeo !== null, { record: true });
    }

    const berth = targets[0]!;
    const dist = targets.find((t) => t.name === 'Distribution');
    const { text, missed } = renderReport({
      results,
      limits,
      berthPeakRssMiB: berth.memory.peakMiB(),
      distributionPeakRssMiB: dist ? dist.memory.peakMiB() : null,
      hasDistribution: dist !== undefined,
      notes: [
        ...notes,
        'blob pull reads blobs written moments before: it measures the serving path from the page cache, not the disk',
        'the load generator runs in this process and shares the machine\'s cores with the registry under test',
      ],
    });
    console.log(`machine at the end: ${machineLoad()}`);
    console.log('');
    console.log(text);
    console.log('');
    console.log('durability (fsync before a blob is acknowledged):');
    for (const t of targets) console.log(`  ${t.name}: ${t.durability}`);
    console.log('');
    console.log(missed.length === 0 ? 'all goals of issue 6 met' : `goals missed:\n  ${missed.join('\n  ')}`);
    if (withAuthorized) console.log(`\n${authorizedReport(results)}`);
    return 0;
  } catch (err) {
    console.error(`\nbenchmark failed, no figures reported: ${(err as Error).message}`);
    const failed = err instanceof RoundError ? targets.find((t) => (err as Error).message.includes(`, ${t.name}:`)) : undefined;
    if (failed) console.error(`last output of ${failed.name}:\n${failed.output() || '(none)'}`);
    return 1;
  } finally {
    await stopAll();
  }
}

/** Issue 14's goal: the authorized rates against the open ones and Distribution's (medians of the rounds). */
function authorizedReport(results: Results): string {
  const med = (target: string, key: string) => {
    const values = results.get(target)?.get(key);
    return values && values.length > 0 ? median(values) : null;
  };
  const lines = ['authorization on (Berth (auth)) against Berth open (BERTH_AUTH_V2=false) and Distribution, medians (/s):'];
  for (const [key, label] of [
    ['manifest_get', 'manifest GET'],
    ['blob_head', 'blob HEAD'],
  ] as const) {
    const auth = med(AUTHORIZED_BERTH, key);
    const open = med('Berth', key);
    const dist = med('Distribution', key);
    if (auth === null || open === null) continue;
    const vsOpen = auth / open;
    const vsDist = dist ? auth / dist : null;
    const ok = vsOpen >= 0.85 && (vsDist === null || vsDist >= 2);
    lines.push(
      `  ${label.padEnd(14)} authorized ${formatNumber(auth)}, open ${formatNumber(open)}, Distribution ${dist ? formatNumber(dist) : 'n/a'}; authorized/open ${vsOpen.toFixed(2)}, authorized/Distribution ${vsDist ? vsDist.toFixed(2) : 'n/a'} (goal: >= 0.85 and >= 2.0) ${ok ? 'met' : 'MISSED'}`,
    );
  }
  return lines.join('\n');
}

/** One round of every workload. With several targets, each step runs on each target in turn. */
async function runRound(
  targets: Target | Target[],
  round: number,
  sizes: Sizes,
  results: Results,
  withSkopeo: boolean,
  options: { record: boolean },
): Promise<void> {
  const list = Array.isArray(targets) ? targets : [targets];
  const state = new Map<string, RoundState>();
  for (const t of list) state.set(t.name, { monoBlobs: makeBlobs(t, round, 'mono', sizes) });
  const step = async (workload: Workload, label: string, work: (t: Target, s: RoundState, put: (key: string, value: number) => void) => Promise<string | { text: string; cpuScale: number }>) => {
    if (!needed(workload)) return;
    const put = (t: Target, key: string, value: number) => {
      if (options.record && selected(workload)) record(results, t.name, key, value);
    };
    for (const t of list) {
      // The authorized Berth is measured where authorization is the question (and fills what they read).
      if (t.name === AUTHORIZED_BERTH && !['push', 'manifest-push', 'manifest-get', 'head'].includes(workload)) continue;
      if (settleMs > 0 && diskHeavy.has(workload)) await settle();
      if (t.process.exitCode !== null || t.process.signalCode !== null) throw new RoundError(`round ${round}, ${label}, ${t.name}: the process has exited`);
      let outcome: string | { text: string; cpuScale: number };
      const gcs0 = await t.majorGcs();
      const cpu0 = t.cpuSeconds();
      try {
        outcome = await work(t, state.get(t.name)!, (key, value) => put(t, key, value));
      } catch (err) {
        throw new RoundError(`round ${round}, ${label}, ${t.name}: ${(err as Error).message}`);
      }
      const cpu = t.cpuSeconds() - cpu0;
      const gcs1 = await t.majorGcs();
      // Full GCs are counted because uploads once set off one every ~30 MiB (bin/berth.js).
      const fullGcs = gcs0 === null || gcs1 === null ? '' : `, full GCs ${gcs1 - gcs0}`;
      const summary = typeof outcome === 'string' ? outcome : outcome.text;
      // Normalised (per GiB, per 10k requests) so rounds and sizes compare.
      put(t, `cpu_${workload}`, cpu * (typeof outcome === 'string' ? 1 : outcome.cpuScale));
      if (options.record) console.log(`  ${t.name.padEnd(12)} ${label.padEnd(20)} ${summary}; server CPU ${formatNumber(cpu)} s${fullGcs}`);
    }
  };
  const blobsRepo = `bench/blobs-${round}`;
  const perGiB = 1024 / (sizes.blobCount * sizes.blobBlocks);
  await step('push', 'blob push mono', async (t, s, put) => {
    const v = await blobPush(t, blobsRepo, s.monoBlobs, sizes, false);
    put('push_mono', v);
    return { text: `${formatNumber(v)} MB/s`, cpuScale: perGiB };
  });
  await step('chunked', 'blob push chunked', async (t, _s, put) => {
    const v = await blobPush(t, `bench/chunked-${round}`, makeBlobs(t, round, 'chunked', sizes), sizes, true);
    put('push_chunked', v);
    return { text: `${formatNumber(v)} MB/s`, cpuScale: perGiB };
  });
  await step('paced', 'blob push at pace', async (t, _s, put) => {
    const v = await pacedPush(t, `bench/paced-${round}`, makeBlobs(t, round, 'paced', sizes).slice(0, sizes.pacedBlobCount), sizes);
    put('paced_commit', v);
    return { text: `last byte -> 201 ${formatNumber(v)} ms (median of ${sizes.pacedBlobCount} blobs at ${sizes.pacedMBps} MB/s)`, cpuScale: 1 / sizes.pacedBlobCount };
  });
  await step('pull', 'blob pull', async (t, s, put) => {
    const v = await blobPull(t, blobsRepo, s.monoBlobs, sizes);
    put('pull', v);
    return { text: `${formatNumber(v)} MB/s`, cpuScale: perGiB / sizes.pullPasses };
  });
  await step('manifest-push', 'manifest push', async (t, s, put) => {
    const { perSecond, set } = await manifestPush(t, round, sizes);
    s.manifests = set;
    put('manifest_push', perSecond);
    return { text: `${formatNumber(perSecond)} /s`, cpuScale: 1000 / sizes.manifestCount };
  });
  await step('manifest-get', 'manifest GET', async (t, s, put) => {
    const v = await manifestGet(t, s.manifests!, sizes);
    put('manifest_get', v.perSecond);
    put('manifest_get_p50', v.p50);
    put('manifest_get_p99', v.p99);
    return { text: `${formatNumber(v.perSecond)} /s, p50 ${formatNumber(v.p50)} ms, p99 ${formatNumber(v.p99)} ms`, cpuScale: 10_000 / v.requests };
  });
  await step('head', 'blob HEAD', async (t, s, put) => {
    const v = await blobHead(t, blobsRepo, s.monoBlobs, sizes);
    put('blob_head', v.perSecond);
    put('blob_head_p50', v.p50);
    put('blob_head_p99', v.p99);
    return { text: `${formatNumber(v.perSecond)} /s, p50 ${formatNumber(v.p50)} ms, p99 ${formatNumber(v.p99)} ms`, cpuScale: 10_000 / v.requests };
  });
  if (withSkopeo) {
    await step('skopeo', 'skopeo image', async (t, _s, put) => {
      const copies = [];
      for (let copy = 0; copy < sizes.skopeoCopies; copy++) copies.push(await skopeoRound(t, `${t.name.toLowerCase()}-${round}-${copy}-${process.pid}`, sizes.skopeoLayerBlocks));
      const v = { pushSeconds: median(copies.map((c) => c.pushSeconds)), pullSeconds: median(copies.map((c) => c.pullSeconds)) };
      put('skopeo_push', v.pushSeconds);
      put('skopeo_pull', v.pullSeconds);
      return `push ${formatNumber(v.pushSeconds)} s, pull ${formatNumber(v.pullSeconds)} s`;
    });
  }
}

// The registry comparison, then the last stage: lifecycle and GC at scale (bench/lifecycle-gc-stage.ts).
const onlyLifecycleGc = only.length > 0 && only.every((w) => w === 'lifecycle-gc' || w === 'encryption');
process.exitCode = onlyLifecycleGc ? 0 : await main();
// Encryption at rest and TLS (bench/encryption.ts): KMS against plain repositories, HTTPS
// against HTTP. Only when named (BENCH_ONLY=encryption): it starts two more servers.
if (process.exitCode === 0 && only.includes('encryption')) {
  const { encryptionBench } = await import('./encryption.js');
  process.stdout.write('\nEncryption at rest and in transit (Berth alone)\n');
  await encryptionBench(sizes, rounds, (line) => process.stdout.write(`  ${line}\n`));
}
if (process.exitCode === 0 && (only.length === 0 || only.includes('lifecycle-gc'))) {
  const { lifecycleGcStage } = await import('./lifecycle-gc-stage.js');
  process.exitCode = await lifecycleGcStage(quick);
}
