import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GarbageCollector } from '../../domain/gc.js';

// Operator endpoints the `berth` CLI drives on a running server. Answers are NDJSON: one
// {"type":"progress",...} line per step, then one {"type":"result",...} (or "error") line.
//
// NOTE: protected only by accepting loopback connections. Once IAM identity lands these
// must move behind it (an operator principal), and loopback alone must no longer suffice.

export interface OperatorEdgeOptions {
  gc: GarbageCollector;
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
    .catch((err: unknown) => write({ type: 'error', message: err instanceof Error ? err.message : String(err) }))
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
