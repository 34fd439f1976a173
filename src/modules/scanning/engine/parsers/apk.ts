import { ScanRefused } from '../errors.js';

// apk's installed database: "K:value" lines, blank lines between packages.

export interface ApkEntry {
  name: string;
  version: string;
  origin: string;
  arch?: string;
}

export function parseApkInstalled(text: string, path: string): ApkEntry[] {
  const out: ApkEntry[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of para.split('\n')) {
      if (line === '') continue;
      if (line.length < 2 || line[1] !== ':') throw new ScanRefused(`${path}: malformed apk database line '${line.slice(0, 80)}'`);
      if (!f.has(line[0]!)) f.set(line[0]!, line.slice(2));
    }
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version) continue;
    out.push({ name, version, origin: f.get('o') ?? name, arch: f.get('A') });
  }
  return out;
}
