import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../domain/actor.js';
import type { Caller, IdentityService } from '../domain/iam/identity-service.js';
import { authenticateSigV4, type AuthResult } from './authenticate.js';

// The front door: every request gets its Actor (who, from where, which operation) and its
// request id the moment it arrives, before any edge looks at it. Requests start anonymous;
// the edge's authentication step (SigV4 on the AWS edges and the operator edge, registry
// tokens on /v2) replaces that with the authenticated caller through `admit`. The audit
// trail and the change feed read `request.actor` (and `request.actor.requestId`).

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; `Anonymous` until the edge authenticates the request. */
    actor: Actor;
  }
}

/** Which door a request came in, from its path and headers. */
function edgeOf(req: FastifyRequest, path: string): string {
  if (path === '/v2' || path.startsWith('/v2/')) return 'oci';
  if (path.startsWith('/_berth/')) return 'operator';
  if (path.startsWith('/ecr/')) return 'ecr';
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.startsWith('AmazonEC2ContainerRegistry_') ? 'ecr' : 'aws';
  return path === '/' ? 'aws' : 'http';
}

export function anonymousActor(req: FastifyRequest): Actor {
  const url = req.raw.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const agent = req.headers['user-agent'];
  return {
    type: 'Anonymous',
    accountId: null,
    principalId: null,
    arn: null,
    accessKeyId: null,
    sessionName: null,
    sourceIp: req.ip ?? null,
    userAgent: typeof agent === 'string' ? agent : null,
    edge: edgeOf(req, path),
    operation: `${req.method} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`,
    requestId: req.id,
  };
}

/** The Actor of an authenticated caller, on the request's own facts. */
export function callerActor(caller: Caller, base: Actor, operation: string, edge = base.edge): Actor {
  const p = caller.principal;
  const assumed = p.kind === 'assumed-role';
  return {
    ...base,
    type: assumed ? 'AssumedRole' : 'IAMUser',
    accountId: caller.accountId,
    principalId: p.userId ?? null,
    arn: p.arn,
    accessKeyId: caller.accessKeyId,
    sessionName: assumed && p.userId ? p.userId.slice(p.userId.indexOf(':') + 1) : null,
    edge,
    operation,
  };
}

/** Records who the request is (null: still anonymous) and what it does. */
export function admit(req: FastifyRequest, caller: Caller | null, operation: string, edge?: string): void {
  // An edge mounted without the front door (a test's bare fastify) still gets its actor.
  const base = req.actor ?? anonymousActor(req);
  req.actor = caller ? callerActor(caller, base, operation, edge) : { ...base, operation, ...(edge ? { edge } : {}) };
}

/** Request ids come from fastify's genReqId (app.ts): one per request, in every log line of it. */
export function installFrontDoor(app: FastifyInstance): void {
  app.decorateRequest('actor', null as unknown as Actor);
  app.addHook('onRequest', (req, _reply, done) => {
    req.actor = anonymousActor(req);
    done();
  });
}

/** SigV4 verification of a fastify request (header or presigned form), over its raw body. */
export function authenticateAwsRequest(identity: IdentityService, req: FastifyRequest, body?: Buffer): Promise<AuthResult> {
  const url = req.raw.url ?? '/';
  const q = url.indexOf('?');
  return authenticateSigV4(identity, {
    method: req.method,
    path: q < 0 ? url : url.slice(0, q),
    rawQuery: q < 0 ? '' : url.slice(q + 1),
    headers: req.headers,
    ...(body ? { body } : {}),
  });
}

