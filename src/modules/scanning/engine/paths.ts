import { ScanRefused } from './errors.js';

/** A tar entry name as an image path without a leading slash; refuses absolute and escaping names. */
export function normalizeEntryPath(name: string, layer: string): string {
  let n = name.replace(/^(\.\/)+/, '');
  if (n.startsWith('/')) throw new ScanRefused(`layer ${layer}: absolute path '${name.slice(0, 200)}' in the archive`);
  if (n.includes('\0')) throw new ScanRefused(`layer ${layer}: NUL byte in an entry name`);
  const out: string[] = [];
  for (const part of n.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new ScanRefused(`layer ${layer}: path traversal in '${name.slice(0, 200)}'`);
      out.pop();
    } else out.push(part);
  }
  n = out.join('/');
  return n;
}

/** A link target relative to the link's own directory (or to the root when absolute), inside the image. */
export function resolveLinkTarget(linkPath: string, target: string): string | null {
  const base = target.startsWith('/') ? [] : linkPath.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') base.pop(); // at the root, .. stays at the root, as the kernel does
    else base.push(part);
  }
  return base.join('/');
}
