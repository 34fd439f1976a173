import type { OsInfo } from '../inventory.js';

/** os-release(5): KEY=value lines, values optionally quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["'\\$`])/g, '$1');
    out[m[1]!] = v;
  }
  return out;
}

/** The OSV ecosystem an OS's packages are listed under, with the release. */
export function osEcosystem(id: string, versionId: string): string | null {
  const major = versionId.split('.')[0] ?? '';
  switch (id) {
    case 'debian':
      return major ? `Debian:${major}` : null;
    case 'ubuntu':
      return versionId ? `Ubuntu:${versionId}` : null;
    case 'alpine': {
      const [a, b] = versionId.split('.');
      return a && b ? `Alpine:v${a}.${b}` : null;
    }
    case 'rocky':
      return major ? `Rocky Linux:${major}` : null;
    case 'almalinux':
      return major ? `AlmaLinux:${major}` : null;
    case 'rhel':
      return major ? `Red Hat:${major}` : null;
    case 'fedora':
      return major ? `Fedora:${major}` : null;
    default:
      return null;
  }
}

export function osFromRelease(text: string): OsInfo | null {
  const f = parseOsRelease(text);
  if (!f.ID) return null;
  const id = f.ID.toLowerCase();
  const versionId = f.VERSION_ID ?? '';
  return { id, versionId, name: f.PRETTY_NAME ?? f.NAME ?? id, ecosystem: osEcosystem(id, versionId) };
}

/** /etc/debian_version ("12.4", or "bookworm/sid" on testing). */
export function osFromDebianVersion(text: string): OsInfo {
  const v = text.trim();
  const major = /^(\d+)/.exec(v)?.[1] ?? '';
  return { id: 'debian', versionId: major, name: `Debian GNU/Linux ${v}`, ecosystem: major ? `Debian:${major}` : null };
}

/** /etc/alpine-release ("3.19.1"). */
export function osFromAlpineRelease(text: string): OsInfo {
  const v = text.trim();
  return { id: 'alpine', versionId: v, name: `Alpine Linux v${v}`, ecosystem: osEcosystem('alpine', v) };
}
