import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requiredAccess } from '../../auth/registry-access.js';
import type { Actor } from '../../domain/actor.js';
import type { Caller } from '../../domain/iam/identity-service.js';
import { ecrRepositoryArn, isReadOnlyAction, type AuditContext } from '../../edges/audit-context.js';
import { resolveRegistryAddress } from '../../edges/oci/addressing.js';
import { buildRecord, DATA_EVENTS, usernameOf, type AuditFacts } from './record.js';
import type { AuditWriter } from './writer.js';

// One onResponse hook on the root: every API call the edges served becomes a CloudTrail
// record (queued; the writer batches it into the database) and one access log line.
// /v2 requests are named by the ECR action they need (auth/registry-access.ts), as ECR's
// own trail names a docker pull BatchGetImage and GetDownloadUrlForLayer.

export interface AuditCaptureOptions {
  /** null: no records (audit.enabled false), the access log line only. */
  writer: AuditWriter | null;
  region: string;
  /** The account of the registry /v2 serves when the address names none. */
  registryId: string;
  /** Record ECR pulls (data events). */
  dataEvents: boolean;
  /** One JSON line per request at info. */
  accessLog: boolean;
  now?: () => number;
}

/** Not API calls: health, metrics, the token handshake, and layer URLs (their path is a credential). */
const NOT_RECORDED = /^\/(healthz|readyz|metrics|token)(\?|$)|^\/ecr\/layer-downloads\//;

export function installAuditCapture(app: FastifyInstance, opts: AuditCaptureOptions): void {
  app.decorateRequest('audit', null);
  const now = opts.now ?? Date.now;

  app.addHook('onResponse', async (req, reply) => {
    const url = req.raw.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let ctx = req.audit;
    if (!ctx?.eventName && (path === '/v2' || path.startsWith('/v2/'))) ctx = v2Facts(req, path, url, q, opts, ctx);
    const status = reply.statusCode;
    const actor = actorOf(req, reply, ctx);
    if (opts.accessLog) accessLog(req, reply, actor, ctx, path, status);
    if (!opts.writer || !ctx || ctx.skip || !ctx.eventName || !ctx.eventSource || NOT_RECORDED.test(path)) return;
    // A refusal of a call that carried no credentials is the authentication handshake (a 401
    // challenge), not an event; a refusal of one that did is recorded.
    if (status === 401 && !ctx.credentialsPresented && !req.headers.authorization) return;
    if (!opts.dataEvents && DATA_EVENTS.has(ctx.eventName) && ctx.eventSource === 'ecr.amazonaws.com') return;
    const facts: AuditFacts = {
      eventSource: ctx.eventSource,
      eventName: ctx.eventName,
      readOnly: ctx.readOnly ?? isReadOnlyAction(ctx.eventName),
      ...(ctx.requestParameters !== undefined ? { requestParameters: ctx.requestParameters } : {}),
      ...(ctx.responseElements !== undefined ? { responseElements: ctx.responseElements } : {}),
      ...(ctx.resources ? { resources: ctx.resources } : {}),
      ...(ctx.recipientAccountId ? { recipientAccountId: ctx.recipientAccountId } : {}),
      ...errorOf(ctx, status),
    };
    const time = now() - Math.round(reply.elapsedTime);
    const record = buildRecord({ actor, facts, time, region: opts.region, requestId: actor.requestId, defaultAccountId: opts.registryId, ...(req.headers.host ? { host: req.headers.host } : {}) });
    opts.writer.add({ record, time, username: usernameOf(record, actor) });
  });
}

function errorOf(ctx: AuditContext, status: number): Pick<AuditFacts, 'errorCode' | 'errorMessage'> {
  if (ctx.errorCode) return { errorCode: ctx.errorCode, errorMessage: ctx.errorMessage ?? '' };
  if (status < 400) return {};
  const code = status === 403 ? 'AccessDenied' : status === 401 ? 'UnauthorizedException' : status === 404 ? 'NotFound' : status >= 500 ? 'InternalError' : `Http${status}`;
  return { errorCode: code, errorMessage: `HTTP ${status}` };
}

