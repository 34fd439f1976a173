import { requestActor } from '../actor.js';
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, isDomainError } from '../../domain/errors.js';
import type { RangeRequest, RegistryService } from '../../domain/registry-service.js';
import { canRecycle, type RecyclingReadable } from '../../stores/blob-store.js';
import { noteAuditError } from '../audit-context.js';
import { mountSource, resolveRegistryAddress } from './addressing.js';
import { matchV2, type V2Method, type V2RouteName } from './route-table.js';

// The OCI Distribution API (distribution-spec v1.1) over the registry service.
// Repository names contain slashes, so one wildcard route dispatches by pattern.

export interface OciEdgeOptions {
  registry: RegistryService;
  /** The registry served when the address names no account (see addressing.ts). */
  registryId: string;
  manifestMaxBytes: number;
  /** Whether an account is hosted here; addresses naming any other answer NAME_UNKNOWN. */
  accountExists?: (registryId: string) => Promise<boolean>;
}

type Handler = (ctx: Ctx, match: RegExpExecArray) => Promise<void>;
interface Ctx {
  req: FastifyRequest;
  reply: FastifyReply;
  opts: OciEdgeOptions;
  query: URLSearchParams;
  /** The registry this request addresses. */
  registryId: string;
  /** `/v2/` or `/v2/<account>/`: URLs given back keep the client's form of address. */
  base: string;
}

// The handlers of the route table's routes (route-table.ts says which methods each serves).
export const v2Handlers: Record<V2RouteName, Partial<Record<V2Method, Handler>>> = {
  base: { GET: apiVersion, HEAD: apiVersion },
  catalog: { GET: catalog },
  uploads: { POST: startUpload },
  upload: { GET: uploadStatus, PATCH: uploadChunk, PUT: completeUpload, DELETE: cancelUpload },
  blob: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
  manifest: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  tags: { GET: listTags },
  referrers: { GET: listReferrers },
};

