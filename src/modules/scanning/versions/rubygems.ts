// RubyGems ordering, as Gem::Version#<=>: segments of digits or letters; a letter segment
// marks a pre-release and sorts before any number; trailing zero segments are dropped.

function segments(version: string): (bigint | string)[] {
  const v = version.trim().replace(/-/g, '.pre.');
  if (!/^[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.test(version.trim())) throw new Error(`invalid gem version '${version}'`);
  const segs = (v.match(/[0-9]+|[a-z]+/gi) ?? []).map((s) => (/^\d+$/.test(s) ? BigInt(s) : s));
  while (segs.length > 1 && segs[segs.length - 1] === 0n) segs.pop();
  return segs;
}

export function compareRubyGems(a: string, b: string): number {
  const x = segments(a);
  const y = segments(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? 0n;
    const q = y[i] ?? 0n;
    if (p === q) continue;
    if (typeof p === 'string' && typeof q === 'bigint') return -1;
    if (typeof p === 'bigint' && typeof q === 'string') return 1;
    return p < q ? -1 : 1;
  }
  return 0;
}
