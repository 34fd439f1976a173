import net from 'node:net';
import { RequestFailed } from './http.js';

// A lean HTTP/1.1 GET for the blob pull: one keep-alive connection, the response head parsed
// here, the body counted and dropped as it arrives into one reused 1 MiB read buffer.
//
// Why not node's http client: on a 2-core machine it was the ceiling of the pull figure, not
// the registries. Pulling 2 GiB it spent 1.6 CPU-s per GiB in the bench process (llhttp
// hands every 64 KiB read to a stream as a fresh Buffer), more than either registry spent
// serving it, and both registries then read 450-680 MB/s; the same pulls with curl read
// 1.2-1.4 GB/s. This client spends about 0.35 CPU-s per GiB, so the figure measures the
// servers. Both registries get the same client.

export interface LeanResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Body bytes received. */
  bytes: number;
}

const READ_BUFFER = 1 << 20;
const MAX_HEAD = 64 * 1024;
const KEEP_OF_ERROR_BODY = 300;

interface Pending {
  path: string;
  resolve(response: LeanResponse): void;
  reject(err: Error): void;
  head: string;
  response: LeanResponse | null;
  remaining: number;
  errorBody: string;
}

export class LeanGetConnection {
  private socket: net.Socket | null = null;
  private pending: Pending | null = null;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER);

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 120_000,
  ) {
    if (host !== '127.0.0.1' && host !== 'localhost') throw new Error(`the benchmark only talks to loopback, not ${host}`);
  }

  /** GETs `path`; resolves once the whole body has been received (2xx only, else RequestFailed). */
  get(path: string): Promise<LeanResponse> {
    if (this.pending) return Promise.reject(new Error('LeanGetConnection: one request at a time'));
    return new Promise<LeanResponse>((resolve, reject) => {
      this.pending = { path, resolve, reject, head: '', response: null, remaining: 0, errorBody: '' };
      const socket = this.socket ?? this.connect();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nAccept: */*\r\n\r\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): net.Socket {
    const socket = net.connect({
      host: this.host,
      port: this.port,
      onread: { buffer: this.buffer, callback: (length: number) => this.onData(length) },
    });
    socket.setNoDelay(true);
    socket.setTimeout(this.timeoutMs, () => socket.destroy(new Error(`no data within ${this.timeoutMs} ms`)));
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.fail('the server closed the connection');
    });
    this.socket = socket;
    return socket;
  }

  private onData(length: number): boolean {
    const p = this.pending;
    if (!p) {
      this.fail(`${length} bytes arrived with no request outstanding`);
      return false;
    }
    let offset = 0;
    if (!p.response) {
      // The head is small: collect it as text (latin1 keeps one char per byte).
      const before = p.head.length;
      p.head += this.buffer.toString('latin1', 0, length);
      const end = p.head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (p.head.length > MAX_HEAD) this.fail(`response head over ${MAX_HEAD} bytes`);
        return true;
      }
      const parsed = parseHead(p.head.slice(0, end));
      if (typeof parsed === 'string') {
        this.fail(parsed);
        return false;
      }
      p.response = { status: parsed.status, headers: parsed.headers, bytes: 0 };
      p.remaining = parsed.contentLength;
      offset = end + 4 - before;
    }
    const body = length - offset;
    if (body > p.remaining) {
      this.fail(`${body - p.remaining} bytes more than Content-Length`);
      return false;
    }
    p.response.bytes += body;
    p.remaining -= body;
    if (p.response.status >= 300 && p.errorBody.length < KEEP_OF_ERROR_BODY) {
      p.errorBody += this.buffer.toString('utf8', offset, Math.min(length, offset + KEEP_OF_ERROR_BODY));
    }
    if (p.remaining === 0) this.finish(p);
    return true;
  }

  private finish(p: Pending): void {
    this.pending = null;
    const response = p.response!;
    if (response.headers.connection?.toLowerCase() === 'close') this.close();
    if (response.status >= 200 && response.status < 300) p.resolve(response);
    else p.reject(new RequestFailed(`GET ${p.path.slice(0, 160)}: HTTP ${response.status} ${p.errorBody.slice(0, KEEP_OF_ERROR_BODY)}`));
  }

  private fail(reason: string): void {
    const p = this.pending;
    this.pending = null;
    this.close();
    p?.reject(new RequestFailed(`GET ${p.path.slice(0, 160)}: ${reason}`));
  }
}

function parseHead(head: string): { status: number; headers: Record<string, string>; contentLength: number } | string {
  const lines = head.split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!statusLine) return `not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headers['transfer-encoding']) return `Transfer-Encoding ${headers['transfer-encoding']}: this client reads Content-Length bodies only`;
  const contentLength = Number(headers['content-length']);
  if (!Number.isSafeInteger(contentLength) || contentLength < 0) return `no usable Content-Length (${headers['content-length'] ?? 'none'})`;
  return { status: Number(statusLine[1]), headers, contentLength };
}
