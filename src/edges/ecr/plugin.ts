import { requestActor } from '../actor.js';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConstraintStrategy, Handler, HTTPVersion } from 'find-my-way';
import { scopeMismatch } from '../../auth/authenticate.js';
import { admit } from '../../auth/front-door.js';
import { DomainError, isDomainError } from '../../domain/errors.js';
import type { EcrServices } from '../../domain/ecr/index.js';
import type { Caller } from '../../domain/iam/identity-service.js';
import { ecrRepositoryArn, isReadOnlyAction, noteAudit, noteAuditError } from '../audit-context.js';
import { registryHostFor } from '../oci/addressing.js';
import { operations, operationTarget, type Operation, type OperationContext } from './operations.js';
import { validate } from './shapes.js';

// Amazon ECR's API over AWS JSON 1.1: `POST /` with
// `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`, dispatched through the
// operations table. Also serves the short-lived layer URLs GetDownloadUrlForLayer returns.

export const targetPrefix = 'AmazonEC2ContainerRegistry_V20150921.';
export const layerDownloadPath = '/ecr/layer-downloads/';
/** The credential scope's service of ECR requests. */
export const ECR_SIGNING_NAME = 'ecr';

/** The authenticated caller. */
export interface Principal {
  accountId: string;
  /** Region the request was signed for. */
  region: string;
  /** Service the request was signed for (its credential scope): must be `ecr`. */
  service?: string;
  arn?: string;
  /** The authenticated IAM caller, for the authorizer. */
  caller?: Caller;
}

/** One authorization question: may the principal perform `action` on these repositories (or the account) of `registryId`? */
export interface AccessRequest {
  action: string;
  registryId: string;
  /** Repository names, `*` for all, or null for an account-level action. */
  repositories: string[] | null;
}

export interface EcrEdgeOptions {
  ecr: EcrServices;
  /** The account whose registry this Berth serves. */
  registryId: string;
  /**
   * The region this endpoint serves (config `region`): the region of every ARN, and the only
   * one requests may be signed for, as an ECR endpoint serves one region. Without it, the
   * region requests are signed for.
   */
  region?: string;
  /** The one seam for request authentication (SigV4 and IAM arrive here). */
  authenticate?: (request: FastifyRequest) => Promise<Principal>;
  /**
   * Authorizes every operation (throws AccessDeniedException). Without it a caller reaches
   * only its own account's registry.
   */
  authorize?: (request: FastifyRequest, principal: Principal, access: AccessRequest) => Promise<void>;
  /** The operations answered (default: the core's); modules add theirs (src/modules). */
  operations?: Record<string, Operation>;
  /** Largest request body; UploadLayerPart carries up to 20 MiB as base64. */
  bodyLimit?: number;
}

/**
 * An authentication failure with AWS's own exception name and status (SigV4 errors such as
 * MissingAuthenticationTokenException or InvalidSignatureException), raised by `authenticate`.
 */
export class AwsAuthError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A fastify route constraint that sends `POST /` to this edge when X-Amz-Target names an
 * ECR operation it implements; every other AWS-protocol request falls through to the
 * unconstrained `POST /` of the AWS edge (STS, IAM, GetAuthorizationToken).
 */
export const ecrTargetConstraint = ecrTargetConstraintFor(operations);

/** The constraint over this app's operation table (the core's plus what modules add). */
export function ecrTargetConstraintFor(table: Record<string, Operation>): ConstraintStrategy<HTTPVersion.V1, string> {
  return {
  name: 'awsTarget',
  storage() {
    const handlers = new Map<string, Handler<HTTPVersion.V1>>();
    return {
      get: (value: string) => handlers.get(value) ?? null,
      set: (value: string, store: Handler<HTTPVersion.V1>) => void handlers.set(value, store),
    };
  },
  deriveConstraint(req): string {
    const target = req.headers['x-amz-target'];
    if (typeof target !== 'string' || !target.startsWith(targetPrefix)) return 'other';
    return Object.hasOwn(table, target.slice(targetPrefix.length)) ? 'ecr' : 'other';
  },
  mustMatchWhenDerived: false,
  validate() {},
  };
}


const credentialScope = /Credential=[^/\s,]+\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request/;

/**
 * Placeholder until SigV4 verification lands: any request that carries a SigV4-shaped
 * Authorization header is accepted as the registry's own account. NOT authentication.
 */
