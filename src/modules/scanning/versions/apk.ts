// Alpine (apk-tools) version comparison, close to apk's version.c and Gentoo's rules:
// numbers[.numbers...][letter][_suffix[N]...][-rREV]. Numbers compare first (a later
// component with a leading zero compares as a decimal fraction), then the letter, then the
// suffixes (alpha < beta < pre < rc < none < cvs < svn < git < hg < p), then the revision.

const SUFFIX_RANK: Record<string, number> = { alpha: 0, beta: 1, pre: 2, rc: 3, '': 4, cvs: 5, svn: 6, git: 7, hg: 8, p: 9 };

interface ApkVersion {
  numbers: string[];
  letter: string;
  suffixes: { rank: number; n: bigint }[];
  revision: bigint;
}

const pattern = /^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:~[0-9a-f]+)?(?:-r(\d+))?$/;

export function parseApk(version: string): ApkVersion {
  const m = pattern.exec(version.trim());
  if (!m) throw new Error(`invalid apk version '${version}'`);
  const suffixes = [...(m[3] ?? '').matchAll(/_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)/g)].map((s) => ({ rank: SUFFIX_RANK[s[1]!]!, n: BigInt(s[2] || '0') }));
  return { numbers: m[1]!.split('.'), letter: m[2] ?? '', suffixes, revision: BigInt(m[4] ?? '0') };
}

export function isApkVersion(version: string): boolean {
  return pattern.test(version.trim());
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpComponent(a: string, b: string, first: boolean): number {
  if (!first && (a.startsWith('0') || b.startsWith('0'))) {
    // Fractional comparison, as apk does for a component with a leading zero.
    const x = a.replace(/0+$/, '');
    const y = b.replace(/0+$/, '');
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return cmpBig(BigInt(a), BigInt(b));
}

export function compareApk(a: string, b: string): number {
  const x = parseApk(a);
  const y = parseApk(b);
  const n = Math.max(x.numbers.length, y.numbers.length);
  for (let i = 0; i < n; i++) {
    const p = x.numbers[i];
    const q = y.numbers[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const c = cmpComponent(p, q, i === 0);
    if (c) return c;
  }
  if (x.letter !== y.letter) return x.letter < y.letter ? -1 : 1;
  const s = Math.max(x.suffixes.length, y.suffixes.length);
  for (let i = 0; i < s; i++) {
    const p = x.suffixes[i] ?? { rank: SUFFIX_RANK['']!, n: 0n };
    const q = y.suffixes[i] ?? { rank: SUFFIX_RANK['']!, n: 0n };
    if (p.rank !== q.rank) return p.rank < q.rank ? -1 : 1;
    const c = cmpBig(p.n, q.n);
    if (c) return c;
  }
  return cmpBig(x.revision, y.revision);
}
