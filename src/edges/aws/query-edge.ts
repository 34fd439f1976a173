import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateSigV4, claimedService, scopeMismatch } from '../../auth/authenticate.js';
import { admit } from '../../auth/front-door.js';
import { parseRawQuery, sigV4Error } from '../../auth/sigv4.js';
import { IamError, isIamError } from '../../domain/iam/errors.js';
import type { Caller, IdentityService, RequestFacts } from '../../domain/iam/identity-service.js';
import { isReadOnlyAction, noteAudit, noteAuditError } from '../audit-context.js';
import { escapeXml, toXml, type XmlValue } from './xml.js';

// The AWS query protocol (form-encoded `Action=...` requests, XML answers) at `/`, shared
// by STS and IAM. As with AWS's separate endpoints, the service is the one named in the
// request's SigV4 credential scope; unsigned requests fall back to the action name.

export interface QueryContext {
  caller: Caller;
  params: Record<string, string>;
  facts: RequestFacts;
}

/** Returns the fields of `<ActionResult>`, or null for actions with an empty result. */
export type QueryOperation = (ctx: QueryContext) => Promise<{ [name: string]: XmlValue } | null>;

export interface QueryService {
  /** Signing name, e.g. `sts`. */
  name: string;
  /** XML namespace, e.g. `https://sts.amazonaws.com/doc/2011-06-15/`. */
  namespace: string;
  operations: Record<string, QueryOperation>;
}

/** An AWS JSON 1.1 service (X-Amz-Target dispatch), e.g. ECR. */
export type JsonOperation = (ctx: { caller: Caller; input: Record<string, unknown>; facts: RequestFacts; host: string; protocol: string }) => Promise<unknown>;

export interface JsonService {
  /** e.g. `AmazonEC2ContainerRegistry_V20150921` */
  targetPrefix: string;
  /** The credential scope's service requests must be signed for, e.g. `ecr`, `organizations`. */
  signingName: string;
  /** True when the endpoint serves one region (the edge's `region`), as ECR's does; global services (Organizations) take any. */
  regional?: boolean;
  /** The audit trail's eventSource (default: `<signingName>.amazonaws.com`). */
  eventSource?: string;
  operations: Record<string, JsonOperation>;
}

/** The audit trail's eventSource: the service's own, else `<signing name>.amazonaws.com` (as AWS's are). */
function eventSourceOf(service: JsonService): string {
  return service.eventSource ?? `${service.signingName}.amazonaws.com`;
}

/** Query parameters of the call itself (not the protocol's or the signature's). */
function callParameters(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (k !== 'Action' && k !== 'Version' && !k.startsWith('X-Amz-')) out[k[0]!.toLowerCase() + k.slice(1)] = v;
  return out;
}

export interface QueryEdgeOptions {
  identity: IdentityService;
  services: QueryService[];
  /** JSON-protocol services sharing `POST /`, told apart by the X-Amz-Target header. */
  jsonServices?: JsonService[];
  /** The region this endpoint serves (config `region`): regional JSON services accept only it. */
  region?: string;
  bodyLimit?: number;
}

