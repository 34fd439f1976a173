import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, metadataFromString, parseConfig, storageFromString } from '../config/config.js';
import { formatBytes, migrateRegistry, type MigrationSummary } from '../domain/ops/migrate.js';
import type { BlobStore } from '../stores/blob-store.js';
import { openBlobStore, openMetadataStore } from '../open-stores.js';
import { copyMetadataRows } from '../stores/metadata/copy-rows.js';
import { SqlMetadataStore } from '../stores/metadata/sql-metadata-store.js';

// `berth migrate`: copies a registry's metadata and blobs to other stores, e.g. from the
// embedded default (SQLite + a folder) to PostgreSQL + S3. See docs/deployment.md.

export interface MigrateFlags {
  fromMetadata: string;
  fromStorage: string;
  toMetadata: string;
  toStorage: string;
}

export async function runMigrate(flags: MigrateFlags, out: (line: string) => void): Promise<MigrationSummary> {
  const fromMeta = metadataFromString(flags.fromMetadata);
  if (fromMeta.kind === 'sqlite' && !existsSync(resolve(fromMeta.path!))) throw new ConfigError(`--from-metadata: no SQLite database at ${fromMeta.path}`);
  const fromStorage = storageFromString(flags.fromStorage);
  if (fromStorage.kind === 'fs' && !existsSync(resolve(fromStorage.path!))) throw new ConfigError(`--from-storage: no folder at ${fromStorage.path}`);
  // Validated by the same schema as `serve` (bucket names, S3 settings ...).
  const from = parseConfig({ metadata: fromMeta, storage: fromStorage });
  const to = parseConfig({ metadata: metadataFromString(flags.toMetadata), storage: storageFromString(flags.toStorage) });
  if (JSON.stringify(from.metadata) === JSON.stringify(to.metadata)) throw new ConfigError('source and target metadata are the same');

  const opened: Array<{ close(): Promise<void> }> = [];
  try {
    const fromBlobs = await openBlobs(from.storage);
    opened.push(fromBlobs);
    const toBlobs = await openBlobs(to.storage);
    opened.push(toBlobs);
    const fromRows = openMetadata(from.metadata);
    opened.push(fromRows);
    const toRows = openMetadata(to.metadata);
    opened.push(toRows);
    // Both at the current schema: an older source is brought up to date first, as `serve` would.
    await fromRows.migrate();
    await toRows.migrate();
    out(`migrating ${describe(from)} -> ${describe(to)}`);
    const summary = await migrateRegistry({
      fromBlobs,
      toBlobs,
      copyMetadata: (progress) => copyMetadataRows(fromRows, toRows, progress),
      report: out,
    });
    const b = summary.blobs;
    out(
      `done: ${b.copied} blobs copied (${formatBytes(b.bytesCopied)}), ${b.present} already there, ${b.failed.length} failed; ` +
        `${Object.values(summary.rows).reduce((a, n) => a + n, 0)} metadata rows`,
    );
    if ((summary.rows.iam_access_keys ?? 0) + (summary.rows.iam_sessions ?? 0) > 0) {
      const keyFile = from.metadata.kind === 'sqlite' ? ` (the embedded default's is ${join(dirname(resolve(from.metadata.path!)), 'server.key')})` : '';
      out(`access keys: their secrets are sealed under the source's server key; start the target's nodes with that key as serverKey / BERTH_SERVER_KEY${keyFile}`);
    }
    return summary;
  } finally {
    for (const store of opened.reverse()) await store.close().catch(() => {});
  }
}

function openBlobs(storage: ReturnType<typeof parseConfig>['storage']): Promise<BlobStore> {
  return openBlobStore(storage, resolve(storage.kind === 'fs' ? storage.path! : '.'));
}

function openMetadata(metadata: ReturnType<typeof parseConfig>['metadata']): SqlMetadataStore {
  return openMetadataStore(metadata.kind === 'sqlite' ? { kind: 'sqlite', path: resolve(metadata.path!) } : { kind: 'postgres', url: metadata.url, poolSize: 4 });
}

function describe(config: ReturnType<typeof parseConfig>): string {
  const meta = config.metadata.kind === 'sqlite' ? `SQLite ${resolve(config.metadata.path!)}` : `PostgreSQL ${config.metadata.url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`;
  const blobs = config.storage.kind === 's3' ? `s3://${config.storage.bucket}/${config.storage.prefix}` : resolve(config.storage.path!);
  return `${meta} + ${blobs}`;
}
