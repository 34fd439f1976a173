import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { BerthConfig } from '../../config/config.js';
import type { IdentityService } from '../../domain/iam/identity-service.js';
import type { JobRunner } from '../../domain/jobs.js';
import type { JsonService } from '../../edges/aws/query-edge.js';
import { installAuditCapture } from './capture.js';
import { cloudTrailService } from './lookup-events.js';
import { AuditStore } from './store.js';
import { AuditWriter } from './writer.js';

// The audit trail, in CloudTrail's shape: capture (one onResponse hook), a batched chained
// writer, LookupEvents on the AWS edge, and a retention job. `berth audit` (cli.ts) exports
// and verifies the same tables.

export interface AuditTrail {
  store: AuditStore;
  writer: AuditWriter | null;
  /** CloudTrail's JSON service, for the AWS edge. */
  service: JsonService;
  /** Purges records older than the retention period as of `now`; returns how many went. */
  purge(now: number, signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

export interface AuditDeps {
  config: BerthConfig;
  http: FastifyInstance;
  db: Kysely<any>;
  dialect: 'sqlite' | 'postgres';
  identity: IdentityService;
  now?: () => number;
}

/** Installs the capture hook: call before the edges are registered, so it sees every route. */
export function startAudit(deps: AuditDeps): AuditTrail {
  const { config, http } = deps;
  const store = new AuditStore(deps.db, deps.dialect);
  const writer = config.audit.enabled
    ? new AuditWriter(store, {
        intervalMs: config.audit.flushMilliseconds,
        onError: (err, records) => http.log.error({ err, records }, 'audit records could not be written; retrying'),
      })
    : null;
  installAuditCapture(http, {
    writer,
    region: config.region,
    registryId: config.registryId,
    dataEvents: config.audit.dataEvents,
    accessLog: config.log.access,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const retentionMs = config.audit.retentionDays * 86_400_000;
  return {
    store,
    writer,
    service: cloudTrailService(deps.identity, store, writer ? () => writer.flush() : undefined),
    purge: (now, signal) => store.purge(now - retentionMs, signal),
    close: async () => writer?.close(),
  };
}

/** The recurring retention job. */
export function registerAuditJobs(jobs: JobRunner, audit: AuditTrail, config: BerthConfig, now: () => number, log: FastifyInstance['log']): void {
  jobs.every('audit.purge', config.audit.purgeIntervalMinutes * 60_000, async ({ signal }) => {
    const purged = await audit.purge(now(), signal);
    if (purged > 0) log.info({ purged, retentionDays: config.audit.retentionDays }, 'purged audit records past their retention');
  });
}