export async function awsQueryEdge(app: FastifyInstance, opts: QueryEdgeOptions): Promise<void> {
  const byName = new Map(opts.services.map((s) => [s.name, s]));
  // Bodies stay raw: the signature covers their exact bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimit ?? 1024 * 1024 }, (_req, body, done) => done(null, body));
  // Failures before a handler runs (oversized or aborted bodies) still answer in AWS's form.
  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'aws edge failure');
    const json = typeof req.headers['x-amz-target'] === 'string';
    const code = status === 413 ? 'RequestEntityTooLarge' : status === 500 ? (json ? 'ServerException' : 'ServiceFailure') : json ? 'SerializationException' : 'MalformedInput';
    const message = status === 500 ? 'internal server error' : err.message;
    if (json) return reply.code(status).header('content-type', 'application/x-amz-json-1.1').header('x-amzn-requestid', req.id).header('x-amzn-errortype', code).send(JSON.stringify({ __type: code, message }));
    return sendError(reply, opts.services[0]!.namespace, req.id, status, status === 500 ? 'Receiver' : 'Sender', code, message);
  });

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    // The request's own id (a UUID, app.ts genReqId): the one its log lines carry too.
    const requestId = typeof req.id === 'string' && req.id.length >= 16 ? req.id : randomUUID();
    const url = req.raw.url ?? '/';
    const q = url.indexOf('?');
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string') return handleJson(req, reply, opts, target, { url, q, rawQuery, body, requestId });
    // Parameters are form-encoded ('+' is a space, as botocore and the aws CLI send it);
    // the signature, checked below, covers the raw bytes.
    const params = formParams(rawQuery, body.toString('utf8'));

    const action = params.Action;
    // As with AWS's separate endpoints, the scope's service picks the service; a scope
    // naming neither STS nor IAM is refused as the endpoint of the action's service would.
    const claimed = claimedService(req.headers, parseRawQuery(rawQuery));
    const byAction = action && opts.services.find((s) => Object.hasOwn(s.operations, action));
    const service = (claimed && byName.get(claimed)) || byAction || byName.get('iam') || opts.services[0]!;
    if (action) noteAudit(req, { eventSource: `${service.name}.amazonaws.com`, eventName: action, readOnly: isReadOnlyAction(action), requestParameters: callParameters(params) });

    const auth = await authenticateSigV4(opts.identity, { method: req.method, path: q < 0 ? url : url.slice(0, q), rawQuery, headers: req.headers, body });
    if (!auth.ok) {
      const { code, status } = sigV4Error(auth.reason, 'query');
      return sendError(reply, service.namespace, requestId, status, 'Sender', code, auth.message);
    }
    admit(req, auth.caller, `${service.name}:${action ?? ''}`, service.name);
    noteAudit(req, { caller: auth.caller });
    const mismatch = scopeMismatch(auth, { service: service.name });
    if (mismatch) return sendError(reply, service.namespace, requestId, 403, 'Sender', 'SignatureDoesNotMatch', mismatch);
    if (!action) return sendError(reply, service.namespace, requestId, 400, 'Sender', 'MissingAction', 'Missing Action');
    const operation = Object.hasOwn(service.operations, action) ? service.operations[action] : undefined;
    if (!operation) return sendError(reply, service.namespace, requestId, 400, 'Sender', 'InvalidAction', `Could not find operation ${action} for version ${params.Version ?? 'NO_VERSION_SPECIFIED'}`);

    try {
      const facts: RequestFacts = { sourceIp: req.ip, secureTransport: req.protocol === 'https' };
      const result = await operation({ caller: auth.caller, params, facts });
      if (result && !isReadOnlyAction(action)) noteAudit(req, { responseElements: result });
      const inner = result ? `<${action}Result>${toXml(result)}</${action}Result>` : '';
      return reply
        .code(200)
        .header('content-type', 'text/xml')
        .header('x-amzn-requestid', requestId)
        .send(`<${action}Response xmlns="${service.namespace}">${inner}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`);
    } catch (err) {
      if (isIamError(err)) return sendError(reply, service.namespace, requestId, err.status, err.type, err.code, err.message);
      req.log.error({ err, action }, 'query-protocol operation failed');
      return sendError(reply, service.namespace, requestId, 500, 'Receiver', 'ServiceFailure', 'The request processing has failed because of an unknown error, exception or failure.');
    }
  };

  app.route({ method: ['GET', 'POST'], url: '/', handler });
}

