import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { LeanGetConnection } from '../../bench/lean-get.js';
import { RequestFailed } from '../../bench/http.js';

// The bench's lean pull client: its figure is only worth something if it counts every byte,
// keeps a connection across requests, and fails loudly on what it cannot read.

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

test('lean GET: counts every body byte over one keep-alive connection, headers in lower case', async () => {
  const body = randomBytes(3 * (1 << 20) + 12345);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    res.writeHead(200, { 'Content-Length': body.length, 'Docker-Content-Digest': digest });
    // In uneven pieces, so the head and the body share and split reads.
    let offset = 0;
    const more = (): void => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 70_001);
        offset += piece.length;
        if (!res.write(piece)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  const port = await listen(server);
  const connection = new LeanGetConnection('127.0.0.1', port);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await connection.get('/v2/x/blobs/' + digest);
      assert.equal(res.status, 200);
      assert.equal(res.bytes, body.length);
      assert.equal(res.headers['docker-content-digest'], digest);
    }
    assert.equal(sockets.size, 1, 'the three GETs share one connection');
  } finally {
    connection.close();
    server.close();
  }
});

test('lean GET: an error status rejects with the status and the start of the body, and the connection goes on', async () => {
  let calls = 0;
  const server = http.createServer((_req, res) => {
    calls++;
    if (calls === 1) {
      const error = '{"errors":[{"code":"BLOB_UNKNOWN"}]}';
      res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': error.length });
      res.end(error);
    } else res.writeHead(200, { 'Content-Length': 2 }).end('ok');
  });
  const port = await listen(server);
  const connection = new LeanGetConnection('127.0.0.1', port);
  try {
    await assert.rejects(connection.get('/missing'), (err: Error) => err instanceof RequestFailed && /HTTP 404 .*BLOB_UNKNOWN/.test(err.message));
    const res = await connection.get('/there');
    assert.equal(res.bytes, 2);
  } finally {
    connection.close();
    server.close();
  }
});

test('lean GET: a chunked body, a short body and a hang-up are errors, not figures', async () => {
  const server = net.createServer((socket) => {
    socket.once('data', (request) => {
      const path = request.toString('latin1').split(' ')[1];
      if (path === '/chunked') socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      else if (path === '/short') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
      else socket.destroy();
    });
  });
  const port = await listen(server);
  try {
    for (const path of ['/chunked', '/short', '/hangup']) {
      const connection = new LeanGetConnection('127.0.0.1', port);
      await assert.rejects(connection.get(path), RequestFailed, path);
      connection.close();
    }
  } finally {
    server.close();
  }
});

test('lean GET: refuses anything but loopback', () => {
  assert.throws(() => new LeanGetConnection('example.com', 80), /loopback/);
});
