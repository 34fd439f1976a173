import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';

// One validated schema for every setting. Sources, later ones winning:
// defaults < config file (JSON, --config / BERTH_CONFIG) < BERTH_* env vars < CLI flags.

const metadataSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sqlite'), path: z.string().min(1).optional() }).strict(),
  z.object({ kind: z.literal('postgres'), url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'), poolSize: z.number().int().min(1).max(200).default(10) }).strict(),
]);

// Region, endpoint, credentials and checksum behaviour left unset here come from the usual
// AWS sources (AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
// ~/.aws/config, instance roles ...). See docs/storage-s3.md.
const s3StorageSchema = z
  .object({
    kind: z.literal('s3'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 of a-z 0-9 . -)'),
    /** Key prefix inside the bucket, so several registries can share one bucket. */
    prefix: z.string().regex(/^[A-Za-z0-9!_.*'()\/-]*$/, 'may hold letters, digits, / and !_.*\'()-').default(''),
    region: z.string().min(1).optional(),
    endpoint: z.string().url().optional(),
    /** Default: true when an endpoint is set (self-hosted engines), else false. */
    forcePathStyle: z.boolean().optional(),
    createBucket: z.boolean().default(false),
    /** 'when_required' for engines that refuse the SDK's streaming checksums (Ceph 16). */
    checksums: z.enum(['when_required', 'when_supported']).optional(),
    /**
     * Answer blob pulls with a 307 to a presigned GetObject URL so bytes skip the node. The
     * engine's endpoint must then be reachable by registry clients, not only by Berth.
     */
    redirect: z.boolean().default(false),
    /** How long a redirect URL stays valid. */
    redirectTtlSeconds: z.number().int().min(10).max(7 * 86_400).default(900),
  })
  .strict();

const storageSchema = z.discriminatedUnion('kind', [z.object({ kind: z.literal('fs'), path: z.string().min(1).optional() }).strict(), s3StorageSchema]);

export const configSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0'),
    port: z.coerce.number().int().min(0).max(65535).default(5000),
    dataDir: z.string().min(1).default('./data'),
    /**
     * Behind a reverse proxy: believe its X-Forwarded-Proto/-Host/-For (URLs Berth hands out,
     * such as ECR layer download URLs, then carry https and the public host). true trusts any
     * peer; a string lists trusted addresses or CIDRs, comma-separated.
     */
    trustProxy: z.union([z.boolean(), z.string().min(1)]).default(false),
    /**
     * Base64 of the 32-byte key that seals stored secret access keys. Every node sharing a
     * database needs the same one. Unset: <data-dir>/server.key, created on first start.
     */
    serverKey: z
      .string()
      .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be the base64 of 32 bytes')
      .optional(),
    /**
     * HTTPS (TLS 1.2 and 1.3 only) on the one port: cert and key are PEM files, read again on
     * SIGHUP. selfSigned makes a local CA and a server certificate under <data-dir>/tls/ when
     * no cert/key are given (docs/encryption.md). Unset: plain HTTP.
     */
    tls: z
      .object({ cert: z.string().min(1).optional(), key: z.string().min(1).optional(), selfSigned: z.boolean().default(false) })
      .strict()
      .refine((t) => !t.cert === !t.key, 'tls.cert and tls.key go together')
      .default({ selfSigned: false }),
    /**
     * Berth's KMS (docs/encryption.md). kms.root seals key material at rest: the server key
     * (default), or an AWS-KMS-compatible service by endpoint, with a key there.
     */
    kms: z
      .object({
        root: z
          .discriminatedUnion('kind', [
            z.object({ kind: z.literal('server-key') }).strict(),
            z
              .object({
                kind: z.literal('kms'),
                endpoint: z.string().url(),
                keyId: z.string().min(1),
                region: z.string().min(1).optional(),
                /** Default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the process. */
                accessKeyId: z.string().min(1).optional(),
                secretAccessKey: z.string().min(1).optional(),
              })
              .strict(),
          ])
          .default({ kind: 'server-key' }),
      })
      .strict()
      .default({ root: { kind: 'server-key' } }),
    metadata: metadataSchema.default({ kind: 'sqlite' }),
    storage: storageSchema.default({ kind: 'fs' }),
    /** The 12-digit account whose registry /v2 serves when the address names none; defaults to bootstrap.accountId when that is set. */
    registryId: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id').default('000000000000'),
    /** Region of the accounts this server hosts (ARNs, credential files). */
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must look like us-east-1').default('us-east-1'),
    /**
     * The first administrator, created on the first start with an empty store. Unset
     * fields get fresh random values (the account id defaults to registryId). From
     * BERTH_BOOTSTRAP_ACCOUNT_ID, BERTH_BOOTSTRAP_ACCESS_KEY_ID, BERTH_BOOTSTRAP_SECRET_ACCESS_KEY.
     */
    /**
     * auth.v2: require a login (GetAuthorizationToken password, Basic or Bearer) and IAM
     * authorization on every /v2 request, as ECR does. On by default (secure by default);
     * BERTH_AUTH_V2=false serves /v2 to anyone, for closed networks and tests.
     */
    auth: z
      .object({
        v2: z.boolean().default(true),
        /** 401 challenge on /v2: basic (as ECR) or bearer (distribution token flow via GET /token). */
        challenge: z.enum(['basic', 'bearer']).default('basic'),
        /**
         * How often (ms) each node checks whether any policy, user, key, role, repository
         * policy, tag or registry policy changed anywhere (the auth_generation row); cached
         * credentials and parsed policies are dropped when it moved. A change takes effect on
         * every node within this bound (docs/identity.md). 0 turns the caches off.
         */
        cacheRefreshMs: z.number().int().min(0).max(60_000).default(1000),
      })
      .strict()
      .default({ v2: true, challenge: 'basic', cacheRefreshMs: 1000 }),
    bootstrap: z
      .object({
        accountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id').optional(),
        accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'must be 16-128 upper-case letters and digits').optional(),
        secretAccessKey: z.string().min(16).max(128).optional(),
      })
      .strict()
      .default({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** One JSON access line per request at info (actor, operation, repository, status, bytes, ms, request id). */
        access: z.boolean().default(true),
      })
      .strict()
      .default({ level: 'info', access: true }),
    /** The audit trail: every API call as a CloudTrail record (docs/audit.md). */
    audit: z
      .object({
        enabled: z.boolean().default(true),
        /** Record pulls (BatchGetImage, GetDownloadUrlForLayer: CloudTrail data events). */
        dataEvents: z.boolean().default(true),
        /** Records older than this are purged (CloudTrail's event history keeps 90 days). */
        retentionDays: z.number().positive().default(90),
        purgeIntervalMinutes: z.number().positive().default(60),
        /** Records are queued and written in batches at most this far apart. */
        flushMilliseconds: z.number().int().min(1).max(60_000).default(200),
      })
      .strict()
      .default({ enabled: true, dataEvents: true, retentionDays: 90, purgeIntervalMinutes: 60, flushMilliseconds: 200 }),
    limits: z
      .object({
        manifestMaxBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
        maxPageSize: z.number().int().min(1).max(100_000).default(10_000),
      })
      .strict()
      .default({ manifestMaxBytes: 4 * 1024 * 1024, maxPageSize: 10_000 }),
    uploads: z
      .object({
        /** An upload not written to for this long is abandoned and purged. */
        staleAfterHours: z.number().positive().default(24),
        purgeIntervalMinutes: z.number().positive().default(60),
      })
      .strict()
      .default({ staleAfterHours: 24, purgeIntervalMinutes: 60 }),
    ecr: z
      .object({
        /** Serve Amazon ECR's API (POST / with X-Amz-Target) beside /v2. */
        enabled: z.boolean().default(true),
        /** How long a GetDownloadUrlForLayer URL stays valid. */
        downloadUrlTtlSeconds: z.number().int().min(1).max(86_400).default(600),
        /**
         * The secret layer download URLs are signed with; identical on every node. Unset: one
         * is generated and kept in the metadata database, which every node shares.
         */
        downloadUrlSecret: z.string().min(32, 'must be at least 32 characters').optional(),
        /**
         * A push to a repository that does not exist: 'always' creates it (from the matching
         * CREATE_ON_PUSH template, else with defaults); 'template' refuses it without a
         * matching template, as ECR does.
         */
        createOnPush: z.enum(['always', 'template']).default('always'),
        /**
         * How long an image restored from the archive storage class (UpdateImageStorageClass
         * to STANDARD) stays ACTIVATING before it can be pulled. Berth keeps archived bytes
         * where they were, so this only mimics ECR's restore (up to 20 minutes there).
         */
        restoreDelaySeconds: z.number().min(0).max(86_400).default(5),
      })
      .strict()
      .default({ enabled: true, downloadUrlTtlSeconds: 600, createOnPush: 'always', restoreDelaySeconds: 5 }),
    jobs: z
      .object({
        /** Run background jobs on this node. Every node may; each job runs once. */
        enabled: z.boolean().default(true),
        pollSeconds: z.number().positive().default(5),
        leaseSeconds: z.number().positive().default(600),
        /** Jobs one node runs at once (each kind also has a limit of its own). */
        concurrency: z.number().int().positive().default(2),
        /** Failed attempts before a job is dead-lettered (`berth jobs list --state dead`, `berth jobs retry`). */
        maxAttempts: z.number().int().positive().default(10),
      })
      .strict()
      .default({ enabled: true, pollSeconds: 5, leaseSeconds: 600, concurrency: 2, maxAttempts: 10 }),
    changeFeed: z
      .object({
        /** How often an idle subscriber looks for changes made on other nodes (this node's wake it at once). */
        pollMilliseconds: z.number().int().positive().default(1000),
        /** Changes every subscriber has passed are deleted after this many days. */
        retentionDays: z.number().positive().default(7),
      })
      .strict()
      .default({ pollMilliseconds: 1000, retentionDays: 7 }),
    gc: z
      .object({
        /** Run garbage collection as a scheduled job (it can always be run with `berth gc`). */
        enabled: z.boolean().default(true),
        intervalMinutes: z.number().positive().default(60),
        /** Blobs and links claimed more recently than this are never collected (docs/gc.md). */
        graceSeconds: z.number().nonnegative().default(3600),
      })
      .strict()
      .default({ enabled: true, intervalMinutes: 60, graceSeconds: 3600 }),
    scanning: z
      .object({
        /** Run the scan engine in a worker thread (its own heap), off the event loop. */
        worker: z.boolean().default(true),
        /** Heap limit of a scan worker, MiB. */
        workerHeapMiB: z.number().int().min(32).default(160),
        /** Largest package-database or manifest file a scan reads into memory (a larger one fails the scan), MiB. */
        maxMetadataMiB: z.number().int().min(1).default(64),
        /** Largest jar a scan opens (zips need random access, so a jar is held in memory); larger ones are skipped, MiB. */
        maxJarMiB: z.number().int().min(1).default(32),
        /** Scans running at once on a node. */
        concurrency: z.number().int().min(1).default(2),
      })
      .strict()
      .default({ worker: true, workerHeapMiB: 160, maxMetadataMiB: 64, maxJarMiB: 32, concurrency: 2 }),
    lifecycle: z
      .object({
        /** Apply ECR lifecycle policies on a schedule (`berth lifecycle run` works regardless). */
        enabled: z.boolean().default(true),
        intervalHours: z.number().positive().default(24),
      })
      .strict()
      .default({ enabled: true, intervalHours: 24 }),
    events: z
      .object({
        /** Serve the EventBridge API subset (AWSEvents.*) and deliver matching events to API destinations (docs/events.md). */
        enabled: z.boolean().default(true),
        /** How long one webhook request may take, as EventBridge gives API destinations. */
        deliveryTimeoutSeconds: z.number().positive().max(300).default(5),
        /** How many targets one node delivers to at once (each target's events go out in order). */
        concurrency: z.number().int().min(1).max(64).default(4),
        /** How often a node looks for deliveries that are due (new events are sent at once). */
        pollSeconds: z.number().positive().default(1),
        /** Retries of a failed delivery: exponential backoff from baseSeconds, each delay at most maxDelaySeconds. */
        retryBaseSeconds: z.number().positive().default(1),
        retryMaxDelaySeconds: z.number().positive().default(300),
        /** Defaults of a target without RetryPolicy (EventBridge's: 24 hours, 185 retries). */
        maximumEventAgeSeconds: z.number().int().min(60).max(86_400).default(86_400),
        maximumRetryAttempts: z.number().int().min(0).max(185).default(185),
      })
      .strict()
      .default({ enabled: true, deliveryTimeoutSeconds: 5, concurrency: 4, pollSeconds: 1, retryBaseSeconds: 1, retryMaxDelaySeconds: 300, maximumEventAgeSeconds: 86_400, maximumRetryAttempts: 185 }),
    operator: z
      .object({
        /**
         * The operator endpoints (`berth gc`, `berth lifecycle run`) always need a SigV4-signed
         * request allowed by IAM; this also refuses callers not on this machine.
         */
        loopbackOnly: z.boolean().default(false),
      })
      .strict()
      .default({ loopbackOnly: false }),
  })
  .strict();