/** The ECR action a /v2 request is, its parameters and the repository it names. */
function v2Facts(req: FastifyRequest, path: string, url: string, q: number, opts: AuditCaptureOptions, ctx: AuditContext | null): AuditContext | null {
  const address = resolveRegistryAddress(req.headers.host, path, opts.registryId);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const access = requiredAccess(req.method, address.path, query);
  let eventName: string;
  let repository: string | null = null;
  if (access.kind === 'catalog') eventName = 'DescribeRepositories';
  else if (access.kind === 'repository') {
    eventName = access.needs[0]!.action.slice('ecr:'.length);
    repository = access.needs[0]!.repository;
  } else return ctx; // GET /v2/ (a login check) and unknown routes
  const registryId = address.registryId;
  const params: Record<string, unknown> = { registryId, ...(repository ? { repositoryName: repository } : {}) };
  const m = /\/(manifests|blobs|referrers)\/([^/]+)$/.exec(address.path);
  if (m) {
    const reference = decodeURIComponent(m[2]!);
    if (m[1] === 'manifests') params.imageIds = [reference.includes(':') ? { imageDigest: reference } : { imageTag: reference }];
    else if (m[1] === 'referrers') params.imageIds = [{ imageDigest: reference }];
    else params.layerDigest = reference;
  }
  const upload = /\/blobs\/uploads\/([^/]+)$/.exec(address.path);
  if (upload) params.uploadId = upload[1];
  const digest = query.get('digest');
  if (digest && eventName === 'CompleteLayerUpload') params.layerDigests = [digest];
  if (query.get('mount')) {
    params.mount = query.get('mount');
    params.from = query.get('from');
  }
  const facts: AuditContext = {
    eventSource: 'ecr.amazonaws.com',
    eventName,
    readOnly: isReadOnlyAction(eventName),
    requestParameters: params,
    recipientAccountId: registryId,
    ...(repository ? { resources: [{ ARN: ecrRepositoryArn(opts.region, registryId, repository), accountId: registryId, type: 'AWS::ECR::Repository' }] } : {}),
  };
  return ctx ? Object.assign(ctx, facts, ctx.errorCode ? { errorCode: ctx.errorCode, errorMessage: ctx.errorMessage } : {}) : facts;
}

/** Who called: the front door's Actor when it set one, else what the edge authenticated. */
function actorOf(req: FastifyRequest, reply: FastifyReply, ctx: AuditContext | null): Actor {
  const requestId = requestIdOf(req, reply);
  const set = (req as FastifyRequest & { actor?: Actor }).actor;
  if (set && set.type !== 'AWSService') return set.requestId ? set : { ...set, requestId };
  const caller = ctx?.caller ?? (req as FastifyRequest & { registryCaller?: Caller | null }).registryCaller ?? null;
  return actorFromCaller(caller, req, requestId, ctx?.eventName ?? `${req.method} ${req.routeOptions.url ?? ''}`);
}

/** The id the edge answered with (x-amzn-RequestId), else fastify's own. */
function requestIdOf(req: FastifyRequest, reply: FastifyReply): string {
  const header = reply.getHeader('x-amzn-requestid');
  return typeof header === 'string' ? header : String(req.id);
}

/**
 * The Actor of an authenticated caller (the front door builds the same; this stands in
 * for edges it does not cover yet).
 */
export function actorFromCaller(caller: Caller | null, req: FastifyRequest, requestId: string, operation: string): Actor {
  const ua = req.headers['user-agent'];
  const common = { sourceIp: req.ip ?? null, userAgent: typeof ua === 'string' ? ua : null, edge: edgeOf(req.url), operation, requestId };
  if (!caller) return { type: 'Anonymous', accountId: null, principalId: null, arn: null, accessKeyId: null, sessionName: null, ...common };
  const p = caller.principal;
  const type = p.kind === 'user' ? 'IAMUser' : p.kind === 'assumed-role' ? 'AssumedRole' : p.kind === 'root' ? 'Root' : 'IAMUser';
  const sessionName = type === 'AssumedRole' && p.arn ? p.arn.slice(p.arn.lastIndexOf('/') + 1) : null;
  return {
    type,
    accountId: caller.accountId,
    principalId: p.userId ?? (type === 'Root' ? caller.accountId : null),
    arn: p.arn,
    accessKeyId: caller.accessKeyId,
    sessionName,
    ...common,
  };
}

function edgeOf(url: string): string {
  if (url.startsWith('/v2')) return 'oci';
  if (url.startsWith('/_berth/')) return 'operator';
  return 'aws';
}

/** One line per request, at info: who, what, where, how it went, how big, how long. */
function accessLog(req: FastifyRequest, reply: FastifyReply, actor: Actor, ctx: AuditContext | null, path: string, status: number): void {
  const length = reply.getHeader('content-length');
  const repo = (ctx?.requestParameters as { repositoryName?: unknown } | undefined)?.repositoryName;
  req.log.info(
    {
      actor: actor.arn ?? 'anonymous',
      op: ctx?.eventName ? `${(ctx.eventSource ?? '').replace('.amazonaws.com', '')}:${ctx.eventName}` : `${req.method} ${req.routeOptions.url ?? path}`,
      ...(typeof repo === 'string' ? { repo } : {}),
      method: req.method,
      // The path only: queries can carry presigned credentials, layer URLs are one.
      url: path.startsWith('/ecr/layer-downloads/') ? '/ecr/layer-downloads/***' : path,
      status,
      bytes: length === undefined ? null : Number(length),
      ms: Math.round(reply.elapsedTime * 10) / 10,
      requestId: actor.requestId,
    },
    'request',
  );
}
