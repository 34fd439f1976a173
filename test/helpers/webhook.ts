import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A small HTTP receiver on loopback for webhook tests: records every request and answers
// with the status the test chooses.

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Webhook {
  url: string;
  received: ReceivedRequest[];
  /** The status answered to the next requests (default 200). */
  status: number;
  /** Answers requests itself when set (status and body), e.g. an OAuth token endpoint. */
  respond?: (req: ReceivedRequest) => { status: number; body: string } | undefined;
  /** Resolves once `count` requests have arrived (or rejects after timeoutMs). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startWebhook(path = '/hook'): Promise<Webhook> {
  const received: ReceivedRequest[] = [];
  const waiters: (() => void)[] = [];
  const hook: Webhook = {
    url: '',
    received,
    status: 200,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`the receiver got ${received.length} requests, expected ${count}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100).unref();
        });
      }
      return received;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(got);
      const answer = hook.respond?.(got) ?? { status: hook.status, body: '{}' };
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return hook;
}

/** Verifies X-Berth-Signature as docs/events.md tells receivers to. */
export function validSignature(req: ReceivedRequest, secret: string): boolean {
  const timestamp = req.headers['x-berth-timestamp'];
  const signature = req.headers['x-berth-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${req.body}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