export type BerthConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {}

/** `--metadata` and BERTH_METADATA take a SQLite file path or a postgres:// URL. */
export function metadataFromString(value: string): NonNullable<ConfigInput['metadata']> {
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', url: value };
  // Any other scheme (mysql://, sqlite://) is a mistake, not a file name.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (scheme && scheme.toLowerCase() !== 'file') throw new ConfigError(`metadata: unsupported ${scheme}:// store ${value.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}; give a SQLite file path or a postgres:// URL (--metadata or BERTH_METADATA)`);
  return { kind: 'sqlite', path: scheme ? value.slice('file://'.length) : value };
}

/**
 * `--storage` and BERTH_STORAGE take a folder path or `s3://<bucket>/<prefix>`, the latter
 * with optional query settings: ?region=&endpoint=&forcePathStyle=&createBucket=&checksums=&redirect=&redirectTtlSeconds=
 */
export function storageFromString(value: string): NonNullable<ConfigInput['storage']> {
  if (value.startsWith('s3://')) return s3FromUrl(value);
  const path = value.startsWith('file://') ? value.slice('file://'.length) : value;
  if (/^[a-z0-9]+:\/\//.test(path)) throw new ConfigError(`unsupported storage ${value}: use a folder path or s3://<bucket>/<prefix>`);
  return { kind: 'fs', path };
}

function s3FromUrl(value: string): NonNullable<ConfigInput['storage']> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`invalid storage URL ${value}: use s3://<bucket>/<prefix>`);
  }
  if (!url.hostname) throw new ConfigError(`storage URL ${value} names no bucket: use s3://<bucket>/<prefix>`);
  const out: Record<string, unknown> = { kind: 's3', bucket: url.hostname, prefix: decodeURIComponent(url.pathname.replace(/^\/+/, '')) };
  const booleans = new Set(['forcePathStyle', 'createBucket', 'redirect']);
  for (const [key, raw] of url.searchParams) {
    if (key === 'redirectTtlSeconds') {
      out[key] = Number(raw);
      continue;
    }
    if (!['region', 'endpoint', 'forcePathStyle', 'createBucket', 'checksums', 'redirect'].includes(key)) throw new ConfigError(`unknown storage URL setting ${key}`);
    if (booleans.has(key) && raw !== 'true' && raw !== 'false') throw new ConfigError(`storage URL setting ${key} must be true or false`);
    out[key] = booleans.has(key) ? raw === 'true' : raw;
  }
  return out as NonNullable<ConfigInput['storage']>;
}

