import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { BerthConfig } from '../../config/config.js';
import type { EcrServices } from '../../domain/ecr/index.js';
import type { JobRunner } from '../../domain/jobs.js';
import type { RegistryService } from '../../domain/registry-service.js';
import type { EcrStore } from '../../stores/ecr-store.js';
import type { MetadataStore } from '../../stores/metadata-store.js';
import { scanInWorker } from './engine/run-in-worker.js';
import { defaultEngineLimits, type EngineLimits } from './engine/scan-image.js';
import { scanningOperations } from './ecr-operations.js';
import { scanningOperatorRoutes } from './operator-routes.js';
import { RESCAN_JOB, SCAN_JOB, ScanningService, type ScanEvent, type ScanJobPayload } from './service.js';
import { ScanningStore } from './store/sql-store.js';
import { VulnDb } from './vulndb/vulndb.js';

export { scanningMigrations } from './store/migrations.js';

// Vulnerability scanning (issue 15): the engine, the offline OSV database, ECR's scanning
// operations, SBOMs. Everything it plugs into is passed in here.

export interface ScanningContext {
  config: BerthConfig;
  db: Kysely<any>;
  meta: MetadataStore;
  ecrStore: EcrStore;
  registry: RegistryService;
  jobs: JobRunner;
  ecr: EcrServices;
  http: FastifyInstance;
  now: () => number;
  /** Where change events go ('scan.completed'); none until the change feed is there. */
  emit?: (events: ScanEvent[]) => Promise<void>;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface Scanning {
  service: ScanningService;
  store: ScanningStore;
  vulndb: VulnDb;
}

/** The scanning service of an app, found from an ECR operation's context. */
export function scanningOf(ecr: EcrServices): ScanningService {
  const s = (ecr as EcrServices & { scanning?: ScanningService }).scanning;
  if (!s) throw new Error('scanning is not installed');
  return s;
}

export function installScanning(ctx: ScanningContext): Scanning {
  const store = new ScanningStore(ctx.db);
  const c = ctx.config.scanning;
  const limits: EngineLimits = { ...defaultEngineLimits, maxMetadataBytes: c.maxMetadataMiB * 1024 * 1024, maxJarBytes: c.maxJarMiB * 1024 * 1024 };
  const service = new ScanningService({
    store,
    ecr: ctx.ecrStore,
    meta: ctx.meta,
    openLayer: async (registryId, repository, digest) => (await ctx.registry.openBlob(registryId, repository, digest)).stream,
    now: ctx.now,
    region: ctx.config.region,
    limits,
    enqueue: (kind, payload) => ctx.jobs.enqueue(kind, payload),
    emit: ctx.emit ?? (async () => {}),
    ...(c.worker ? { runEngine: (layers, l, signal) => scanInWorker(layers, l, signal, c.workerHeapMiB) } : {}),
  });
  const vulndb = new VulnDb(store, ctx.now, () => ctx.jobs.enqueue(RESCAN_JOB, null));
  (ctx.ecr as EcrServices & { scanning?: ScanningService }).scanning = service;
  ctx.ecr.images.scanSummaries = (registryId, repository, digests) => service.summaries(registryId, repository, digests);
  ctx.jobs.register(SCAN_JOB, ({ job, signal }) => service.runScanJob(job.payload as ScanJobPayload, signal));
  ctx.jobs.register(RESCAN_JOB, async ({ signal }) => {
    const r = await service.rescanAll(signal);
    ctx.log?.info(r, 'continuous scan: inventories matched again after a database update');
  });
  scanningOperatorRoutes(ctx.http, { vulndb, store, registryId: ctx.config.registryId, registryHost: () => ctx.config.host, now: ctx.now });
  return { service, store, vulndb };
}

/** The ECR operations this module adds, keyed by X-Amz-Target name. */
export const scanningEcrOperations = scanningOperations(scanningOf);
