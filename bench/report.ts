import { formatNumber, median } from './stats.js';

// What the benchmark reports, and the goals of issue 6 each figure is held to.

export interface FigureSpec {
  key: string;
  label: string;
  /** Compared against the slower machine limit (MB/s figures). */
  throughput?: boolean;
  lowerIsBetter?: boolean;
  /** The least Berth/Distribution ratio the goal asks for (for lower-is-better figures: the most). */
  goalRatio?: number;
}

export const figures: FigureSpec[] = [
  { key: 'push_mono', label: 'blob push, monolithic (MB/s)', throughput: true, goalRatio: 1 },
  { key: 'push_chunked', label: 'blob push, chunked (MB/s)', throughput: true, goalRatio: 1 },
  { key: 'paced_commit', label: 'push at 100 MB/s: last byte->201 (ms)', lowerIsBetter: true },
  { key: 'pull', label: 'blob pull (MB/s)', throughput: true, goalRatio: 1 },
  { key: 'manifest_push', label: 'manifest push (/s)', goalRatio: 1 },
  { key: 'manifest_get', label: 'manifest GET by tag, 32 clients (/s)', goalRatio: 2 },
  { key: 'manifest_get_p50', label: '  manifest GET p50 latency (ms)', lowerIsBetter: true },
  { key: 'manifest_get_p99', label: '  manifest GET p99 latency (ms)', lowerIsBetter: true, goalRatio: 1 },
  { key: 'blob_head', label: 'blob HEAD, 32 clients (/s)', goalRatio: 2 },
  { key: 'blob_head_p50', label: '  blob HEAD p50 latency (ms)', lowerIsBetter: true },
  { key: 'blob_head_p99', label: '  blob HEAD p99 latency (ms)', lowerIsBetter: true, goalRatio: 1 },
  { key: 'skopeo_push', label: 'skopeo image push (s)', lowerIsBetter: true, goalRatio: 1 },
  { key: 'skopeo_pull', label: 'skopeo image pull (s)', lowerIsBetter: true, goalRatio: 1 },
];

/** Server CPU time (user + system, all threads) spent on each workload: lower is better, and far less noisy than wall time. */
export const cpuFigures: FigureSpec[] = [
  { key: 'cpu_push', label: 'blob push, monolithic (per GiB)', lowerIsBetter: true },
  { key: 'cpu_chunked', label: 'blob push, chunked (per GiB)', lowerIsBetter: true },
  { key: 'cpu_paced', label: 'push at 100 MB/s (per blob)', lowerIsBetter: true },
  { key: 'cpu_pull', label: 'blob pull (per GiB)', lowerIsBetter: true },
  { key: 'cpu_manifest-push', label: 'manifest push (per 1000)', lowerIsBetter: true },
  { key: 'cpu_manifest-get', label: 'manifest GET by tag (per 10k)', lowerIsBetter: true },
  { key: 'cpu_head', label: 'blob HEAD (per 10k)', lowerIsBetter: true },
  { key: 'cpu_skopeo', label: 'skopeo image push + pull', lowerIsBetter: true },
];

/** Per target, per figure: one value per round. */
export type Results = Map<string, Map<string, number[]>>;

export function record(results: Results, target: string, key: string, value: number): void {
  let byFigure = results.get(target);
  if (!byFigure) results.set(target, (byFigure = new Map()));
  let values = byFigure.get(key);
  if (!values) byFigure.set(key, (values = []));
  values.push(value);
}

export interface Limits {
  sha256: number[];
  disk: number[];
}

