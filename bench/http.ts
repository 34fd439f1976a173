import { once } from 'node:events';
import http from 'node:http';

// The load generator: node's own http client with keep-alive, loopback only.

export type BodyWriter = (write: (chunk: Buffer) => Promise<void>) => Promise<void>;

export interface RequestOptions {
  headers?: Record<string, string | number>;
  /** A whole body, or a writer that streams one (set Content-Length yourself). */
  body?: Buffer | BodyWriter;
  /** Keep the response body (small responses only); otherwise it is counted and dropped. */
  keepBody?: boolean;
  /** Statuses that count as success (default: any 2xx). */
  expect?: number[];
  timeoutMs?: number;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  bytes: number;
}

export class RequestFailed extends Error {}

export class Client {
  readonly agent: http.Agent;
  readonly host: string;
  readonly port: number;

  /** Sent with every request (the authorized Berth's login). */
  defaultHeaders: Record<string, string> = {};

  constructor(
    readonly baseUrl: string,
    maxSockets = 64,
  ) {
    const url = new URL(baseUrl);
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error(`the benchmark only talks to loopback, not ${url.hostname}`);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** Turns a Location header (absolute or relative) into a path on this server. */
  pathOf(location: string | undefined): string {
    if (!location) throw new RequestFailed('response had no Location header');
    const url = new URL(location, this.baseUrl);
    return url.pathname + url.search;
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const { headers = {}, body, keepBody = false, expect, timeoutMs = 120_000 } = options;
    const finalHeaders: Record<string, string | number> = { ...this.defaultHeaders, ...headers };
    if (Buffer.isBuffer(body)) finalHeaders['Content-Length'] = body.length;
    else if (body === undefined && method !== 'GET' && method !== 'HEAD') finalHeaders['Content-Length'] ??= 0;
    return new Promise<Response>((resolve, reject) => {
      const req = http.request({ host: this.host, port: this.port, method, path, headers: finalHeaders, agent: this.agent }, (res) => {
        const parts: Buffer[] = [];
        let bytes = 0;
        const ok = expect ? expect.includes(res.statusCode!) : res.statusCode! >= 200 && res.statusCode! < 300;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (keepBody || !ok) parts.push(chunk);
        });
        res.on('end', () => {
          const response = { status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), bytes };
          if (ok) resolve(response);
          else reject(new RequestFailed(`${method} ${path.slice(0, 160)}: HTTP ${res.statusCode} ${response.body.toString('utf8', 0, Math.min(300, response.body.length))}`));
        });
        res.on('error', reject);
      });
      req.on('error', (err) => reject(new RequestFailed(`${method} ${path.slice(0, 160)}: ${err.message}`)));
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const write = async (chunk: Buffer) => {
          if (!req.write(chunk)) await once(req, 'drain');
        };
        body(write).then(
          () => req.end(),
          (err: Error) => req.destroy(err),
        );
      }
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight; the first failure stops it. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failed !== null) throw failed;
}

export interface LoadResult {
  requests: number;
  ms: number;
  latenciesMs: number[];
}

/**
 * Closed-loop load: `concurrency` clients each issue requests back to back until
 * `maxRequests` have started or `maxMs` has passed. Any failed request fails the whole load.
 */
export async function closedLoop(concurrency: number, maxRequests: number, maxMs: number, task: (i: number) => Promise<void>): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  const deadline = started + maxMs;
  let issued = 0;
  let failed: unknown = null;
  const client = async () => {
    while (failed === null && issued < maxRequests && performance.now() < deadline) {
      const i = issued++;
      const t0 = performance.now();
      try {
        await task(i);
      } catch (err) {
        failed ??= err;
        return;
      }
      latenciesMs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const ms = performance.now() - started;
  if (failed !== null) throw failed;
  return { requests: latenciesMs.length, ms, latenciesMs };
}
