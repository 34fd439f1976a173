import { randomBytes, randomUUID } from 'node:crypto';
import { protocolClientErrorHandler } from './edges/client-errors.js';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import { authenticateAwsRequest, installFrontDoor } from './auth/front-door.js';
import { authenticateSigV4, scopeMismatch } from './auth/authenticate.js';
import { bootstrapAdministrator, clientConfigToWrite, localEndpoint, writeClientConfig, type BootstrapResult } from './auth/bootstrap.js';
import { RegistryTokens } from './auth/registry-token.js';
import { AesGcmSecretCipher, loadServerKey } from './auth/secret-box.js';
import { sigV4Error } from './auth/sigv4.js';
import type { BerthConfig } from './config/config.js';
import { openStores } from './open-stores.js';
import { EcrAccess } from './domain/ecr/access.js';
import { createEcrServices, registerEcrJobs, type EcrServices } from './domain/ecr/index.js';
import { DomainError } from './domain/errors.js';
import { IdentityService } from './domain/iam/identity-service.js';
import { JobRunner } from './domain/jobs.js';
import { systemClock, type Clock } from './domain/clock.js';
import { ChangeFeed } from './domain/events/change-feed.js';
import { ChangeTypes } from './domain/events/change.js';
import { onChangesCommitted } from './stores/metadata/change-log.js';
import { modules as allModules } from './modules/index.js';
import type { BerthModule, ModuleContext } from './modules/module.js';
import { GarbageCollector } from './domain/gc.js';
import { purgeStaleUploads } from './domain/maintenance.js';
import { RegistryService, type RegistryHooks } from './domain/registry-service.js';
import { awsQueryEdge, type JsonService, type QueryService } from './edges/aws/query-edge.js';
import { ecrAuthService } from './edges/ecr-auth/index.js';
import { AwsAuthError, ecrEdge, ecrTargetConstraintFor } from './edges/ecr/plugin.js';
import { operations as coreEcrOperations, type Operation } from './edges/ecr/operations.js';
import { iamService } from './edges/iam/index.js';
import { installRegistryAuth } from './edges/oci-auth/index.js';
import { ociEdge, sendError as sendOciError } from './edges/oci/routes.js';
import { organizationsService } from './edges/organizations/index.js';
import { stsService } from './edges/sts/index.js';
import { operatorEdge } from './edges/operator/routes.js';
import { registerAuditJobs, startAudit, type AuditTrail } from './modules/audit/index.js';
import { keyArn, KeyService } from './modules/keys/key-service.js';
import { kmsDataKeys, RepositoryEncryption } from './modules/keys/repository-encryption.js';
import { EncryptingBlobs } from './stores/blob/encrypting-blobs.js';
import { pullTimeOperations } from './modules/pull-time/ecr-operations.js';
import { PullTimeExclusions } from './modules/pull-time/service.js';
import { SigningConfigurations } from './modules/signing/configuration.js';
import { SignerError, SigningProfiles } from './modules/signing/profiles.js';
import { signPushedImage } from './modules/signing/sign-on-push.js';
import { signerApi } from './modules/signing/signer-api.js';
import { signingOperations } from './modules/signing/ecr-operations.js';
import { kmsService } from './modules/keys/kms-api.js';
import { rootOfTrust } from './modules/keys/index.js';
import { SqlKeyStore } from './modules/keys/store.js';
import { installScanning, scanningEcrOperations } from './modules/scanning/index.js';
import { prepareTls, type TlsSetup } from './tls/tls.js';
import { installMetrics } from './observability/metrics.js';
import type { BlobStore } from './stores/blob-store.js';
import type { EcrStore } from './stores/ecr-store.js';
import type { MetadataStore } from './stores/metadata-store.js';
import { SqlIdentityStore } from './stores/metadata/sql-identity-store.js';
import { readAuthGeneration } from './stores/metadata/auth-generation.js';
import { AuthCache } from './domain/iam/auth-cache.js';
import { createEvents, type Events } from './modules/events/index.js';

