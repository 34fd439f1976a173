// CVSS base scores computed from the vector, by the FIRST specifications: v3.0/v3.1
// (section 7.1 formulas and 7.4 metric values; v3.1's Roundup) and v2 (section 3.2.1).

const V3 = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

function metrics(vector: string, prefix: RegExp): Map<string, string> | null {
  const body = vector.trim().replace(prefix, '');
  const out = new Map<string, string>();
  for (const part of body.split('/')) {
    const [k, v] = part.split(':');
    if (!k || !v || out.has(k)) return null;
    out.set(k, v);
  }
  return out;
}

/** v3.1 Roundup: the smallest number with one decimal that is >= the input, without float drift. */
function roundup31(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

export function cvss3BaseScore(vector: string): number | null {
  const version = /^CVSS:3\.([01])\//.exec(vector.trim());
  if (!version) return null;
  const m = metrics(vector, /^CVSS:3\.[01]\//);
  if (!m) return null;
  const av = V3.AV[m.get('AV') as keyof typeof V3.AV];
  const ac = V3.AC[m.get('AC') as keyof typeof V3.AC];
  const ui = V3.UI[m.get('UI') as keyof typeof V3.UI];
  const s = m.get('S');
  const c = V3.CIA[m.get('C') as keyof typeof V3.CIA];
  const i = V3.CIA[m.get('I') as keyof typeof V3.CIA];
  const a = V3.CIA[m.get('A') as keyof typeof V3.CIA];
  const prs = m.get('PR');
  if (av === undefined || ac === undefined || ui === undefined || c === undefined || i === undefined || a === undefined || (s !== 'U' && s !== 'C')) return null;
  const changed = s === 'C';
  const pr = prs === 'N' ? 0.85 : prs === 'L' ? (changed ? 0.68 : 0.62) : prs === 'H' ? (changed ? 0.5 : 0.27) : undefined;
  if (pr === undefined) return null;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * av * ac * pr * ui;
  if (impact <= 0) return 0;
  const round = version[1] === '1' ? roundup31 : (x: number) => Math.ceil(x * 10) / 10;
  return changed ? round(Math.min(1.08 * (impact + exploitability), 10)) : round(Math.min(impact + exploitability, 10));
}

const V2 = {
  AV: { L: 0.395, A: 0.646, N: 1.0 },
  AC: { H: 0.35, M: 0.61, L: 0.71 },
  Au: { M: 0.45, S: 0.56, N: 0.704 },
  CIA: { N: 0, P: 0.275, C: 0.66 },
} as const;

export function cvss2BaseScore(vector: string): number | null {
  const m = metrics(vector, /^\(?(?:CVSS:2\.0\/)?/);
  if (!m) return null;
  const av = V2.AV[m.get('AV') as keyof typeof V2.AV];
  const ac = V2.AC[m.get('AC') as keyof typeof V2.AC];
  const au = V2.Au[m.get('Au') as keyof typeof V2.Au];
  const c = V2.CIA[m.get('C')?.replace(/\)$/, '') as keyof typeof V2.CIA];
  const i = V2.CIA[m.get('I') as keyof typeof V2.CIA];
  const a = V2.CIA[m.get('A')?.replace(/\)$/, '') as keyof typeof V2.CIA];
  if ([av, ac, au, c, i, a].some((x) => x === undefined)) return null;
  const impact = 10.41 * (1 - (1 - c!) * (1 - i!) * (1 - a!));
  const exploitability = 20 * av! * ac! * au!;
  const f = impact === 0 ? 0 : 1.176;
  return Math.round((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10) / 10;
}

export type Severity = 'INFORMATIONAL' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL' | 'UNDEFINED';

/** CVSS v3 qualitative bands (0 None, 0.1-3.9 Low, 4.0-6.9 Medium, 7.0-8.9 High, 9.0-10.0 Critical); None is ECR's INFORMATIONAL. */
export function severityOfScore(score: number): Severity {
  if (score === 0) return 'INFORMATIONAL';
  if (score < 4) return 'LOW';
  if (score < 7) return 'MEDIUM';
  if (score < 9) return 'HIGH';
  return 'CRITICAL';
}
