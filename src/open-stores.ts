import { mkdir } from 'node:fs/promises';
import { resolvedPaths, type BerthConfig } from './config/config.js';
import type { BlobStore } from './stores/blob-store.js';
import { FsBlobStore } from './stores/blob/fs-blob-store.js';
import type { EcrStore } from './stores/ecr-store.js';
import { SqlEcrStore } from './stores/metadata/sql-ecr-store.js';
import { SqlMetadataStore, type SqlConnection } from './stores/metadata/sql-metadata-store.js';

// The one place that opens the stores a configuration names: the server (app.ts), the
// operator commands (cli/admin.ts) and the migration tool (cli/migrate.ts) all come here.

export interface OpenStores {
  blobs: BlobStore;
  meta: SqlMetadataStore;
  ecrStore: EcrStore;
}

export async function openBlobStore(storage: BerthConfig['storage'], fsRoot: string): Promise<BlobStore> {
  // The S3 store (and the AWS SDK under it, ~9 MiB resident) loads only when configured.
  return storage.kind === 's3' ? (await import('./stores/blob/s3-blob-store.js')).S3BlobStore.open(storage) : new FsBlobStore(fsRoot).init();
}

export function openMetadataStore(connection: SqlConnection): SqlMetadataStore {
  return SqlMetadataStore.open(connection);
}

/** Opens (and migrates: the core's tables and every module's) the stores of a configuration. */
export async function openStores(config: BerthConfig): Promise<OpenStores> {
  const paths = resolvedPaths(config);
  await mkdir(config.dataDir, { recursive: true });
  const blobs = await openBlobStore(config.storage, paths.blobRoot ?? '');
  const meta =
    config.metadata.kind === 'sqlite'
      ? openMetadataStore({ kind: 'sqlite', path: paths.sqlitePath! })
      : openMetadataStore({ kind: 'postgres', url: config.metadata.url, poolSize: config.metadata.poolSize });
  try {
    await meta.migrate();
  } catch (err) {
    await meta.close().catch(() => {});
    await blobs.close().catch(() => {});
    throw err;
  }
  return { blobs, meta, ecrStore: new SqlEcrStore(meta.db) };
}