export interface ConfigOverrides {
  config?: string;
  host?: string;
  port?: string | number;
  dataDir?: string;
  metadata?: string;
  storage?: string;
  logLevel?: string;
  serverKey?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: string | boolean;
}

/** Env vars recognised, each the same as the flag of the same name. */
export const envVars = {
  BERTH_CONFIG: 'config',
  BERTH_HOST: 'host',
  BERTH_PORT: 'port',
  BERTH_DATA_DIR: 'dataDir',
  BERTH_METADATA: 'metadata',
  BERTH_STORAGE: 'storage',
  BERTH_LOG_LEVEL: 'logLevel',
  BERTH_SERVER_KEY: 'serverKey',
  BERTH_TLS_CERT: 'tlsCert',
  BERTH_TLS_KEY: 'tlsKey',
  BERTH_TLS_SELF_SIGNED: 'tlsSelfSigned',
} as const satisfies Record<string, keyof ConfigOverrides>;

export function overridesFromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const out: ConfigOverrides = {};
  for (const [name, key] of Object.entries(envVars)) {
    const value = env[name];
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

/** Builds the effective configuration, or throws ConfigError naming every bad setting. */
export function loadConfig(flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): BerthConfig {
  const merged: ConfigOverrides = { ...overridesFromEnv(env), ...stripUndefined(flags) };
  let input: Record<string, unknown> = {};
  if (merged.config) {
    try {
      input = JSON.parse(readFileSync(merged.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot read config file ${merged.config}: ${(err as Error).message}`);
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError(`config file ${merged.config} must hold a JSON object`);
  }
  try {
    if (merged.host !== undefined) input.host = merged.host;
    if (merged.port !== undefined) input.port = merged.port;
    if (merged.dataDir !== undefined) input.dataDir = merged.dataDir;
    if (merged.metadata !== undefined) input.metadata = metadataFromString(merged.metadata);
    if (merged.storage !== undefined) input.storage = storageFromString(merged.storage);
    if (merged.serverKey !== undefined) input.serverKey = merged.serverKey;
    if (merged.tlsCert !== undefined || merged.tlsKey !== undefined || merged.tlsSelfSigned !== undefined) {
      const tls: Record<string, unknown> = { ...(input.tls as object | undefined) };
      if (merged.tlsCert !== undefined) tls.cert = merged.tlsCert;
      if (merged.tlsKey !== undefined) tls.key = merged.tlsKey;
      if (merged.tlsSelfSigned !== undefined) {
        const v = merged.tlsSelfSigned;
        if (v !== true && v !== 'true' && v !== 'false' && v !== false) throw new ConfigError('BERTH_TLS_SELF_SIGNED must be true or false');
        tls.selfSigned = v === true || v === 'true';
      }
      input.tls = tls;
    }
    if (merged.logLevel !== undefined) input.log = { ...(input.log as object | undefined), level: merged.logLevel };
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const bootstrap: Record<string, string> = { ...(input.bootstrap as Record<string, string> | undefined) };
  for (const [name, key] of Object.entries(bootstrapEnvVars)) if (env[name]) bootstrap[key] = env[name]!;
  if (Object.keys(bootstrap).length) input.bootstrap = bootstrap;
  if (env.BERTH_AUTH_V2 !== undefined && env.BERTH_AUTH_V2 !== '') {
    if (!/^(true|false)$/.test(env.BERTH_AUTH_V2)) throw new ConfigError('BERTH_AUTH_V2 must be true or false');
    input.auth = { ...(input.auth as object | undefined), v2: env.BERTH_AUTH_V2 === 'true' };
  }
  return parseConfig(input);
}

const bootstrapEnvVars = {
  BERTH_BOOTSTRAP_ACCOUNT_ID: 'accountId',
  BERTH_BOOTSTRAP_ACCESS_KEY_ID: 'accessKeyId',
  BERTH_BOOTSTRAP_SECRET_ACCESS_KEY: 'secretAccessKey',
} as const;

export function parseConfig(input: unknown): BerthConfig {
  // /v2 serves the administrator's own account unless told otherwise: a server bootstrapped
  // into account X whose bare /v2 paths named account 000000000000 would refuse X's admin.
  const record = typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : null;
  const bootstrapAccount = (record?.bootstrap as { accountId?: unknown } | undefined)?.accountId;
  if (record && record.registryId === undefined && typeof bootstrapAccount === 'string') input = { ...record, registryId: bootstrapAccount };
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  return config;
}

/** Where the SQLite file and the blob folder (or bucket) live once defaults are applied. */
export function resolvedPaths(config: BerthConfig) {
  const storage = config.storage;
  const blobRoot = storage.kind === 'fs' ? resolve(config.dataDir, storage.path ?? 'storage') : null;
  return {
    sqlitePath: config.metadata.kind === 'sqlite' ? resolve(config.dataDir, config.metadata.path ?? 'berth.db') : null,
    /** The blob folder; null when blobs are in S3. */
    blobRoot,
    /** Where blobs are, for people: the folder or s3://bucket/prefix. */
    blobLocation: storage.kind === 's3' ? `s3://${storage.bucket}/${storage.prefix}` : blobRoot!,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
