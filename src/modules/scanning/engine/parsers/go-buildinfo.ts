import type { LangEntry } from './lang.js';

// Go's build info (debug/buildinfo): a 32-byte header starting with "\xff Go buildinf:",
// then, for Go 1.18+ (flags bit 2), the Go version and the module info as varint-prefixed
// strings. The module info is framed by 16-byte sentinels and lists "mod", "dep" and "=>"
// (replacement) lines. Older binaries keep pointers into the data segment: not read.

export const BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

function readVarint(buf: Buffer, at: number): [number, number] | null {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
    shift += 7;
  }
  return null;
}

export interface GoBuildInfo {
  goVersion: string;
  main: string | null;
  deps: LangEntry[];
}

/** Parses the build info at the start of `buf` (which begins with the magic); null if not inline. */
export function parseBuildInfo(buf: Buffer): GoBuildInfo | null {
  if (buf.length < 32 || !buf.subarray(0, 14).equals(BUILDINFO_MAGIC)) return null;
  const flags = buf[15]!;
  if ((flags & 0x2) === 0) return null;
  const v = readVarint(buf, 32);
  if (!v || v[1] + v[0] > buf.length) return null;
  const goVersion = buf.toString('utf8', v[1], v[1] + v[0]);
  const m = readVarint(buf, v[1] + v[0]);
  if (!m || m[1] + m[0] > buf.length) return null;
  let modinfo = buf.toString('utf8', m[1], m[1] + m[0]);
  if (modinfo.length >= 33 && modinfo[modinfo.length - 17] === '\n') modinfo = modinfo.slice(16, -16);
  else if (modinfo.length >= 32) modinfo = modinfo.slice(16, -16);
  const deps: LangEntry[] = [];
  let main: string | null = null;
  for (const line of modinfo.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'mod' && f[1]) {
      main = f[1];
      if (f[2] && f[2] !== '(devel)') deps.push({ ecosystem: 'Go', name: f[1], version: f[2] });
    } else if (f[0] === 'dep' && f[1] && f[2]) deps.push({ ecosystem: 'Go', name: f[1], version: f[2] });
    else if (f[0] === '=>' && f[1] && f[2] && deps.length) deps[deps.length - 1] = { ecosystem: 'Go', name: f[1], version: f[2] };
  }
  if (/^go\d/.test(goVersion)) deps.push({ ecosystem: 'Go', name: 'stdlib', version: goVersion.replace(/^go/, '').split(/[ -]/)[0]! });
  return { goVersion, main, deps };
}