export interface ReportInput {
  results: Results;
  limits: Limits;
  berthPeakRssMiB: number;
  distributionPeakRssMiB: number | null;
  hasDistribution: boolean;
  notes: string[];
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** Renders the table; returns it with the list of goals missed (empty when all are met). */
export function renderReport(input: ReportInput): { text: string; missed: string[] } {
  const { results, limits } = input;
  const berth = results.get('Berth') ?? new Map<string, number[]>();
  const dist = results.get('Distribution') ?? new Map<string, number[]>();
  const sha = median(limits.sha256);
  const disk = median(limits.disk);
  const slower = Math.min(sha, disk);
  const missed: string[] = [];
  const lines: string[] = [];
  const header = [pad('figure (median of rounds)', 38), pad('Berth', 10, true), pad('Distribution', 13, true), pad('Berth/Dist', 11, true), '  goal'];
  lines.push(header.join(' '));
  lines.push('-'.repeat(header.join(' ').length + 6));
  for (const spec of figures) {
    const b = berth.get(spec.key);
    const d = dist.get(spec.key);
    if (!b && !d) continue;
    const bm = b ? median(b) : Number.NaN;
    const dm = d ? median(d) : Number.NaN;
    const ratio = bm / dm;
    let goal = '';
    if (spec.goalRatio !== undefined && Number.isFinite(ratio)) {
      const met = spec.lowerIsBetter ? ratio <= spec.goalRatio : ratio >= spec.goalRatio;
      goal = `${met ? 'met' : 'MISSED'} (${spec.lowerIsBetter ? '<=' : '>='} ${spec.goalRatio})`;
      if (!met) missed.push(`${spec.label.trim()}: Berth/Distribution ${formatNumber(ratio)}, goal ${spec.lowerIsBetter ? '<=' : '>='} ${spec.goalRatio}`);
    }
    lines.push([pad(spec.label, 38), pad(formatNumber(bm), 10, true), pad(formatNumber(dm), 13, true), pad(Number.isFinite(ratio) ? formatNumber(ratio) : '-', 11, true), `  ${goal}`].join(' '));
  }
  const rssMet = input.berthPeakRssMiB < 200;
  if (!rssMet) missed.push(`Berth peak RSS ${formatNumber(input.berthPeakRssMiB)} MiB, goal < 200 MiB`);
  lines.push(
    [
      pad('peak RSS (MiB, whole run)', 38),
      pad(formatNumber(input.berthPeakRssMiB), 10, true),
      pad(input.distributionPeakRssMiB === null ? '-' : formatNumber(input.distributionPeakRssMiB), 13, true),
      pad(input.distributionPeakRssMiB === null ? '-' : formatNumber(input.berthPeakRssMiB / input.distributionPeakRssMiB), 11, true),
      `  ${rssMet ? 'met' : 'MISSED'} (Berth < 200 MiB)`,
    ].join(' '),
  );

  lines.push('');
  lines.push(`machine limits (median of rounds): sha256 on one core ${formatNumber(sha)} MB/s, disk sequential write + fsync ${formatNumber(disk)} MB/s`);
  lines.push(`  rounds: sha256 ${limits.sha256.map(formatNumber).join(', ')}; disk ${limits.disk.map(formatNumber).join(', ')}`);
  lines.push(`throughput as a fraction of the slower limit (${formatNumber(slower)} MB/s):`);
  for (const spec of figures.filter((f) => f.throughput)) {
    const b = berth.get(spec.key);
    const d = dist.get(spec.key);
    const parts = [`Berth ${b ? formatNumber(median(b) / slower) : '-'}`];
    if (input.hasDistribution) parts.push(`Distribution ${d ? formatNumber(median(d) / slower) : '-'}`);
    let goal = '';
    if (spec.key.startsWith('push') && b) {
      const met = median(b) >= slower / 2;
      goal = `  goal: Berth >= 0.5 ${met ? 'met' : 'MISSED'}`;
      if (!met) missed.push(`${spec.label}: ${formatNumber(median(b) / slower)} of the slower limit, goal >= 0.5`);
    }
    lines.push(`  ${pad(spec.label, 36)} ${parts.join(', ')}${goal}`);
  }

  lines.push('');
  lines.push('server CPU seconds per workload (user + system, all threads; median of rounds; lower is better):');
  for (const spec of cpuFigures) {
    const b = berth.get(spec.key);
    const d = dist.get(spec.key);
    if (!b && !d) continue;
    const bm = b ? median(b) : Number.NaN;
    const dm = d ? median(d) : Number.NaN;
    lines.push([pad(`  ${spec.label}`, 38), pad(formatNumber(bm), 10, true), pad(formatNumber(dm), 13, true), pad(Number.isFinite(bm / dm) ? formatNumber(bm / dm) : '-', 11, true)].join(' '));
  }

  lines.push('');
  lines.push('every round (Berth | Distribution):');
  for (const spec of figures) {
    const b = berth.get(spec.key);
    const d = dist.get(spec.key);
    if (!b && !d) continue;
    lines.push(`  ${pad(spec.label.trim(), 36)} ${(b ?? []).map(formatNumber).join(', ')}${input.hasDistribution ? ` | ${(d ?? []).map(formatNumber).join(', ')}` : ''}`);
  }
  if (input.notes.length > 0) {
    lines.push('');
    for (const note of input.notes) lines.push(`note: ${note}`);
  }
  return { text: lines.join('\n'), missed: input.hasDistribution ? missed : missed.filter((m) => !m.includes('Berth/Distribution')) };
}