export async function ociEdge(app: FastifyInstance, opts: OciEdgeOptions): Promise<void> {
  // Blob bodies are streamed from the raw request; nothing is parsed or buffered here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  // fastify answers a malformed Content-Type (even an empty one) with its own 415 before any
  // handler runs. This edge never lets fastify parse a body, so it keeps the client's value
  // for itself (manifest PUT reads it) and shows fastify a type it always accepts.
  app.addHook('onRequest', async (req) => {
    const contentType = req.headers['content-type'];
    if (contentType === undefined) return;
    clientContentTypes.set(req, contentType);
    req.headers['content-type'] = 'application/octet-stream';
  });

  app.setErrorHandler((err, req, reply) => sendError(req, reply, err));
  app.setNotFoundHandler((req, reply) => sendError(req, reply, new DomainError('Unsupported', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`)));

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2',
    handler: dispatch,
  });
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2/*',
    exposeHeadRoute: false,
    handler: dispatch,
  });

  async function dispatch(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
    const [rawPath, search = ''] = req.url.split('?', 2) as [string, string?];
    const address = resolveRegistryAddress(req.headers.host, rawPath, opts.registryId);
    const path = address.path;
    if (address.registryId !== opts.registryId && opts.accountExists && !(await opts.accountExists(address.registryId))) {
      throw new DomainError('NameUnknown', `no registry with id ${address.registryId} is hosted here`);
    }
    const ctx: Ctx = { req, reply, opts, query: new URLSearchParams(search), registryId: address.registryId, base: address.base };
    const found = matchV2(req.method, path);
    const handler = found.kind === 'route' ? v2Handlers[found.route.name][req.method as V2Method] : undefined;
    if (found.kind === 'route' && handler) return handler(ctx, found.match);
    if (found.kind === 'route' || found.kind === 'method') throw new DomainError('Unsupported', `${req.method} is not supported on ${path}`);
    if (found.kind === 'bad-name') throw new DomainError('NameInvalid', `invalid repository name in ${path.slice(0, 300)}`);
    throw new DomainError('Unsupported', `no such endpoint: ${req.method} ${path.slice(0, 300)}`);
  }
}

const clientContentTypes = new WeakMap<FastifyRequest, string>();

/** Answers with the OCI error JSON for any failure (DomainErrors keep their code and status). */
export function sendError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  let domain: DomainError;
  if (isDomainError(err)) {
    domain = err;
  } else if (isClientAbort(err)) {
    domain = new DomainError('BlobUploadInvalid', 'the request body ended before it was complete');
  } else {
    req.log.error({ err }, 'unhandled error');
    domain = new DomainError('Internal');
  }
  noteAuditError(req, domain.spec.ecr, domain.message);
  const detail = domain.detail as { size?: number } | undefined;
  if (domain.errorName === 'RangeNotSatisfiable' && detail?.size !== undefined) reply.header('Content-Range', `bytes */${detail.size}`);
  if (domain.errorName === 'UploadOutOfOrder' && detail?.size !== undefined) reply.header('Range', rangeHeader(detail.size));
  const body = Buffer.from(JSON.stringify({ errors: [{ code: domain.spec.oci, message: domain.message, ...(domain.detail !== undefined ? { detail: domain.detail } : {}) }] }));
  // A HEAD answer carries the length its GET would have (RFC 9110 §9.3.2), without the body.
  reply.code(domain.spec.status).header('Content-Type', 'application/json; charset=utf-8').header('Content-Length', String(body.length));
  return req.method === 'HEAD' ? reply.send() : reply.send(body);
}

function isClientAbort(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

/** The Range header of upload responses: inclusive end of what has been received. */
function rangeHeader(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

function uploadLocation(base: string, name: string, id: string): string {
  return `${base}${name}/blobs/uploads/${id}`;
}

// ---------- handlers ----------

async function apiVersion({ reply }: Ctx): Promise<void> {
  reply.code(200).header('Content-Type', 'application/json').send({});
}

async function catalog({ reply, opts, query, registryId, base }: Ctx): Promise<void> {
  const { n, last } = pagination(query);
  const listing = await opts.registry.listRepositories(registryId, n, last);
  if (listing.next !== null) reply.header('Link', `<${base}_catalog?n=${listing.items.length}&last=${encodeURIComponent(listing.next)}>; rel="next"`);
  reply.code(200).send({ repositories: listing.items });
}

async function startUpload({ req, reply, opts, query, registryId, base }: Ctx, match: RegExpExecArray): Promise<void> {
  const name = match[1]!;
  const mount = query.get('mount');
  const from = query.get('from');
  const digest = query.get('digest');
  // A source in another account's registry is not mounted: the client uploads instead.
  const source = from === null ? null : mountSource(from, { registryId }, req.headers.host, opts.registryId);
  if (mount !== null && source !== null) {
    const blob = await opts.registry.mountBlob(registryId, name, mount, source, requestActor(req, 'oci', 'ecr:InitiateLayerUpload', req.registryCaller));
    if (blob) {
      reply.code(201).header('Location', `${base}${name}/blobs/${blob.digest}`).header('Docker-Content-Digest', blob.digest).header('Content-Length', '0').send();
      return;
    }
  }
  if (digest !== null && mount === null) {
    const blob = await opts.registry.uploadMonolithic(registryId, name, digest, req.raw, contentLength(req), requestActor(req, 'oci', 'ecr:InitiateLayerUpload', req.registryCaller));
    reply.code(201).header('Location', `${base}${name}/blobs/${blob.digest}`).header('Docker-Content-Digest', blob.digest).header('Content-Length', '0').send();
    return;
  }
  const upload = await opts.registry.startUpload(registryId, name, requestActor(req, 'oci', 'ecr:InitiateLayerUpload', req.registryCaller));
  reply
    .code(202)
    .header('Location', uploadLocation(base, name, upload.id))
    .header('Docker-Upload-UUID', upload.id)
    .header('Range', rangeHeader(0))
    .header('Content-Length', '0')
    .send();
}

async function uploadStatus({ reply, opts, registryId, base }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, id] = match as unknown as [string, string, string];
  const upload = await opts.registry.uploadStatus(registryId, name, id);
  reply
    .code(204)
    .header('Location', uploadLocation(base, name, id))
    .header('Docker-Upload-UUID', id)
    .header('Range', rangeHeader(upload.size))
    .send();
}

/** Where a chunk says it starts (its Content-Range), checked against its Content-Length. */
function chunkStart(req: FastifyRequest): number | undefined {
  const range = req.headers['content-range'];
  if (range === undefined) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(range.trim());
  if (!m) throw new DomainError('BlobUploadInvalid', `malformed Content-Range: ${range.slice(0, 100)}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  const length = contentLength(req);
  if (end < start || (length !== undefined && length !== end - start + 1)) {
    throw new DomainError('BlobUploadInvalid', `Content-Range ${range} does not match Content-Length ${length}`);
  }
  return start;
}

async function uploadChunk({ req, reply, opts, registryId, base }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, id] = match as unknown as [string, string, string];
  const start = chunkStart(req);
  const upload = await opts.registry.appendToUpload(registryId, name, id, req.raw, start);
  reply
    .code(202)
    .header('Location', uploadLocation(base, name, id))
    .header('Docker-Upload-UUID', id)
    .header('Range', rangeHeader(upload.size))
    .header('Content-Length', '0')
    .send();
}

async function completeUpload({ req, reply, opts, query, registryId, base }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, id] = match as unknown as [string, string, string];
  const digest = query.get('digest');
  if (digest === null) throw new DomainError('DigestMalformed', 'the digest query parameter is required to complete an upload');
  const length = contentLength(req);
  const hasBody = (length !== undefined && length > 0) || (length === undefined && req.headers['transfer-encoding'] !== undefined);
  const start = hasBody ? chunkStart(req) : closingRangeStart(req);
  const blob = await opts.registry.completeUpload(registryId, name, id, digest, hasBody ? req.raw : null, start);
  reply.code(201).header('Location', `${base}${name}/blobs/${blob.digest}`).header('Docker-Content-Digest', blob.digest).header('Content-Length', '0').send();
}

/**
 * A closing PUT without a body may still carry a Content-Range (`bytes <size>-<size-1>` or
 * `<size>-<size>` from some clients): only where it starts is checked.
 */
function closingRangeStart(req: FastifyRequest): number | undefined {
  const range = req.headers['content-range'];
  if (range === undefined) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(range.trim());
  return m ? Number(m[1]) : undefined; // nothing follows it: a range of no form describes nothing
}

async function cancelUpload({ reply, opts, registryId }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, id] = match as unknown as [string, string, string];
  await opts.registry.cancelUpload(registryId, name, id);
  reply.code(204).send();
}

