import { mkdir } from 'node:fs/promises';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { bootstrapAdministrator, writeClientConfig, type BootstrapResult } from './auth/bootstrap.js';
import { RegistryTokens } from './auth/registry-token.js';
import { AesGcmSecretCipher, loadServerKey } from './auth/secret-box.js';
import { resolvedPaths, type BerthConfig } from './config/config.js';
import { IdentityService } from './domain/iam/identity-service.js';
import { RegistryService } from './domain/registry-service.js';
import { awsQueryEdge } from './edges/aws/query-edge.js';
import { ecrAuthService } from './edges/ecr-auth/index.js';
import { iamService } from './edges/iam/index.js';
import { installRegistryAuth } from './edges/oci-auth/index.js';
import { organizationsService } from './edges/organizations/index.js';
import { ociEdge } from './edges/oci/routes.js';
import { stsService } from './edges/sts/index.js';
import { installMetrics } from './observability/metrics.js';
import type { BlobStore } from './stores/blob-store.js';
import { FsBlobStore } from './stores/blob/fs-blob-store.js';
import type { MetadataStore } from './stores/metadata-store.js';
import { SqlIdentityStore } from './stores/metadata/sql-identity-store.js';
import { SqlMetadataStore } from './stores/metadata/sql-metadata-store.js';

export interface Berth {
  config: BerthConfig;
  http: FastifyInstance;
  blobs: BlobStore;
  meta: MetadataStore;
  registry: RegistryService;
  identity: IdentityService;
  /** Set on the first start only: the administrator created then (secret included). */
  bootstrap: BootstrapResult | null;
  /** Stops accepting requests, finishes in-flight ones, then closes the stores. */
  close(): Promise<void>;
}

export async function openStores(config: BerthConfig): Promise<{ blobs: BlobStore; meta: MetadataStore }> {
  const paths = resolvedPaths(config);
  await mkdir(config.dataDir, { recursive: true });
  const blobs = await new FsBlobStore(paths.blobRoot).init();
  const meta =
    config.metadata.kind === 'sqlite'
      ? SqlMetadataStore.open({ kind: 'sqlite', path: paths.sqlitePath! })
      : SqlMetadataStore.open({ kind: 'postgres', url: config.metadata.url, poolSize: config.metadata.poolSize });
  await meta.migrate();
  return { blobs, meta };
}

const SECRET_QUERY = /([?&](?:X-Amz-Security-Token|X-Amz-Signature|X-Amz-Credential)=)[^&]*/gi;
export function scrubUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1***');
}

/** The one composition root: stores, then domain services, then edges. */
export async function createApp(config: BerthConfig): Promise<Berth> {
  const { blobs, meta } = await openStores(config);
  const registry = new RegistryService({ blobs, meta, limits: config.limits });
  if (!(meta instanceof SqlMetadataStore)) throw new Error('the identity store needs the SQL metadata store');
  const serverKey = await loadServerKey(config.dataDir);
  const identity = new IdentityService({ store: new SqlIdentityStore(meta.db, new AesGcmSecretCipher(serverKey)), defaultRegion: config.region });
  const tokens = new RegistryTokens(serverKey, identity);
  const bootstrap = await bootstrapAdministrator(identity, {
    dataDir: config.dataDir,
    accountId: config.bootstrap.accountId ?? config.registryId,
    region: config.region,
    ...(config.bootstrap.accessKeyId ? { accessKeyId: config.bootstrap.accessKeyId } : {}),
    ...(config.bootstrap.secretAccessKey ? { secretAccessKey: config.bootstrap.secretAccessKey } : {}),
  });

  const http = Fastify({
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
  // Registered on the root before the /v2 routes, so it runs in front of every one of them.
  if (config.auth.v2) installRegistryAuth(http, { identity, tokens, challenge: config.auth.challenge, registryId: config.registryId, region: config.region });
  await http.register(ociEdge, { registry, registryId: config.registryId, manifestMaxBytes: config.limits.manifestMaxBytes });
  await http.register(awsQueryEdge, { identity, services: [stsService(identity), iamService(identity)], jsonServices: [ecrAuthService(identity, tokens), organizationsService(identity)] });
  if (bootstrap) {
    http.addHook('onListen', async () => {
      const address = http.server.address();
      if (!address || typeof address === 'string') return;
      const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
      await writeClientConfig(bootstrap.configFile, config.region, `http://${host}:${address.port}`);
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
    identity,
    bootstrap,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(purge);
      await http.close();
      await meta.close();
      await blobs.close();
    },
  };
}