export function placeholderAuthenticate(registryId: string) {
  return async (request: FastifyRequest): Promise<Principal> => {
    const header = request.headers.authorization;
    const scope = typeof header === 'string' && header.startsWith('AWS4-HMAC-SHA256 ') ? credentialScope.exec(header) : null;
    if (!scope) throw new DomainError('Unauthorized', 'Missing Authentication Token: requests must be signed with AWS Signature Version 4');
    return { accountId: registryId, region: scope[1]! };
  };
}

export async function ecrEdge(app: FastifyInstance, opts: EcrEdgeOptions): Promise<void> {
  const authenticate = opts.authenticate ?? placeholderAuthenticate(opts.registryId);
  const bodyLimit = opts.bodyLimit ?? 28 * 1024 * 1024;

  // This scope only: the body is read whole (it is JSON) and parsed here, so any
  // content type is taken and a bad body gets an AWS error rather than fastify's.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof AwsAuthError) {
      noteAuditError(req, err.type, err.message);
      return reply.code(err.status).header('x-amzn-errortype', err.type).header('Content-Type', 'application/x-amz-json-1.1').send(Buffer.from(JSON.stringify({ __type: err.type, message: err.message })));
    }
    return sendError(req, reply, toDomainError(err, req));
  });
  // Every answer carries a request id, errors raised while reading the body included.
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-amzn-RequestId', typeof req.id === 'string' && req.id.length >= 16 ? req.id : randomUUID());
  });

  app.post('/', { bodyLimit, constraints: { awsTarget: 'ecr' } }, async (req, reply) => {
    const target = req.headers['x-amz-target'];
    if (typeof target !== 'string' || !target.startsWith(targetPrefix)) {
      throw new DomainError('UnknownOperation', `The X-Amz-Target header must name an operation as ${targetPrefix}<Operation>`);
    }
    const name = target.slice(targetPrefix.length);
    const table = opts.operations ?? operations;
    const operation = Object.hasOwn(table, name) ? table[name] : undefined;
    if (!operation) throw new DomainError('UnknownOperation', `Berth does not implement the ECR operation ${name.slice(0, 100)}`);
    noteAudit(req, { eventSource: 'ecr.amazonaws.com', eventName: name, readOnly: isReadOnlyAction(name) });
    requireAwsJson(req.headers['content-type']);
    const principal = await authenticate(req);
    admit(req, principal.caller ?? null, `ecr:${name}`, 'ecr');
    noteAudit(req, { caller: principal.caller ?? null, credentialsPresented: true });
    // Signed for another service, or another region (another ECR endpoint, another
    // registry): refused as AWS's JSON 1.1 services refuse it.
    const mismatch = scopeMismatch({ service: principal.service ?? ECR_SIGNING_NAME, region: principal.region }, { service: ECR_SIGNING_NAME, region: opts.region });
    if (mismatch) throw new AwsAuthError('InvalidSignatureException', 403, mismatch);
    const region = opts.region ?? principal.region;
    const input = validate(parseBody(req.body), operation.input, '') as { registryId?: string };
    const addressed = operationTarget(name, input as Record<string, unknown>);
    // The registry addressed: registryId when given (another account's, for cross-account
    // access), a tagged ARN's account, else the caller's own.
    const registryId = input.registryId ?? addressed.registryId ?? principal.accountId;
    noteAudit(req, {
      requestParameters: input,
      recipientAccountId: registryId,
      resources: (addressed.repositories ?? []).filter((r) => r !== '*').map((r) => ({ ARN: ecrRepositoryArn(region, registryId, r), accountId: registryId, type: 'AWS::ECR::Repository' })),
    });
    if (opts.authorize) {
      await opts.authorize(req, principal, { action: `ecr:${name}`, registryId, repositories: addressed.repositories });
    } else if (registryId !== principal.accountId) {
      throw new DomainError('InvalidParameter', `Invalid parameter at 'registryId' failed to satisfy constraint: 'this endpoint serves registry ${principal.accountId}, not ${registryId}'`);
    }
    // req.host follows X-Forwarded-Host when the proxy is trusted (config trustProxy).
    const host = req.host || req.headers.host || req.hostname;
    const ctx: OperationContext = {
      ecr: opts.ecr,
      // The services act on the addressed registry; `accountId` is that registry's id.
      caller: {
        accountId: registryId,
        region,
        registryHost: registryHostFor(host, registryId, opts.registryId),
        ...(principal.caller?.principal.principalArn ? { principalArn: principal.caller.principal.principalArn } : {}),
        actor: requestActor(req, 'ecr', `ecr:${name}`, principal.caller),
      },
      downloadUrl: (token) => `${req.protocol}://${host}${layerDownloadPath}${token}`,
    };
    const output = await operation.handle(input, ctx);
    if (!req.audit?.readOnly) noteAudit(req, { responseElements: output });
    reply.code(200).header('Content-Type', 'application/x-amz-json-1.1').send(Buffer.from(serialize(output)));
  });

  // A wildcard, not `:token`: tokens are longer than fastify's 100-character param limit.
  app.get(`${layerDownloadPath}*`, async (req, reply) => {
    const token = (req.params as { '*': string })['*'];
    // With storage.redirect the bytes come from the storage engine, as ECR's own URLs do.
    const direct = await opts.ecr.layers.downloadRedirect(token);
    if (direct) return reply.code(307).header('Location', direct).header('Content-Length', '0').send();
    const content = await opts.ecr.layers.openDownload(token);
    reply
      .code(200)
      .header('Content-Type', 'application/octet-stream')
      .header('Content-Length', String(content.blob.size))
      .header('Docker-Content-Digest', content.blob.digest);
    return reply.send(content.stream);
  });
}