async function getBlob({ req, reply, opts, registryId }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, digest] = match as unknown as [string, string, string];
  if (req.method === 'HEAD') {
    const blob = await opts.registry.statBlob(registryId, name, digest);
    reply
      .code(200)
      .header('Content-Length', String(blob.size))
      .header('Content-Type', 'application/octet-stream')
      .header('Docker-Content-Digest', blob.digest)
      .header('Accept-Ranges', 'bytes')
      .header('ETag', `"${blob.digest}"`)
      .send();
    return;
  }
  // Optional (storage.redirect): the bytes come from the storage engine, not through this node.
  // Clients keep the Range header across the redirect; the engine answers it.
  const redirect = await opts.registry.blobRedirect(registryId, name, digest);
  if (redirect) {
    reply.code(307).header('Location', redirect.url).header('Docker-Content-Digest', redirect.blob.digest).header('Content-Length', '0').send();
    return;
  }
  let rangeRequest: RangeRequest | undefined;
  try {
    rangeRequest = parseRangeHeader(req.headers.range);
  } catch (err) {
    // An unknown blob is still a 404; a known one answers 416 with its size (RFC 9110 §15.5.17).
    const blob = await opts.registry.statBlob(registryId, name, digest);
    throw new DomainError('RangeNotSatisfiable', (err as Error).message, { size: blob.size });
  }
  const content = await opts.registry.openBlob(registryId, name, digest, rangeRequest);
  const { blob, range } = content;
  reply
    .header('Content-Type', 'application/octet-stream')
    .header('Docker-Content-Digest', blob.digest)
    .header('Accept-Ranges', 'bytes')
    .header('ETag', `"${blob.digest}"`);
  if (range) {
    reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`).header('Content-Length', String(range.end - range.start + 1));
  } else {
    reply.code(200).header('Content-Length', String(blob.size));
  }
  if (canRecycle(content.stream)) return sendRecycling(reply, content.stream);
  return reply.send(content.stream);
}

/**
 * Writes a blob stream to the socket ourselves (fastify would pipe it) so that each chunk
 * goes back to the stream for reuse once the socket has taken it: the write callback is the
 * only moment that is known. onResponse hooks (metrics, logs) still run on 'finish'.
 */
async function sendRecycling(reply: FastifyReply, stream: RecyclingReadable): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  const waitForDrain = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (res.destroyed) break;
      if (!res.write(chunk, () => stream.recycle(chunk))) await waitForDrain();
    }
    if (!res.destroyed) res.end();
  } catch (err) {
    // A read failed mid-body: the status line is gone, so the client can only see a short body.
    reply.log.error({ err }, 'blob stream failed mid-response');
    res.destroy(err as Error);
  } finally {
    stream.destroy();
  }
}

async function deleteBlob({ reply, opts, registryId }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, digest] = match as unknown as [string, string, string];
  await opts.registry.deleteBlob(registryId, name, digest);
  reply.code(202).header('Content-Length', '0').send();
}

async function getManifest({ req, reply, opts, registryId }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, reference] = match as unknown as [string, string, string];
  const accept = parseAccept(req.headers.accept);
  const head = req.method === 'HEAD';
  const manifest = head
    ? await opts.registry.statManifest(registryId, name, reference, accept)
    : await opts.registry.getManifest(registryId, name, reference, accept, req.registryCaller?.principal.principalArn ?? undefined);
  reply
    .code(200)
    .header('Content-Type', manifest.mediaType)
    .header('Content-Length', String(manifest.size))
    .header('Docker-Content-Digest', manifest.digest)
    .header('ETag', `"${manifest.digest}"`);
  return reply.send('content' in manifest ? manifest.content : undefined);
}

async function putManifest({ req, reply, opts, registryId, base }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, reference] = match as unknown as [string, string, string];
  const body = await readLimited(req, opts.manifestMaxBytes);
  const result = await opts.registry.putManifest(registryId, name, reference, clientContentTypes.get(req), body, requestActor(req, 'oci', 'ecr:PutImage', req.registryCaller));
  reply.code(201).header('Location', `${base}${name}/manifests/${result.digest}`).header('Docker-Content-Digest', result.digest);
  if (result.subjectDigest) reply.header('OCI-Subject', result.subjectDigest);
  reply.header('Content-Length', '0').send();
}

async function deleteManifest({ req, reply, opts, registryId }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, reference] = match as unknown as [string, string, string];
  await opts.registry.deleteManifest(registryId, name, reference, requestActor(req, 'oci', 'ecr:BatchDeleteImage', req.registryCaller));
  reply.code(202).header('Content-Length', '0').send();
}

async function listTags({ reply, opts, query, registryId, base }: Ctx, match: RegExpExecArray): Promise<void> {
  const name = match[1]!;
  const { n, last } = pagination(query);
  const listing = await opts.registry.listTags(registryId, name, n, last);
  if (listing.next !== null) reply.header('Link', `<${base}${name}/tags/list?n=${listing.items.length}&last=${encodeURIComponent(listing.next)}>; rel="next"`);
  // The name as the client addressed it (with its account component, if any).
  reply.code(200).send({ name: `${base.slice('/v2/'.length)}${name}`, tags: listing.items });
}

async function listReferrers({ reply, opts, query, registryId }: Ctx, match: RegExpExecArray): Promise<void> {
  const [, name, digest] = match as unknown as [string, string, string];
  const artifactType = query.get('artifactType') || undefined; // an empty filter is no filter
  const index = await opts.registry.listReferrers(registryId, name, digest, artifactType);
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
  // A Buffer, so fastify does not append "; charset=utf-8" to the spec's exact media type.
  reply.code(200).header('Content-Type', 'application/vnd.oci.image.index.v1+json').send(Buffer.from(JSON.stringify(index)));
}

// ---------- request parsing ----------

function pagination(query: URLSearchParams): { n: number | undefined; last: string | undefined } {
  const rawN = query.get('n');
  let n: number | undefined;
  if (rawN !== null && rawN !== '') {
    if (!/^\d{1,9}$/.test(rawN)) throw new DomainError('PaginationInvalid', `n must be a non-negative integer, got ${rawN.slice(0, 50)}`);
    n = Number(rawN);
  }
  const last = query.get('last') ?? undefined;
  return { n, last: last === '' ? undefined : last };
}

function contentLength(req: FastifyRequest): number | undefined {
  const value = req.headers['content-length'];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new DomainError('SizeInvalid', `invalid Content-Length: ${value}`);
  return n;
}

/** Parses a single `bytes=` range; anything else is 416. */
export function parseRangeHeader(header: string | undefined): RangeRequest | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new DomainError('RangeNotSatisfiable', `unsupported Range header: ${header.slice(0, 100)}`);
  if (m[1] === '') return { end: Number(m[2]) }; // suffix: last N bytes
  return { start: Number(m[1]), end: m[2] === '' ? undefined : Number(m[2]) };
}

function parseAccept(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap((v) => v.split(',')).map((t) => t.split(';')[0]!.trim().toLowerCase()).filter((t) => t.length > 0);
}

/** Reads a manifest body, failing fast (and draining the rest) once it passes the limit. */
function readLimited(req: FastifyRequest, limit: number): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    req.raw.resume();
    return Promise.reject(new DomainError('ManifestTooLarge', `manifest of ${declared} bytes is larger than the ${limit}-byte limit`));
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    let failed = false;
    req.raw.on('data', (chunk: Buffer) => {
      if (failed) return;
      total += chunk.length;
      if (total > limit) {
        failed = true;
        parts.length = 0;
        reject(new DomainError('ManifestTooLarge', `manifest is larger than the ${limit}-byte limit`));
      } else {
        parts.push(chunk);
      }
    });
    req.raw.on('end', () => {
      if (!failed) resolve(Buffer.concat(parts));
    });
    req.raw.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}
