import type { FastifyRequest } from 'fastify';
import { newRequestId, type Actor, type ActorType } from '../domain/actor.js';
import type { Caller } from '../domain/iam/identity-service.js';

// The Actor of a request, as edges hand it to the domain. The front door sets
// `request.actor` once per request; edges that need it before (or without) it build one
// from the authenticated caller.

// `request.actor` is declared by the front door (src/auth/front-door.ts).

/** The actor of an authenticated IAM caller (null: anonymous). */
export function actorOfCaller(caller: Caller | null | undefined, req: FastifyRequest, edge: string, operation: string, requestId: string = req.actor?.requestId ?? newRequestId()): Actor {
  const principal = caller?.principal;
  const type: ActorType = !caller ? 'Anonymous' : principal?.kind === 'root' ? 'Root' : principal?.kind === 'assumed-role' ? 'AssumedRole' : 'IAMUser';
  const sessionName = type === 'AssumedRole' && principal?.arn ? (principal.arn.split('/').pop() ?? null) : null;
  const userAgent = req.headers['user-agent'];
  return {
    type,
    accountId: caller?.accountId ?? null,
    principalId: principal?.userId ?? null,
    arn: principal?.arn ?? null,
    accessKeyId: caller?.accessKeyId ?? null,
    sessionName,
    sourceIp: req.ip ?? null,
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 1024) : null,
    edge,
    operation,
    requestId,
  };
}

/**
 * The request's actor for this operation: the front door's once the edge has admitted the
 * caller, else one built from the caller the edge authenticated (a bare edge in a test).
 */
export function requestActor(req: FastifyRequest, edge: string, operation: string, caller?: Caller | null): Actor {
  const admitted = req.actor && (req.actor.type !== 'Anonymous' || !caller);
  if (admitted) return req.actor.operation === operation ? req.actor : { ...req.actor, operation };
  return actorOfCaller(caller ?? null, req, edge, operation);
}
