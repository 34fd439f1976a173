import { ScanRefused } from '../errors.js';

// dpkg's status database (deb822 paragraphs), and distroless status.d/ files (one
// paragraph each, often without a Status field).

export interface DpkgEntry {
  name: string;
  version: string;
  sourceName: string;
  sourceVersion: string;
  arch?: string;
}

export function parseDpkgStatus(text: string, path: string, requireInstalled = true): DpkgEntry[] {
  const out: DpkgEntry[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | null = null;
    for (const line of para.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(' ') || line.startsWith('\t')) {
        if (last === null) throw new ScanRefused(`${path}: malformed dpkg status (a continuation line before any field)`);
        continue; // continuation of a multi-line field; Berth needs none of them
      }
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ScanRefused(`${path}: malformed dpkg status line '${line.slice(0, 80)}'`);
      last = line.slice(0, colon).trim();
      fields.set(last, line.slice(colon + 1).trim());
    }
    const name = fields.get('Package');
    const version = fields.get('Version');
    if (!name || !version) continue;
    const status = fields.get('Status');
    if (requireInstalled && status !== undefined && !/\binstalled$/.test(status)) continue;
    if (status !== undefined && /\b(not-installed|config-files)$/.test(status)) continue;
    const source = fields.get('Source');
    const m = source ? /^(\S+)(?:\s+\((.+)\))?$/.exec(source) : null;
    out.push({ name, version, sourceName: m?.[1] ?? name, sourceVersion: m?.[2] ?? version, arch: fields.get('Architecture') });
  }
  return out;
}