/** How long /readyz waits for the database or the storage before calling the node unready. */
const READY_TIMEOUT_MS = 5_000;

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
  /** The change feed (subscribe before the server starts; see src/modules). */
  feed: ChangeFeed;
  identity: IdentityService;
  /** Set on the first start only: the administrator created then (secret included). */
  bootstrap: BootstrapResult | null;
  gc: GarbageCollector;
  /** The audit trail (CloudTrail records of every API call). */
  audit: AuditTrail;
  /** Berth's KMS (keys for encryption at rest). */
  keys: KeyService;
  /** Set when serving HTTPS. */
  tls: TlsSetup | null;
  /** Re-reads the certificate and key files (SIGHUP); new connections get them. */
  reloadTls(): Promise<void>;
  /** EventBridge rules, API destinations and deliveries (null when `events.enabled` is false). */
  events: Events | null;
  /** Stops accepting requests, finishes in-flight ones, then closes the stores. */
  close(): Promise<void>;
}

export { openStores } from './open-stores.js';

const SECRET_QUERY = /([?&](?:X-Amz-Security-Token|X-Amz-Signature|X-Amz-Credential)=)[^&]*/gi;
/** Layer download URLs (GetDownloadUrlForLayer) carry a bearer credential in the path. */
const SECRET_PATH = /^(\/ecr\/layer-downloads\/)[^?]*/;
export function scrubUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1***').replace(SECRET_PATH, '$1***');
}

/** The one composition root: stores, then domain services, then edges. */
export interface CreateAppOptions {
  /** Time for every service (tests pass a ManualClock). */
  clock?: Clock;
  /** Capability modules (default: all of src/modules/index.ts). */
  modules?: BerthModule[];
}