async function handleJson(
  req: FastifyRequest,
  reply: FastifyReply,
  opts: QueryEdgeOptions,
  target: string,
  r: { url: string; q: number; rawQuery: string; body: Buffer; requestId: string },
) {
  const send = (status: number, type: string, message: string) => (
    noteAuditError(req, type, message),
    reply.code(status).header('content-type', 'application/x-amz-json-1.1').header('x-amzn-requestid', r.requestId).header('x-amzn-errortype', type).send(JSON.stringify({ __type: type, message }))
  );
  const dot = target.lastIndexOf('.');
  const service = (opts.jsonServices ?? []).find((s) => s.targetPrefix === target.slice(0, dot));
  const operation = service && Object.hasOwn(service.operations, target.slice(dot + 1)) ? service.operations[target.slice(dot + 1)] : undefined;
  if (service) noteAudit(req, { eventSource: eventSourceOf(service), eventName: target.slice(dot + 1), readOnly: isReadOnlyAction(target.slice(dot + 1)) });
  const auth = await authenticateSigV4(opts.identity, { method: req.method, path: r.q < 0 ? r.url : r.url.slice(0, r.q), rawQuery: r.rawQuery, headers: req.headers, body: r.body });
  if (!auth.ok) {
    const { code, status } = sigV4Error(auth.reason, 'json');
    return send(status, code, auth.message);
  }
  if (service) admit(req, auth.caller, `${service.signingName}:${target.slice(dot + 1)}`, service.signingName);
  noteAudit(req, { caller: auth.caller });
  // A scope for another service or region is a SigV4 failure: 403 InvalidSignatureException, as every SigV4 failure on the JSON APIs.
  const mismatch = service ? scopeMismatch(auth, { service: service.signingName, region: service.regional ? opts.region : undefined }) : null;
  if (mismatch) return send(403, 'InvalidSignatureException', mismatch);
  if (!operation) return send(400, 'UnknownOperationException', `Unknown operation ${target}`);
  let input: Record<string, unknown>;
  try {
    input = r.body.length ? (JSON.parse(r.body.toString('utf8')) as Record<string, unknown>) : {};
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('not an object');
  } catch {
    return send(400, 'SerializationException', 'the request body is not a JSON object');
  }
  noteAudit(req, { requestParameters: input });
  try {
    const facts: RequestFacts = { sourceIp: req.ip, secureTransport: req.protocol === 'https' };
    const output = await operation({ caller: auth.caller, input, facts, host: req.headers.host ?? '', protocol: req.protocol });
    if (output && !req.audit?.readOnly) noteAudit(req, { responseElements: output });
    return reply.code(200).header('content-type', 'application/x-amz-json-1.1').header('x-amzn-requestid', r.requestId).send(JSON.stringify(output ?? {}));
  } catch (err) {
    // Services with exception names of their own (KMS) throw errors that carry them.
    const own = err as { awsJsonError?: boolean; code?: string; status?: number; message?: string };
    if (own && own.awsJsonError === true && typeof own.code === 'string') return send(own.status ?? 400, own.code, own.message ?? '');
    if (isIamError(err)) return send(err.status >= 500 ? 500 : 400, err.code.endsWith('Exception') ? err.code : `${err.code === 'ValidationError' ? 'Validation' : err.code}Exception`, err.message);
    req.log.error({ err, target }, 'json-protocol operation failed');
    return send(500, 'ServerException', 'internal server error');
  }
}

function sendError(reply: FastifyReply, namespace: string, requestId: string, status: number, type: string, code: string, message: string) {
  noteAuditError(reply.request, code, message);
  return reply
    .code(status)
    .header('content-type', 'text/xml')
    .header('x-amzn-requestid', requestId)
    .send(`<ErrorResponse xmlns="${namespace}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
}

/**
 * The request's parameters: the query string and the form body, both
 * application/x-www-form-urlencoded ('+' decodes to a space); the body's value wins, and
 * of a repeated name the first.
 */
export function formParams(rawQuery: string, body: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const source of [rawQuery, body]) {
    const seen = new Set<string>();
    for (const [k, v] of new URLSearchParams(source)) {
      if (seen.has(k)) continue;
      seen.add(k);
      params[k] = v;
    }
  }
  return params;
}

/** Reads an optional whole-number parameter, refusing anything else. */
export function intParam(params: Record<string, string>, name: string): number | undefined {
  const v = params[name];
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new IamError('ValidationError', `1 validation error detected: Value '${v}' at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must be a whole number`);
  return Number(v);
}
