import { randomUUID } from 'node:crypto';
import type { ScanningStore } from '../store/sql-store.js';
import { importOsv, type ImportProgress } from './import.js';

// The vulnerability database as the operator sees it: imports (recorded, with progress and
// a summary) and its status. After an import that changed records, continuous rescans run.

export class VulnDb {
  constructor(
    private readonly store: ScanningStore,
    private readonly now: () => number,
    private readonly afterImport: () => Promise<void>,
  ) {}

  async import(source: string, options: { onProgress?: (p: ImportProgress) => void; signal?: AbortSignal } = {}) {
    const id = randomUUID();
    await this.store.createImport(id, source, this.now());
    await this.store.updateImport(id, { state: 'RUNNING' });
    try {
      let last = 0;
      const outcome = await importOsv(source, {
        store: this.store,
        now: this.now,
        signal: options.signal,
        onProgress: (p) => {
          options.onProgress?.(p);
          if (Date.now() - last > 1000) {
            last = Date.now();
            void this.store.updateImport(id, { progress: { records: p.records, files: p.files } }).catch(() => {});
          }
        },
      });
      const { changed, ...summary } = outcome;
      await this.store.updateImport(id, { state: 'COMPLETE', finishedAt: this.now(), summary });
      if (outcome.added + outcome.updated > 0) await this.afterImport();
      return { importId: id, source, ...summary, changedPackages: [...changed.values()].reduce((n, s) => n + s.size, 0) };
    } catch (err) {
      await this.store.updateImport(id, { state: 'FAILED', finishedAt: this.now(), error: (err as Error).message });
      throw err;
    }
  }

  async status() {
    const s = await this.store.dbStatus();
    const imports = await this.store.lastImports(5);
    return { records: s.records, ecosystems: s.ecosystems, updatedAt: s.updatedAt === null ? null : new Date(s.updatedAt).toISOString(), imports };
  }
}
