import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EcrLifecycle } from '../../domain/ecr/lifecycle.js';
import { isDomainError } from '../../domain/errors.js';
import type { GarbageCollector } from '../../domain/gc.js';

// Operator endpoints the `berth` CLI drives on a running server. Answers are NDJSON: one
// {"type":"progress",...} line per step, then one {"type":"result",...} (or "error") line.
//
// NOTE: protected only by accepting loopback connections. Once IAM identity lands these
// must move behind it (an operator principal), and loopback alone must no longer suffice.

export interface OperatorEdgeOptions {
  gc: GarbageCollector;
  lifecycle: EcrLifecycle;
  registryId: string;
}

export async function operatorEdge(app: FastifyInstance, opts: OperatorEdgeOptions): Promise<void> {
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/_berth/')) return;
    if (!isLoopback(req.socket.remoteAddress)) {
      return reply.code(403).send({ error: 'Forbidden', message: 'operator endpoints answer loopback connections only' });
    }
  });

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

type Progress = (line: object) => void;

/** Runs a job, streaming its progress and result as NDJSON; a client that goes away aborts it. */
function streamJob(reply: FastifyReply, job: (progress: Progress, signal: AbortSignal) => Promise<object>) {
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
