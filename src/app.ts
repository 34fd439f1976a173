import { mkdir } from 'node:fs/promises';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import { resolvedPaths, type BerthConfig } from './config/config.js';
import { JobRunner } from './domain/jobs.js';
import { GarbageCollector } from './domain/gc.js';
import { purgeStaleUploads } from './domain/maintenance.js';
import { RegistryService, type RegistryHooks } from './domain/registry-service.js';
import { createEcrServices, type EcrServices } from './domain/ecr/index.js';
import { DomainError } from './domain/errors.js';
import { ecrEdge } from './edges/ecr/plugin.js';
import { ociEdge, sendError as sendOciError } from './edges/oci/routes.js';
import { operatorEdge } from './edges/operator/routes.js';
import { installMetrics } from './observability/metrics.js';
import type { BlobStore } from './stores/blob-store.js';
import type { EcrStore } from './stores/ecr-store.js';
import { FsBlobStore } from './stores/blob/fs-blob-store.js';
import { S3BlobStore } from './stores/blob/s3-blob-store.js';
import type { MetadataStore } from './stores/metadata-store.js';
import { SqlEcrStore } from './stores/metadata/sql-ecr-store.js';
import { SqlMetadataStore } from './stores/metadata/sql-metadata-store.js';

export interface Berth {
  config: BerthConfig;
  http: FastifyInstance;
  blobs: BlobStore;
  meta: MetadataStore;
  registry: RegistryService;
  /** ECR API services (also when the ECR edge is switched off, for tests and tools). */
  ecr: EcrServices;
  ecrStore: EcrStore;
  jobs: JobRunner;
  gc: GarbageCollector;
  /** Stops accepting requests, finishes in-flight ones, then closes the stores. */
  close(): Promise<void>;
}

export async function openStores(config: BerthConfig): Promise<{ blobs: BlobStore; meta: MetadataStore; ecrStore: EcrStore }> {
  const paths = resolvedPaths(config);
  await mkdir(config.dataDir, { recursive: true });
  const blobs = config.storage.kind === 's3' ? await S3BlobStore.open(config.storage) : await new FsBlobStore(paths.blobRoot!).init();
  const meta =
    config.metadata.kind === 'sqlite'
      ? SqlMetadataStore.open({ kind: 'sqlite', path: paths.sqlitePath! })
      : SqlMetadataStore.open({ kind: 'postgres', url: config.metadata.url, poolSize: config.metadata.poolSize });
  await meta.migrate();
  return { blobs, meta, ecrStore: new SqlEcrStore(meta.db) };
}

/** The one composition root: stores, then domain services, then edges. */
export async function createApp(config: BerthConfig): Promise<Berth> {
  const { blobs, meta, ecrStore } = await openStores(config);
  const hooks: RegistryHooks = {};
  const registry = new RegistryService({ blobs, meta, limits: config.limits, hooks });
  const ecr = createEcrServices({ registry, meta, ecr: ecrStore }, { downloadUrlTtlMs: config.ecr.downloadUrlTtlSeconds * 1000 });
  if (config.ecr.enabled) {
    // Pushes to new repositories follow creation templates; pulls refresh lastRecordedPullTime.
    hooks.createRepositoryOnPush = (registryId, name) => ecr.templates.createOnPush(registryId, name, config.ecr.createOnPush);
    hooks.manifestPulled = (repositoryId, digest) => void ecrStore.recordPull(repositoryId, digest, Date.now(), 3_600_000).catch(() => {});
  }

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
    // Requests fastify rejects before routing (a malformed URL, say) still get the
    // protocol's own error form on /v2.
    frameworkErrors: (err, req, reply) => {
      if (req.url.startsWith('/v2')) return void sendOciError(req, reply as FastifyReply, new DomainError('NameInvalid', `malformed request: ${err.message}`));
      void (reply as FastifyReply).code(400).send({ error: 'Bad Request', message: err.message });
    },
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
  // NOTE: until SigV4 verification lands, the ECR edge accepts any SigV4-shaped request.
  if (config.ecr.enabled) await http.register(ecrEdge, { ecr, registryId: config.registryId });
  const gc = new GarbageCollector(blobs, meta, { graceMs: config.gc.graceSeconds * 1000, staleUploadsAfterMs: config.uploads.staleAfterHours * 3_600_000 });
  await http.register(operatorEdge, { gc, lifecycle: ecr.lifecycle, registryId: config.registryId });

  const jobs = new JobRunner({
    meta,
    pollMs: config.jobs.pollSeconds * 1000,
    leaseMs: config.jobs.leaseSeconds * 1000,
    onError: (job, err) => http.log.error({ err, job: { id: job.id, kind: job.kind } }, 'background job failed'),
  });
  jobs.every('uploads.purge-stale', config.uploads.purgeIntervalMinutes * 60_000, async ({ signal }) => {
    const cutoff = Date.now() - config.uploads.staleAfterHours * 3_600_000;
    const purged = await purgeStaleUploads(blobs, meta, cutoff, signal);
    if (purged.uploads > 0) http.log.info(purged, 'purged abandoned uploads');
  });
  if (config.gc.enabled) {
    jobs.every('gc.collect', config.gc.intervalMinutes * 60_000, async ({ signal }) => {
      const freed = await gc.run({ signal });
      if (freed.linksRemoved + freed.blobsDeleted + freed.orphansDeleted > 0) http.log.info(freed, 'garbage collected');
    });
  }
  if (config.lifecycle.enabled) {
    jobs.every('lifecycle.run', config.lifecycle.intervalHours * 3_600_000, async ({ signal }) => {
      const reports = await ecr.lifecycle.run({ signal });
      const expired = reports.reduce((n, r) => n + r.expired.length, 0);
      if (expired > 0) http.log.info({ expired, repositories: reports.length }, 'lifecycle policies expired images');
    });
  }
  if (config.jobs.enabled) jobs.start();

  let closed = false;
  return {
    config,
    http,
    blobs,
    meta,
    registry,
    ecr,
    ecrStore,
    jobs,
    gc,
    async close() {
      if (closed) return;
      closed = true;
      await jobs.stop();
      // close() drops only connections idle at that instant; one whose last response is
      // still finishing (a streamed blob) would linger until keepAliveTimeout (72 s).
      // Keep dropping connections as they go idle until the server has closed.
      const sweeper = setInterval(() => http.server.closeIdleConnections(), 50);
      try {
        await http.close();
      } finally {
        clearInterval(sweeper);
      }
      await meta.close();
      await blobs.close();
    },
  };
}
