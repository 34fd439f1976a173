import Database from 'better-sqlite3';
import { ScanRefused } from '../errors.js';

// rpm's SQLite database (rpmdb.sqlite: Fedora 33+, RHEL/Rocky/Alma 9): the Packages table
// holds one rpm header blob per package. Opened from memory (better-sqlite3 deserializes a
// buffer), never from a file. BerkeleyDB (var/lib/rpm/Packages) and ndb are not read.

export interface RpmEntry {
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  arch?: string;
  sourceRpm?: string;
}

const TAG = { NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022, SOURCERPM: 1044 } as const;

/** Parses an rpm header blob (no lead, no magic: index count, data length, entries, data). */
export function parseRpmHeader(blob: Buffer): RpmEntry {
  if (blob.length < 8) throw new ScanRefused('rpmdb: header blob too short');
  const count = blob.readUInt32BE(0);
  const dataLen = blob.readUInt32BE(4);
  const dataStart = 8 + count * 16;
  if (count > 100_000 || dataStart + dataLen > blob.length) throw new ScanRefused('rpmdb: malformed header blob');
  const tags = new Map<number, string | number>();
  for (let i = 0; i < count; i++) {
    const base = 8 + i * 16;
    const tag = blob.readUInt32BE(base);
    const type = blob.readUInt32BE(base + 4);
    const offset = blob.readInt32BE(base + 8);
    if (!Object.values(TAG).includes(tag as never)) continue;
    const at = dataStart + offset;
    if (offset < 0 || at >= dataStart + dataLen) throw new ScanRefused('rpmdb: header entry out of bounds');
    if (type === 6 || type === 9 || type === 8) {
      const end = blob.indexOf(0, at);
      if (end < 0) throw new ScanRefused('rpmdb: unterminated string');
      tags.set(tag, blob.toString('utf8', at, end));
    } else if (type === 4) tags.set(tag, blob.readUInt32BE(at));
  }
  const name = tags.get(TAG.NAME);
  const version = tags.get(TAG.VERSION);
  if (typeof name !== 'string' || typeof version !== 'string') throw new ScanRefused('rpmdb: package without name or version');
  const epoch = tags.get(TAG.EPOCH);
  return {
    name,
    version,
    release: String(tags.get(TAG.RELEASE) ?? ''),
    epoch: typeof epoch === 'number' ? epoch : null,
    arch: tags.get(TAG.ARCH) as string | undefined,
    sourceRpm: tags.get(TAG.SOURCERPM) as string | undefined,
  };
}

export function readRpmSqlite(file: Buffer): RpmEntry[] {
  const copy = Buffer.from(file);
  // A WAL-mode header (read/write versions 2) cannot be opened in memory: mark it legacy.
  if (copy.length > 19 && copy.toString('latin1', 0, 15) === 'SQLite format 3') {
    copy[18] = 1;
    copy[19] = 1;
  } else throw new ScanRefused('var/lib/rpm/rpmdb.sqlite is not an SQLite database');
  let db: Database.Database;
  try {
    db = new Database(copy, { readonly: true });
  } catch (err) {
    throw new ScanRefused(`var/lib/rpm/rpmdb.sqlite cannot be opened: ${(err as Error).message}`);
  }
  try {
    const rows = db.prepare('SELECT blob FROM Packages').all() as { blob: Buffer }[];
    return rows.map((r) => parseRpmHeader(r.blob)).filter((p) => p.name !== 'gpg-pubkey');
  } catch (err) {
    if (err instanceof ScanRefused) throw err;
    throw new ScanRefused(`var/lib/rpm/rpmdb.sqlite: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
