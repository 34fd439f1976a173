import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { BerthConfig } from '../config/config.js';
import type { Clock } from '../domain/clock.js';
import type { EcrAccess } from '../domain/ecr/access.js';
import type { EcrServices } from '../domain/ecr/index.js';
import type { ChangeFeed } from '../domain/events/change-feed.js';
import type { IdentityService } from '../domain/iam/identity-service.js';
import type { JobRunner } from '../domain/jobs.js';
import type { RegistryService } from '../domain/registry-service.js';
import type { JsonService, QueryService } from '../edges/aws/query-edge.js';
import type { Operation } from '../edges/ecr/operations.js';
import type { BlobStore } from '../stores/blob-store.js';
import type { ChangeStore } from '../stores/change-store.js';
import type { EcrStore } from '../stores/ecr-store.js';
import type { JobStore } from '../stores/job-store.js';
import type { MetadataStore } from '../stores/metadata-store.js';
import type { SqlDialectName } from '../stores/metadata/migrations.js';

// A capability (scanning, replication, events, audit, keys, metering, ...) lives in one
// folder under src/modules/ and plugs into the core through this narrow context: it adds
// its tables (migrations), its background jobs, its change-feed subscriptions, its API
// operations and routes. app.ts only lists the modules (src/modules/index.ts).

export interface BerthModule {
  /** Folder name, also the prefix of its job kinds and subscriber names. */
  name: string;
  /** Wires the module in; runs before the edges are registered and before the server listens. */
  start(ctx: ModuleContext): Promise<void> | void;
}

export interface ModuleContext {
  config: BerthConfig;
  clock: Clock;
  log: FastifyBaseLogger;
  /** The metadata database (its own tables; transact(db, work, { changes }) for the feed). */
  db: Kysely<any>;
  dialect: SqlDialectName;
  meta: MetadataStore;
  ecrStore: EcrStore;
  blobs: BlobStore;
  registry: RegistryService;
  ecr: EcrServices;
  identity: IdentityService;
  ecrAccess: EcrAccess;
  jobs: JobRunner;
  jobStore: JobStore;
  feed: ChangeFeed;
  changes: ChangeStore;
  /** For routes of the module's own (registered before listen). */
  http: FastifyInstance;
  /** An AWS JSON 1.1 service on `POST /`, told apart by its X-Amz-Target prefix. */
  addJsonService(service: JsonService): void;
  /** An AWS query-protocol service on `POST /` (Action=...), told apart by its signing name. */
  addQueryService(service: QueryService): void;
  /** ECR operations (X-Amz-Target AmazonEC2ContainerRegistry_V20150921.<Name>). */
  addEcrOperations(operations: Record<string, Operation>): void;
  /** Runs when the server closes, before the stores close. */
  onClose(hook: () => Promise<void> | void): void;
}
