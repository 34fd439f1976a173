import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorTable } from '../domain/errors.js';

// Requests node's HTTP parser gives up on (a body that ends before its Content-Length or
// its last chunk, a malformed chunk) never reach a route: fastify answers them with its
// own `{"error":"Bad Request","message":"Client Error"}`. This answers them in the
// protocol of the edge they were meant for instead: the OCI error JSON on /v2, the AWS
// JSON error on the AWS APIs.

import type { ConnectionError } from 'fastify';

type ParserError = ConnectionError;

/** fastify's `clientErrorHandler`. */
export function protocolClientErrorHandler(err: ParserError, socket: Socket): void {
  // A reset socket has nobody left to answer (node's own behaviour).
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, body, contentType } = answerFor(err, requestLine(err, socket));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        (status < 500 ? 'Docker-Distribution-API-Version: registry/2.0\r\n' : '') +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** The method and path of the request the parser failed on, when it got that far. */
function requestLine(err: ParserError, socket: Socket): { method: string; path: string } | null {
  // A request already dispatched (its body then failed) is the socket's current message.
  const req = (socket as unknown as { _httpMessage?: { req?: { method?: string; url?: string } } })._httpMessage?.req;
  if (req?.url !== undefined) return { method: req.method ?? '', path: req.url };
  const m = /^([A-Z]+) (\S+) HTTP\//.exec((err.rawPacket as unknown as Buffer | undefined)?.subarray(0, 2048).toString('latin1') ?? '');
  return m ? { method: m[1]!, path: m[2]! } : null;
}

function answerFor(err: ParserError, line: { method: string; path: string } | null): { status: number; body: string; contentType: string } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return plain(408, 'Client Timeout');
  if (err.code === 'HPE_HEADER_OVERFLOW') return plain(431, 'Exceeded maximum allowed HTTP header size');
  const truncated = err.code === 'HPE_INVALID_EOF_STATE';
  const what = truncated ? 'the request body ended before it was complete' : `the request could not be parsed (${err.code ?? 'malformed'})`;
  if (line?.path.startsWith('/v2')) {
    const spec = /\/manifests\//.test(line.path) ? errorTable.ManifestInvalid : line.path.includes('/blobs/') ? errorTable.BlobUploadInvalid : errorTable.Unsupported;
    const status = spec === errorTable.Unsupported ? 400 : spec.status;
    return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ errors: [{ code: spec.oci, message: what }] }) };
  }
  if (line?.method === 'POST') {
    // AWS JSON (ECR, IAM/STS over JSON) and query APIs alike take a SerializationException-style answer.
    return { status: 400, contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ __type: 'SerializationException', message: what }) };
  }
  return plain(400, 'Client Error');
}

function plain(status: number, message: string) {
  return { status, contentType: 'application/json', body: JSON.stringify({ error: STATUS_CODES[status], message, statusCode: status }) };
}