export async function createApp(config: BerthConfig, options: CreateAppOptions = {}): Promise<Berth> {
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const enabledModules = options.modules ?? allModules;
  const dialect = config.metadata.kind === 'sqlite' ? 'sqlite' : 'postgres';
  const { blobs, meta, ecrStore } = await openStores(config);
  const hooks: RegistryHooks = {};
  const pullRedirect = config.storage.kind === 's3' && config.storage.redirect ? { ttlSeconds: config.storage.redirectTtlSeconds } : undefined;
  // Blobs of KMS-encrypted repositories go through the encrypting layer (docs/encryption.md);
  // its data keys come from Berth's KMS, made below (it needs the identity service).
  let keysRef: KeyService | undefined;
  const encrypted = new EncryptingBlobs(blobs, kmsDataKeys(() => keysRef!));
  const registry = new RegistryService({ blobs, meta, limits: config.limits, hooks, pullRedirect, encrypted, region: config.region, clock: now });
  const downloadUrlSecret = config.ecr.downloadUrlSecret ?? (await meta.sharedSecret('ecr.download-url', randomBytes(32).toString('base64url'), Date.now()));
  // Background work: created before the services that hand work to it, started at the end.
  const jobs = new JobRunner({
    store: meta.jobs,
    clock,
    pollMs: config.jobs.pollSeconds * 1000,
    leaseMs: config.jobs.leaseSeconds * 1000,
    concurrency: config.jobs.concurrency,
    maxAttempts: config.jobs.maxAttempts,
    onError: (job, err) => http.log.error({ err, job: { id: job.id, kind: job.kind } }, 'background job failed'),
    onDead: (job, err) => http.log.error({ err, job: { id: job.id, kind: job.kind, attempts: job.attempts } }, 'background job dead-lettered (berth jobs retry)'),
  });
  // The change feed: every change's events, appended in its transaction, handed to subscribers.
  const feed = new ChangeFeed({
    store: meta.changes,
    jobs,
    jobStore: meta.jobs,
    owner: jobs.owner,
    clock: now,
    pollMs: config.changeFeed.pollMilliseconds,
    onError: (subscriber, err) => http.log.warn({ err, subscriber }, 'change subscriber failed; retrying'),
  });
  const stopNotify = onChangesCommitted(meta.db, () => feed.notify());
  // Principals whose pulls leave lastRecordedPullTime alone (Register/Deregister/ListPullTimeUpdateExclusions).
  const pullTime = new PullTimeExclusions(meta.db);
  const pullTimeExcluded = (registryId: string, principalArn: string | undefined) => pullTime.excludes(registryId, principalArn);
  const ecr = createEcrServices(
    {
      registry,
      meta,
      ecr: ecrStore,
      jobs,
      pullTimeExcluded,
      clock: now,
      region: config.region,
      async resolveKmsKey(accountId, kmsKey) {
        const key = await keysRef!.resolveForService(accountId, config.region, kmsKey);
        await keysRef!.requireUsable(keyArn(key));
        return keyArn(key);
      },
    },
    { downloadUrlTtlMs: config.ecr.downloadUrlTtlSeconds * 1000, downloadUrlSecret, restoreDelayMs: config.ecr.restoreDelaySeconds * 1000 },
  );
  registerEcrJobs(jobs, ecr);
  if (config.ecr.enabled) {
    // Pushes to new repositories follow creation templates; pulls refresh lastRecordedPullTime.
    hooks.createRepositoryOnPush = (registryId, name, _now, actor) => ecr.templates.createOnPush(registryId, name, config.ecr.createOnPush, actor);
    hooks.manifestPulled = (repositoryId, digest, registryId, principalArn) =>
      void pullTimeExcluded(registryId, principalArn)
        .then((excluded) => (excluded ? undefined : ecrStore.recordPull(repositoryId, digest, Date.now(), 3_600_000)))
        .catch(() => {});
  }
  const serverKey = await loadServerKey(config.dataDir, config.serverKey);
  // What authorization reads on every request, cached; invalidated on every node by the
  // auth_generation row and at once by writes through this node (domain/iam/auth-cache.ts).
  const authCache = new AuthCache({ readGeneration: () => readAuthGeneration(meta.db), refreshMs: config.auth.cacheRefreshMs, onError: (err) => http.log.warn({ err }, 'reading the auth generation failed') });
  meta.authWrites.on(() => authCache.clear());
  authCache.start();
  const identity = new IdentityService({ store: new SqlIdentityStore(meta.db, new AesGcmSecretCipher(serverKey)), defaultRegion: config.region, cache: authCache });
  const tokens = new RegistryTokens(serverKey, identity);
  const events = config.events.enabled
    ? createEvents({ db: meta.db, cipher: new AesGcmSecretCipher(serverKey), identity, config, now, log: { warn: (obj, msg) => http.log.warn(obj, msg) } })
    : null;
  // EventBridge rules see every change the feed carries (ECR Image Action and the others).
  if (events) feed.subscribe('events', (changes) => events.onChanges(changes));
  // Berth's KMS: key material sealed by the server key (or an external KMS, config kms.root).
  const keys = new KeyService({ store: new SqlKeyStore(meta.db), root: await rootOfTrust(config, serverKey), identity });
  keysRef = keys;
  const repositoryEncryption = new RepositoryEncryption(meta.db);
  hooks.encryptionOf = (repositoryId) => repositoryEncryption.of(repositoryId);
  // The one authorization of ECR actions (ECR API and /v2) with the stored repository and registry policies.
  const ecrAccess = new EcrAccess(identity, ecrStore, {
    region: config.region,
    cache: authCache,
    // What a /v2 push to a missing repository creates (and so which actions it takes).
    ...(config.ecr.enabled ? { createOnPush: (registryId: string, name: string) => ecr.templates.planCreateOnPush(registryId, name, config.ecr.createOnPush) } : {}),
  });
  const tls = await prepareTls(config);
  const bootstrap = await bootstrapAdministrator(identity, {
    dataDir: config.dataDir,
    accountId: config.bootstrap.accountId ?? config.registryId,
    region: config.region,
    ...(config.bootstrap.accessKeyId ? { accessKeyId: config.bootstrap.accessKeyId } : {}),
    ...(config.bootstrap.secretAccessKey ? { secretAccessKey: config.bootstrap.secretAccessKey } : {}),
    endpoint: localEndpoint(config.host, config.port, tls ? 'https' : 'http'),
    ...(tls?.selfSigned ? { caBundle: tls.selfSigned.caCert } : {}),
  });

  // The AWS-protocol surface: the core's services and what the modules add to it.
  const ecrOperations: Record<string, Operation> = { ...coreEcrOperations, ...pullTimeOperations(pullTime) };
  const jsonServices: JsonService[] = [ecrAuthService(identity, tokens), organizationsService(identity), kmsService(keys, config.region), ...(events ? [events.service] : [])];
  const queryServices: QueryService[] = [stsService(identity), iamService(identity)];
  const closeHooks: Array<() => Promise<void> | void> = [];

  const http = Fastify({
    ...(tls ? { https: tls.options } : {}),
    logger: {
      level: config.log.level,
      // Credentials never reach the log, whatever the client sends.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-amz-security-token"]'],
      serializers: {
        // Presigned AWS URLs carry the session token and signature in the query.
        req: (req: { method: string; url: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
          method: req.method,
          url: scrubUrl(req.url),
          host: req.host,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
    },
    bodyLimit: config.limits.manifestMaxBytes,
    // fastify's own per-request lines stay off: the audit module writes one access line of
    // its own per request (config log.access).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    return503OnClosing: true,
    // One request id per request (x-amzn-RequestId on the AWS edges, request.actor.requestId,
    // and every log line of the request); never taken from the client.
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // A body that ends early and other parser failures get the protocol's own error.
    clientErrorHandler: protocolClientErrorHandler,
    trustProxy: config.trustProxy,
    forceCloseConnections: 'idle',
    routerOptions: { constraints: { awsTarget: ecrTargetConstraintFor(ecrOperations) } },
    // Requests fastify rejects before routing (a malformed URL, say) still get the
    // protocol's own error form on /v2.
    frameworkErrors: (err, req, reply) => {
      if (req.url.startsWith('/v2')) return void sendOciError(req, reply as FastifyReply, new DomainError('NameInvalid', `malformed request: ${err.message}`));
      void (reply as FastifyReply).code(400).send({ error: 'Bad Request', message: err.message });
    },
  });
  installMetrics(http, blobs.requestCounts);
  // Every request's Actor and request id, before any edge (auth/front-door.ts).
  installFrontDoor(http);
  // Before any route: its onResponse hook records every API call the edges below serve.
  const audit = startAudit({ config, http, db: meta.db, dialect: meta.kind, identity });
  jsonServices.push(audit.service);
  registerAuditJobs(jobs, audit, config, Date.now, http.log);

  http.get('/healthz', async () => ({ status: 'ok' }));
  // Readiness: this node can serve right now (the database and the bucket or folder answer).
  // A load balancer takes a node out of rotation on 503 and back on 200.
  http.get('/readyz', async (_req, reply) => {
    const check = async (what: 'metadata' | 'storage', ping: (signal: AbortSignal) => Promise<void>) => {
      const signal = AbortSignal.timeout(READY_TIMEOUT_MS);
      // The database ping takes no signal: race it, so a hung engine still answers 503 in time.
      const timedOut = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), { once: true }));
      try {
        await Promise.race([ping(signal), timedOut]);
        return null;
      } catch (err) {
        return `${what}: ${(err as Error).message || (err as Error).name}`;
      }
    };
    const problems = (await Promise.all([check('metadata', () => meta.ping()), check('storage', (signal) => blobs.ping(signal))])).filter(Boolean);
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', metadata: meta.kind, storage: blobs.kind, errors: problems });
    return { status: 'ready', metadata: meta.kind, storage: blobs.kind };
  });
  // Capability modules plug in here, before the edges are registered (src/modules/).
  const moduleContext: ModuleContext = {
    config,
    clock,
    log: http.log,
    db: meta.db,
    dialect,
    meta,
    ecrStore,
    blobs,
    registry,
    ecr,
    identity,
    ecrAccess,
    jobs,
    jobStore: meta.jobs,
    feed,
    changes: meta.changes,
    http,
    addJsonService: (service) => void jsonServices.push(service),
    addQueryService: (service) => void queryServices.push(service),
    addEcrOperations: (extra) => {
      for (const name of Object.keys(extra)) if (Object.hasOwn(ecrOperations, name)) throw new Error(`ECR operation ${name} is defined twice`);
      Object.assign(ecrOperations, extra);
    },
    onClose: (hook) => void closeHooks.push(hook),
  };
  for (const module of enabledModules) await module.start(moduleContext);

  // Registered on the root before the /v2 routes, so it runs in front of every one of them
  // (with auth.v2=false it only names each request's operation from the route table).
  installRegistryAuth(http, {
    enforce: config.auth.v2,
    tokens,
    challenge: config.auth.challenge,
    registryId: config.registryId,
    // The policies the ECR API stores: a repository policy granting pulls to "*" makes it public.
    access: ecrAccess,
  });
  await http.register(ociEdge, {
    registry,
    registryId: config.registryId,
    manifestMaxBytes: config.limits.manifestMaxBytes,
    // Other accounts are addressed by host or path (edges/oci/addressing.ts); only hosted ones exist.
    accountExists: (registryId) => ecrAccess.accountExists(registryId),
  });
  // Managed signing: the registry's signing configuration (ECR API), the Signer profiles
  // that hold the keys (AWS Signer REST subset), and Berth signing matching pushes itself.
  // Called from the push path through a narrow hook (no change feed on main yet).
  const signingConfigurations = new SigningConfigurations(meta.db, ecrStore, meta);
  Object.assign(ecrOperations, signingOperations(signingConfigurations));
  const signingProfiles = new SigningProfiles(meta.db, new AesGcmSecretCipher(serverKey), config.region);
  if (config.ecr.enabled) {
    hooks.imagePushed = (pushed) =>
      void signPushedImage(pushed, { configurations: signingConfigurations, profiles: signingProfiles, registry }).catch((err: unknown) =>
        http.log.error({ err, repository: pushed.repository, digest: pushed.digest }, 'managed signing failed'),
      );
    await http.register(signerApi, {
      profiles: signingProfiles,
      async authenticate(req) {
        const url = req.raw.url ?? '/';
        const q = url.indexOf('?');
        const auth = await authenticateSigV4(identity, {
          method: req.method,
          path: q < 0 ? url : url.slice(0, q),
          rawQuery: q < 0 ? '' : url.slice(q + 1),
          headers: req.headers,
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        });
        if (!auth.ok) throw new SignerError('AccessDeniedException', 403, auth.message);
        const mismatch = scopeMismatch({ service: auth.service, region: auth.region }, { service: 'signer', region: config.region });
        if (mismatch) throw new SignerError('AccessDeniedException', 403, mismatch);
        return { accountId: auth.caller.accountId };
      },
    });
  }
  // ECR operations are routed to the ECR edge by their X-Amz-Target (a route constraint);
  // every other AWS-protocol request (STS, IAM, GetAuthorizationToken) to the AWS edge.
  if (config.ecr.enabled) {
    await http.register(ecrEdge, {
      ecr,
      operations: ecrOperations,
      registryId: config.registryId,
      region: config.region,
      async authenticate(req) {
        const auth = await authenticateAwsRequest(identity, req, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
        if (!auth.ok) {
          const { code, status } = sigV4Error(auth.reason, 'json');
          throw new AwsAuthError(code, status, auth.message);
        }
        return { accountId: auth.caller.accountId, region: auth.region, service: auth.service, caller: auth.caller, ...(auth.caller.principal.arn ? { arn: auth.caller.principal.arn } : {}) };
      },
      async authorize(req, principal, access) {
        const facts = { sourceIp: req.ip, secureTransport: req.protocol === 'https' };
        for (const repository of access.repositories ?? [null]) {
          await ecrAccess.require(principal.caller!, { action: access.action, registryId: access.registryId, repository }, facts);
        }
      },
    });
  }
  await http.register(awsQueryEdge, { identity, services: queryServices, jsonServices, region: config.region });
  const gc = new GarbageCollector(blobs, meta, { graceMs: config.gc.graceSeconds * 1000, staleUploadsAfterMs: config.uploads.staleAfterHours * 3_600_000 });
  await http.register(operatorEdge, { gc, lifecycle: ecr.lifecycle, registryId: config.registryId, identity, jobs: meta.jobs, loopbackOnly: config.operator.loopbackOnly });
  // Scanning (src/modules/scanning): its ECR operations, jobs and operator routes.
  Object.assign(ecrOperations, scanningEcrOperations);
  const scanning = installScanning({ config, db: meta.db, meta, ecrStore, registry, jobs, ecr, http, now: Date.now, log: http.log });
  // Scan on push is a subscriber of the change feed: a push acknowledged just before a crash
  // is still scanned once the node (or another) comes back.
  feed.subscribe(
    'scanning.on-push',
    async (changes) => {
      for (const c of changes) if (c.repository) await scanning.service.onImagePushed(c.registryId, c.repository, String(c.detail.digest));
    },
    { types: [ChangeTypes.imagePushed] },
  );

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
      const archived = reports.reduce((n, r) => n + r.transitioned.length, 0);
      if (expired + archived > 0) http.log.info({ expired, archived, repositories: reports.length }, 'lifecycle policies expired or archived images');
      for (const r of reports) if (r.skipped) http.log.warn({ repository: r.repositoryName, reason: r.skipped }, 'lifecycle policy skipped');
      // What went, by repository and tag: the record an operator looks for afterwards.
      for (const r of reports) {
        for (const image of r.expired) http.log.info({ registryId: r.registryId, repository: r.repositoryName, digest: image.imageDigest, tags: image.imageTags, rule: image.appliedRulePriority }, `lifecycle expired ${r.repositoryName}:${image.imageTags.join(',') || '<untagged>'}`);
        for (const image of r.transitioned) http.log.info({ registryId: r.registryId, repository: r.repositoryName, digest: image.imageDigest, tags: image.imageTags, rule: image.appliedRulePriority }, `lifecycle archived ${r.repositoryName}:${image.imageTags.join(',') || '<untagged>'}`);
      }
      // Not at the first start of a new, migrated or restored store: at the next scheduled time.
    }, { firstRunAfterInterval: true });
  }
  // Changes every subscriber has passed are kept `retentionDays`, then deleted.
  jobs.every('feed.purge', 3_600_000, async () => {
    const before = now() - config.changeFeed.retentionDays * 86_400_000;
    while ((await meta.changes.purgeChanges(before, 5_000)) === 5_000) {
      /* in slices, so no statement holds the database long */
    }
  });
  // Scheduled key deletions complete (crypto-shredding) and due rotations happen.
  jobs.every('kms.sweep', 10 * 60_000, async () => {
    const swept = await keys.sweep();
    if (swept.deleted + swept.rotated > 0) http.log.info(swept, 'KMS keys deleted or rotated on schedule');
  });
  if (config.jobs.enabled) {
    jobs.start();
    feed.start();
    events?.start();
  }
  // The config file gets the address the server listens on (with port 0, known only now).
  const clientConfigFile = await clientConfigToWrite(config.dataDir, bootstrap);
  if (clientConfigFile) {
    http.addHook('onListen', async () => {
      const address = http.server.address();
      if (!address || typeof address === 'string') return;
      const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
      await writeClientConfig(clientConfigFile, config.region, `${tls ? 'https' : 'http'}://${host}:${address.port}`, tls?.selfSigned?.caCert);
    });
  }
  // Expired temporary credentials are refused at once; their rows are purged hourly.
  const purge = setInterval(() => void identity.store.deleteExpiredSessions(Date.now()).catch(() => {}), 3600_000);
  purge.unref();

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
    feed,
    identity,
    bootstrap,
    gc,
    audit,
    events,
    keys,
    tls,
    async reloadTls() {
      if (!tls) return;
      (http.server as unknown as import('node:tls').Server).setSecureContext(await tls.reload());
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(purge);
      authCache.stop();
      // Stop taking requests at once; in-flight requests and a running job finish together.
      // close() drops only connections idle at that instant; one whose last response is
      // still finishing (a streamed blob) would linger until keepAliveTimeout (72 s).
      // Keep dropping connections as they go idle until the server has closed.
      const sweeper = setInterval(() => http.server.closeIdleConnections(), 50);
      try {
        await Promise.all([http.close(), jobs.stop(), feed.stop(), events?.stop()]);
        stopNotify();
        for (const hook of closeHooks.reverse()) await hook();
      } finally {
        clearInterval(sweeper);
      }
      // Every answered call's record is in the database before it closes.
      await audit.close().catch((err: unknown) => http.log.error({ err }, 'audit records lost at shutdown'));
      await meta.close();
      await blobs.close();
    },
  };
}