/**
 * The ECR API speaks AWS JSON 1.1 only. AWS dispatches on the content type as well as the
 * target, so a request in any other form names no operation it knows: UnknownOperationException.
 */
function requireAwsJson(contentType: string | undefined): void {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-amz-json-1.1') return;
  throw new DomainError('UnknownOperation', `The ECR API takes requests of Content-Type application/x-amz-json-1.1 (AWS JSON 1.1), not ${type ? `'${type.slice(0, 100)}'` : 'a request without one'}`);
}

function parseBody(body: unknown): unknown {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new DomainError('Serialization', 'The request body is not valid JSON');
  }
}

/** AWS JSON timestamps are seconds since the epoch. */
function serialize(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : v;
  });
}

function toDomainError(err: unknown, req: FastifyRequest): DomainError {
  if (isDomainError(err)) return err;
  const code = (err as { code?: string } | null)?.code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new DomainError('Validation', `The request body is larger than the ${req.routeOptions.bodyLimit ?? 'configured'}-byte limit of the ECR API (UploadLayerPart carries at most 20 MiB of layer data)`);
  }
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return new DomainError('Serialization', (err as Error).message);
  // The body ended early: the client is gone (or hears the parser's answer, edges/client-errors.ts).
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') return new DomainError('Serialization', 'The request body ended before it was complete');
  req.log.error({ err }, 'unhandled error in the ECR API');
  return new DomainError('Internal', 'An internal error occurred');
}

function sendError(req: FastifyRequest, reply: FastifyReply, err: DomainError): FastifyReply {
  const type = err.spec.ecr;
  noteAuditError(req, type, err.message);
  // AWS answers authentication and authorization failures with 403, its own faults with 500.
  // AccessDeniedException is a 400, as ECR answers it (the SigV4 failures above are 403s).
  const status = type === 'ServerException' ? 500 : err.errorName === 'Unauthorized' ? 403 : 400;
  const detail = typeof err.detail === 'object' && err.detail !== null && !Array.isArray(err.detail) ? (err.detail as Record<string, unknown>) : {};
  if (req.url.startsWith(layerDownloadPath)) {
    // Layer URLs answer like a plain HTTP download.
    return reply.code(err.errorName === 'Denied' ? 403 : err.spec.status).send({ __type: type, message: err.message });
  }
  return reply
    .code(status)
    .header('x-amzn-errortype', type)
    .header('Content-Type', 'application/x-amz-json-1.1')
    .send(Buffer.from(JSON.stringify({ __type: type, message: err.message, ...pickErrorFields(detail) })));
}

/** Extra members some ECR exceptions carry (InvalidLayerPartException's byte counts). */
function pickErrorFields(detail: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['lastValidByteReceived', 'uploadId', 'registryId', 'repositoryName']) if (detail[key] !== undefined) out[key] = detail[key];
  return out;
}
