import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { splitEcosystem } from '../osv/ecosystem.js';
import { invalidReason, type OsvRecord } from '../osv/record.js';
import type { ImportSummary, ScanningStore, UpsertResult } from '../store/sql-store.js';

// `berth vulndb import`: osv.dev's per-ecosystem all.zip exports (one <ID>.json per entry),
// a folder of OSV JSON records, or a folder of such zips. Records go to the store in
// batches; a record whose `modified` is not newer than the stored one is left alone, so an
// import is idempotent and a re-import of a newer export is incremental.

export const MAX_RECORD_BYTES = 8 * 1024 * 1024;
const BATCH = 1000;

export interface ImportProgress {
  files: number;
  records: number;
  added: number;
  updated: number;
  skipped: number;
}

export interface ImportOptions {
  store: ScanningStore;
  now: () => number;
  onProgress?: (p: ImportProgress) => void;
  signal?: AbortSignal;
}

export interface ImportOutcome extends ImportSummary {
  /** (ecosystem base, package) pairs whose records changed: the inventories to re-match. */
  changed: Map<string, Set<string>>;
}

class Importer {
  readonly summary: ImportOutcome = { records: 0, added: 0, updated: 0, unchanged: 0, skipped: 0, skippedReasons: {}, ecosystems: {}, changed: new Map() };
  private batch: OsvRecord[] = [];
  private files = 0;
  constructor(private readonly options: ImportOptions) {}

  skip(reason: string): void {
    this.summary.skipped++;
    this.summary.skippedReasons[reason] = (this.summary.skippedReasons[reason] ?? 0) + 1;
  }

  async add(text: string | Buffer, name: string): Promise<void> {
    this.summary.records++;
    let value: unknown;
    try {
      value = JSON.parse(text.toString());
    } catch {
      return this.skip('not valid JSON');
    }
    // A file may hold one record or a list of them.
    for (const v of Array.isArray(value) ? value : [value]) {
      const reason = invalidReason(v);
      if (reason) {
        this.skip(reason);
        continue;
      }
      const record = v as OsvRecord;
      for (const eco of new Set((record.affected ?? []).map((a) => a.package && splitEcosystem(a.package.ecosystem).base).filter(Boolean) as string[])) {
        this.summary.ecosystems[eco] = (this.summary.ecosystems[eco] ?? 0) + 1;
      }
      this.batch.push(record);
      if (this.batch.length >= BATCH) await this.flush();
    }
    void name;
  }

  async flush(): Promise<void> {
    if (this.options.signal?.aborted) throw new Error('import aborted');
    if (this.batch.length === 0) return;
    const result: UpsertResult = await this.options.store.upsertRecords(this.batch, this.options.now());
    this.batch = [];
    this.summary.added += result.added;
    this.summary.updated += result.updated;
    this.summary.unchanged += result.unchanged;
    for (const c of result.changed) {
      const set = this.summary.changed.get(c.base) ?? new Set<string>();
      for (const p of c.packages) set.add(p);
      this.summary.changed.set(c.base, set);
    }
    this.progress();
  }

  fileDone(): void {
    this.files++;
  }

  progress(): void {
    this.options.onProgress?.({ files: this.files, records: this.summary.records, added: this.summary.added, updated: this.summary.updated, skipped: this.summary.skipped });
  }
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => yauzl.open(path, { lazyEntries: true, autoClose: true, strictFileNames: false }, (err, zip) => (err ? reject(err) : resolve(zip!))));
}

async function importZip(path: string, importer: Importer): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(path);
  } catch (err) {
    throw new Error(`${path} is not a readable zip archive: ${(err as Error).message}`);
  }
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName.endsWith('/') || !entry.fileName.endsWith('.json')) return zip.readEntry();
      if (entry.uncompressedSize > MAX_RECORD_BYTES) {
        importer.skip(`record file over ${MAX_RECORD_BYTES} bytes`);
        return zip.readEntry();
      }
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return reject(err ?? new Error('unreadable zip entry'));
        const parts: Buffer[] = [];
        stream.on('data', (c: Buffer) => parts.push(c));
        stream.on('error', (e) => {
          importer.skip(`unreadable zip entry (${e.message})`);
          zip.readEntry();
        });
        stream.on('end', () => {
          importer
            .add(Buffer.concat(parts), entry.fileName)
            .then(() => zip.readEntry())
            .catch(reject);
        });
      });
    });
    zip.readEntry();
  });
  importer.fileDone();
}

async function importFolder(dir: string, importer: Importer, depth = 0): Promise<void> {
  if (depth > 16) return;
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) await importFolder(path, importer, depth + 1);
    else if (e.isFile() && e.name.endsWith('.zip')) await importZip(path, importer);
    else if (e.isFile() && e.name.endsWith('.json')) {
      const size = (await stat(path)).size;
      if (size > MAX_RECORD_BYTES) importer.skip(`record file over ${MAX_RECORD_BYTES} bytes`);
      else await importer.add(await readFile(path), e.name);
    }
  }
}

export async function importOsv(source: string, options: ImportOptions): Promise<ImportOutcome> {
  const info = await stat(source).catch(() => null);
  if (!info) throw new Error(`${source}: no such file or folder`);
  const importer = new Importer(options);
  if (info.isDirectory()) await importFolder(source, importer);
  else if (source.endsWith('.json')) await importer.add(await readFile(source), source);
  else await importZip(source, importer);
  await importer.flush();
  importer.progress();
  if (importer.summary.added + importer.summary.updated > 0) await options.store.setMeta('updated_at', String(options.now()));
  return importer.summary;
}
