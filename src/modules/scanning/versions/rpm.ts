// RPM version comparison: rpmvercmp (rpmio/rpmvercmp.c) over [epoch:]version[-release].
// Segments are runs of digits or letters; `~` sorts before anything (even the end), `^`
// sorts after the end but before any further segment; a numeric segment beats an alpha one.

export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const isAlnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const numeric = /[0-9]/.test(a[i]!);
    const re = numeric ? /[0-9]/ : /[A-Za-z]/;
    let si = i;
    let sj = j;
    while (i < a.length && re.test(a[i]!)) i++;
    while (j < b.length && re.test(b[j]!)) j++;
    let sa = a.slice(si, i);
    let sb = b.slice(sj, j);
    if (sb === '') return numeric ? 1 : -1;
    if (numeric) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

export function parseEvr(evr: string): { epoch: number; version: string; release: string } {
  let epoch = 0;
  let rest = evr;
  const colon = evr.indexOf(':');
  if (colon >= 0 && /^\d*$/.test(evr.slice(0, colon))) {
    epoch = Number(evr.slice(0, colon) || '0');
    rest = evr.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest, release: '' };
}

export function compareRpm(a: string, b: string): number {
  const x = parseEvr(a);
  const y = parseEvr(b);
  if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
  const v = rpmvercmp(x.version, y.version);
  if (v) return v;
  // A missing release matches any release (as rpm does when a requirement names none).
  if (x.release === '' || y.release === '') return 0;
  return rpmvercmp(x.release, y.release);
}
