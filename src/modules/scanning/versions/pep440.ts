// PEP 440 version ordering, as the `packaging` library's Version and its sort key:
// [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], with the spec's normalizations
// (alpha->a, beta->b, c/pre/preview->rc, rev/r->post, "1.0-1" is a post-release, etc.).

const RE = new RegExp(
  '^\\s*v?(?:(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\\.[0-9]+)*)' +
    '(?<pre>[-_\\.]?(?<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_\\.]?(?<pre_n>[0-9]+)?)?' +
    '(?<post>(?:-(?<post_n1>[0-9]+))|(?:[-_\\.]?(?<post_l>post|rev|r)[-_\\.]?(?<post_n2>[0-9]+)?))?' +
    '(?<dev>[-_\\.]?(?<dev_l>dev)[-_\\.]?(?<dev_n>[0-9]+)?)?)' +
    '(?:\\+(?<local>[a-z0-9]+(?:[-_\\.][a-z0-9]+)*))?\\s*$',
  'i',
);

interface Pep440 {
  epoch: bigint;
  release: bigint[];
  pre: [number, bigint] | null;
  post: bigint | null;
  dev: bigint | null;
  local: (bigint | string)[] | null;
}

const PRE: Record<string, number> = { a: 0, alpha: 0, b: 1, beta: 1, c: 2, rc: 2, pre: 2, preview: 2 };

export function parsePep440(version: string): Pep440 {
  const m = RE.exec(version);
  if (!m?.groups) throw new Error(`invalid PEP 440 version '${version}'`);
  const g = m.groups;
  const release = g.release!.split('.').map(BigInt);
  while (release.length > 1 && release[release.length - 1] === 0n) release.pop();
  return {
    epoch: BigInt(g.epoch ?? '0'),
    release,
    pre: g.pre_l ? [PRE[g.pre_l.toLowerCase()]!, BigInt(g.pre_n ?? '0')] : null,
    post: g.post ? BigInt(g.post_n1 ?? g.post_n2 ?? '0') : null,
    dev: g.dev ? BigInt(g.dev_n ?? '0') : null,
    local: g.local ? g.local.toLowerCase().split(/[-_.]/).map((p) => (/^\d+$/.test(p) ? BigInt(p) : p)) : null,
  };
}

export function isPep440(version: string): boolean {
  return RE.test(version);
}

function cmp(a: bigint | number | string, b: bigint | number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function comparePep440(a: string, b: string): number {
  const x = parsePep440(a);
  const y = parsePep440(b);
  let c = cmp(x.epoch, y.epoch);
  if (c) return c;
  const n = Math.max(x.release.length, y.release.length);
  for (let i = 0; i < n; i++) {
    c = cmp(x.release[i] ?? 0n, y.release[i] ?? 0n);
    if (c) return c;
  }
  // pre: a dev-only release sorts before any pre-release; no pre sorts after them all.
  const preKey = (v: Pep440): number[] => (v.pre ? [1, v.pre[0], Number(v.pre[1])] : v.post === null && v.dev !== null ? [0] : [2]);
  const pa = preKey(x);
  const pb = preKey(y);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    c = cmp(pa[i] ?? -1, pb[i] ?? -1);
    if (c) return c;
  }
  c = cmp(x.post === null ? -1n : x.post, y.post === null ? -1n : y.post);
  if (c) return c;
  // dev: none sorts after any dev release.
  if (x.dev !== y.dev) {
    if (x.dev === null) return 1;
    if (y.dev === null) return -1;
    return cmp(x.dev, y.dev);
  }
  if (x.local === null || y.local === null) return x.local === y.local ? 0 : x.local === null ? -1 : 1;
  for (let i = 0; i < Math.max(x.local.length, y.local.length); i++) {
    const p = x.local[i];
    const q = y.local[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (typeof p !== typeof q) return typeof p === 'bigint' ? 1 : -1;
    c = cmp(p, q);
    if (c) return c;
  }
  return 0;
}
