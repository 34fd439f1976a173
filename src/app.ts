import { mkdir } from 'node:fs/promises';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { resolvedPaths, type BerthConfig } from './config/config.js';
import { RegistryService } from './domain/registry-service.js';
import { ociEdge } from './edges/oci/routes.js';
import { installMetrics } from './observability/metrics.js';
import type { BlobStore } from './stores/blob-store.js';
import { FsBlobStore } from './stores/blob/fs-blob-store.js';
import { S3BlobStore } from './stores/blob/s3-blob-store.js';
import type { MetadataStore } from './stores/metadata-store.js';
import { SqlMetadataStore } from './stores/metadata/sql-metadata-store.js';

export interface Berth {
  config: BerthConfig;
  http: FastifyInstance;
  blobs: BlobStore;
  meta: MetadataStore;
  registry: RegistryService;
  /** Stops accepting requests, finishes in-flight ones, then closes the stores. */
  close(): Promise<void>;
}

export async function openStores(config: BerthConfig): Promise<{ blobs: BlobStore; meta: MetadataStore }> {
  const paths = resolvedPaths(config);
  await mkdir(config.dataDir, { recursive: true });
  const blobs = config.storage.kind === 's3' ? await S3BlobStore.open(config.storage) : await new FsBlobStore(paths.blobRoot!).init();
  const meta =
    config.metadata.kind === 'sqlite'
      ? SqlMetadataStore.open({ kind: 'sqlite', path: paths.sqlitePath! })
      : SqlMetadataStore.open({ kind: 'postgres', url: config.metadata.url, poolSize: config.metadata.poolSize });
  await meta.migrate();
  return { blobs, meta };
}

/** The one composition root: stores, then domain services, then edges. */
export async function createApp(config: BerthConfig): Promise<Berth> {
  const { blobs, meta } = await openStores(config);
  const registry = new RegistryService({ blobs, meta, limits: config.limits });

  const http = Fastify({
    logger: {
      level: config.log.level,
      // Credentials never reach the log, whatever the client sends.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-amz-security-token"]'],
    },
    bodyLimit: config.limits.manifestMaxBytes,
    // Per-request lines only at debug and trace: at CI load they would dominate the log.
    logController: new LogController({ disableRequestLogging: config.log.level !== 'debug' && config.log.level !== 'trace' }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  installMetrics(http);

  http.get('/healthz', async () => ({ status: 'ok' }));
  http.get('/readyz', async (_req, reply) => {
    try {
      await meta.ping();
      return { status: 'ready', metadata: meta.kind, storage: blobs.kind };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', error: (err as Error).message });
    }
  });
  await http.register(ociEdge, { registry, registryId: config.registryId, manifestMaxBytes: config.limits.manifestMaxBytes });

  let closed = false;
  return {
    config,
    http,
    blobs,
    meta,
    registry,
    async close() {
      if (closed) return;
      closed = true;
      await http.close();
      await meta.close();
      await blobs.close();
    },
  };
}
