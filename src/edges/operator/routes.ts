import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateSigV4 } from '../../auth/authenticate.js';
import { admit } from '../../auth/front-door.js';
import { sigV4Error } from '../../auth/sigv4.js';
import type { EcrLifecycle } from '../../domain/ecr/lifecycle.js';
import { isDomainError } from '../../domain/errors.js';
import type { GarbageCollector } from '../../domain/gc.js';
import type { JobStore } from '../../stores/job-store.js';
import { isIamError } from '../../domain/iam/errors.js';
import { noteAudit, noteAuditError } from '../audit-context.js';
import { OPERATOR_ACTIONS, type IdentityService, type OperatorAction } from '../../domain/iam/identity-service.js';

// Operator endpoints the `berth` CLI drives on a running server. Answers are NDJSON: one
// {"type":"progress",...} line per step, then one {"type":"result",...} (or "error") line.
//
// Every request must be SigV4-signed (signing name `berth`) by a principal of the
// management account whose policies allow the endpoint's `berth:` action; refusals are 403
// (400 for a malformed signature) with {"error": <AWS code>, "message": ...}.
// `operator.loopbackOnly` additionally refuses callers that are not on this machine.

export interface OperatorEdgeOptions {
  gc: GarbageCollector;
  lifecycle: EcrLifecycle;
  registryId: string;
  identity: IdentityService;
  /** The job queue, for `berth jobs list|retry`. */
  jobs: JobStore;
  /** Refuse callers whose address (req.ip, so X-Forwarded-For under trustProxy) is not loopback. */
  loopbackOnly: boolean;
}

/** The signing name (credential scope service) operator requests are signed for. */
export const OPERATOR_SIGNING_NAME = 'berth';

const ACTIONS: Record<string, OperatorAction> = {
  '/_berth/gc': OPERATOR_ACTIONS.gc,
  '/_berth/lifecycle': OPERATOR_ACTIONS.lifecycle,
  '/_berth/jobs': OPERATOR_ACTIONS.listJobs,
  '/_berth/jobs/retry': OPERATOR_ACTIONS.retryJob,
};

/** Modules' operator routes: each path is authorized against its `berth:` action like the built-in ones. */
export function registerOperatorAction(path: string, action: OperatorAction): void {
  ACTIONS[path] = action;
}

export async function operatorEdge(app: FastifyInstance, opts: OperatorEdgeOptions): Promise<void> {
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/_berth/')) return;
    const refuse = (status: number, error: string, message: string) => (noteAuditError(req, error, message), reply.code(status).send({ error, message }));
    // The audit trail names operator calls by their berth: action, under the signing name.
    const named = ACTIONS[req.routeOptions.url ?? ''];
    if (named) noteAudit(req, { eventSource: `${OPERATOR_SIGNING_NAME}.amazonaws.com`, eventName: named.slice('berth:'.length), readOnly: false, requestParameters: { ...(req.query as object) } });
    if (opts.loopbackOnly && !isLoopback(req.ip)) return refuse(403, 'Forbidden', 'operator endpoints answer loopback connections only (operator.loopbackOnly)');
    // Operator requests carry no body: the signature covers the empty payload.
    const url = req.raw.url ?? '/';
    const q = url.indexOf('?');
    const auth = await authenticateSigV4(opts.identity, { method: req.method, path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers: req.headers });
    if (!auth.ok) {
      const { code, status } = sigV4Error(auth.reason, 'query');
      return refuse(status, code, auth.message);
    }
    noteAudit(req, { caller: auth.caller, credentialsPresented: true });
    if (auth.service !== OPERATOR_SIGNING_NAME) return refuse(403, 'SignatureDoesNotMatch', `Credential should be scoped to correct service: '${OPERATOR_SIGNING_NAME}'.`);
    const action = ACTIONS[req.routeOptions.url ?? ''];
    admit(req, auth.caller, action ?? `${req.method} ${req.routeOptions.url ?? ''}`, 'operator');
    if (!action) return; // not an operator route: fastify answers 404
    try {
      await opts.identity.requireOperator(auth.caller, action, { sourceIp: req.ip, secureTransport: req.protocol === 'https' });
    } catch (err) {
      if (isIamError(err)) return refuse(err.status, err.code, err.message);
      throw err;
    }
  });

  jobRoutes(app, opts.jobs);

  app.post('/_berth/gc', async (req, reply) => {
    const dryRun = flag(req, 'dryRun');
    return streamJob(reply, (progress, signal) => opts.gc.run({ dryRun, signal, onProgress: progress }));
  });

  // Applies lifecycle policies now (one repository, or every one that has a policy).
  app.post('/_berth/lifecycle', async (req, reply) => {
    const repository = (req.query as Record<string, string | undefined>).repository;
    const dryRun = flag(req, 'dryRun');
    return streamJob(reply, async (progress, signal) => {
      const reports = await opts.lifecycle.run({
        registryId: opts.registryId,
        repositoryName: repository,
        dryRun,
        signal,
        onRepository: (r) => progress({ repositoryName: r.repositoryName, expired: r.expired.length, transitioned: r.transitioned.length }),
      });
      const expired = reports.reduce((n, r) => n + r.expired.length, 0);
      const transitioned = reports.reduce((n, r) => n + r.transitioned.length, 0);
      return { dryRun, repositories: reports.length, expired, transitioned, reports };
    });
  });
}

