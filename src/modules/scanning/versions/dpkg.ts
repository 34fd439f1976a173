// Debian version comparison, as dpkg's verrevcmp (lib/dpkg/version.c): [epoch:]upstream[-revision].
// Non-digit runs compare by a character order where `~` sorts before everything (even the end),
// then the end, then letters, then everything else; digit runs compare numerically.

export interface DpkgVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export function parseDpkg(version: string): DpkgVersion {
  const v = version.trim();
  let epoch = 0;
  let rest = v;
  const colon = v.indexOf(':');
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (!/^\d+$/.test(e)) throw new Error(`invalid dpkg epoch in '${version}'`);
    epoch = Number(e);
    rest = v.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (upstream === '' || !/^[0-9]/.test(upstream)) {
    // dpkg warns but still compares such versions; keep them comparable.
  }
  return { epoch, upstream, revision };
}

function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  const code = c.charCodeAt(0);
  if (/[0-9]/.test(c)) return 0;
  if (/[A-Za-z]/.test(c)) return code;
  return code + 256;
}

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const ac = order(i < a.length ? a[i] : undefined);
      const bc = order(j < b.length ? b[j] : undefined);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && isDigit(a[i]!) && j < b.length && isDigit(b[j]!)) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a[i]!)) return 1;
    if (j < b.length && isDigit(b[j]!)) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

export function compareDpkg(a: string, b: string): number {
  const x = parseDpkg(a);
  const y = parseDpkg(b);
  if (x.epoch !== y.epoch) return Math.sign(x.epoch - y.epoch);
  const u = verrevcmp(x.upstream, y.upstream);
  if (u) return Math.sign(u);
  return Math.sign(verrevcmp(x.revision, y.revision));
}
