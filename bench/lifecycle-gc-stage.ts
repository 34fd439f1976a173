import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatNumber } from './stats.js';

// The last stage of `npm run bench`: lifecycle evaluation and preview over N images and
// garbage collection over N blobs (bench/lifecycle-gc.ts, also `npm run bench:gc`), run in
// a child process of its own so that its peak memory is its own, and printed here.

const script = fileURLToPath(new URL('./lifecycle-gc.js', import.meta.url));

interface Figure {
  bench: string;
  ms: number;
  peakRssMiB: number;
  peakHeapMiB: number;
  heapGrowthMiB: number;
  [detail: string]: unknown;
}

/** Runs the stage; resolves to the exit code (0, or 1 with the reason on stderr). */
export async function lifecycleGcStage(quick: boolean): Promise<number> {
  const count = quick ? 2_000 : 100_000;
  console.log('');
  console.log(`lifecycle and garbage collection at scale (bench/lifecycle-gc.ts: SQLite + filesystem, ${count} images, ${count} blobs${quick ? ', BENCH_QUICK sizes' : ''})`);
  const child = spawn(process.execPath, ['--expose-gc', script, '--images', String(count), '--blobs', String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  const figures: Figure[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      figures.push(JSON.parse(line) as Figure);
    } catch {
      // not a figure line
    }
  }
  if (code !== 0 || figures.length === 0) {
    console.error(`\nlifecycle/GC stage failed (exit ${code}), no figures reported:\n${stderr || stdout}`);
    return 1;
  }
  for (const f of figures) {
    const { bench, ms, peakRssMiB, peakHeapMiB, heapGrowthMiB, ...details } = f;
    const what = Object.entries(details).map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? formatNumber(v) : String(v)}`).join(', ');
    console.log(`  ${bench.padEnd(36)} ${formatNumber(ms / 1000).padStart(7)} s   peak RSS ${formatNumber(peakRssMiB)} MiB, heap peak ${formatNumber(peakHeapMiB)} MiB (+${formatNumber(heapGrowthMiB)})   ${what}`);
  }
  console.log('  (peak RSS is the child process\'s high-water mark so far, setup included; see BENCHMARKS.md)');
  return 0;
}