/** `berth jobs list|retry`: the queue as an operator sees it, dead letters included. */
function jobRoutes(app: FastifyInstance, jobs: JobStore): void {
  app.post('/_berth/jobs', async (req, reply) => {
    const query = req.query as Record<string, string | undefined>;
    const state = query.state;
    if (state !== undefined && state !== 'pending' && state !== 'running' && state !== 'dead') return reply.code(400).send({ error: 'InvalidParameter', message: 'state must be pending, running or dead' });
    const limit = query.limit === undefined ? 100 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return reply.code(400).send({ error: 'InvalidParameter', message: 'limit must be a whole number from 1 to 1000' });
    return streamJob(reply, async () => ({
      jobs: await jobs.listJobs({ ...(state ? { state } : {}), ...(query.kind ? { kind: query.kind } : {}), limit }, Date.now()),
      queue: await jobs.jobQueueStats(Date.now()),
    }));
  });
  app.post('/_berth/jobs/retry', async (req, reply) => {
    const id = Number((req.query as Record<string, string | undefined>).id);
    if (!Number.isSafeInteger(id) || id < 1) return reply.code(400).send({ error: 'InvalidParameter', message: 'id must be a job id (berth jobs list)' });
    return streamJob(reply, async () => {
      if (!(await jobs.retryJob(id, Date.now()))) throw new Error(`no job ${id} to retry (it is running, or gone)`);
      return { id, retried: true };
    });
  });
}

export type Progress = (line: object) => void;

/** Runs a job, streaming its progress and result as NDJSON; a client that goes away aborts it. */
export function streamJob(reply: FastifyReply, job: (progress: Progress, signal: AbortSignal) => Promise<object>) {
  const out = new PassThrough();
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  const write = (line: object) => out.write(`${JSON.stringify(line)}\n`);
  job((p) => write({ type: 'progress', ...p }), abort.signal)
    .then((result) => write({ type: 'result', ...result }))
    .catch((err: unknown) => write({ type: 'error', ...(isDomainError(err) ? { code: err.errorName } : {}), message: err instanceof Error ? err.message : String(err) }))
    .finally(() => out.end());
  return reply.code(200).type('application/x-ndjson').send(out);
}

function flag(req: FastifyRequest, name: string): boolean {
  const value = (req.query as Record<string, string | undefined>)[name];
  return value !== undefined && value !== '0' && value !== 'false';
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
