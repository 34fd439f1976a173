import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startBerth, type TestServer } from '../helpers/server.js';
import { expectError, MediaTypes, Registry, sha256, withQuery, type Image } from './client.js';

// Where conformance suites and other registries look closely (issue 19): a GET of a
// reference that cannot exist, a closing PUT out of order, a body that ends early, the
// length of a HEAD error. Raw HTTP against a running Berth.

/** Sends a request whose body is shorter than its Content-Length, then half-closes; resolves to the raw answer. */
function sendShortBody(url: string, head: string, body: Buffer | string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head.replace('{HOST}', `${hostname}:${port}`));
      socket.end(body);
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function parseRaw(answer: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = answer.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('OCI exactness', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'exact/app';
  let image: Image;

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
    image = await registry.pushImage(repo, 'latest', { layers: 1 });
  });
  after(() => server.stop());

  describe('a reference that is neither a valid tag nor a digest', () => {
    for (const reference of ['.INVALID_MANIFEST_NAME', '-dash', 'bang!', 'sha256:1234', `sha256:${'g'.repeat(64)}`]) {
      test(`${reference}: GET and HEAD 404 MANIFEST_UNKNOWN, PUT 400`, async () => {
        const get = await registry.request('GET', `/v2/${repo}/manifests/${reference}`);
        const getBody = await get.clone().text();
        await expectError(get, 404, 'MANIFEST_UNKNOWN');
        const head = await registry.request('HEAD', `/v2/${repo}/manifests/${reference}`);
        assert.equal(head.status, 404);
        assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(getBody)), 'HEAD carries the length of the GET error');
        const put = await registry.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body: image.bytes });
        await expectError(put, 400, reference.includes(':') ? 'DIGEST_INVALID' : 'TAG_INVALID');
      });
    }
    test('in a repository that does not exist: still NAME_UNKNOWN', async () => {
      await expectError(await registry.request('GET', `/v2/exact/none/manifests/.bad`), 404, 'NAME_UNKNOWN');
    });
  });

  test('HEAD errors carry Content-Length (unknown blob, unknown manifest, unknown repository)', async () => {
    for (const path of [`/v2/${repo}/blobs/${sha256('nothing')}`, `/v2/${repo}/manifests/missing`, `/v2/exact/none/manifests/latest`]) {
      const get = await registry.request('GET', path);
      const body = await get.text();
      const head = await registry.request('HEAD', path);
      await head.arrayBuffer();
      assert.equal(head.status, get.status, path);
      assert.ok(head.status >= 400, path);
      assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(body)), path);
    }
  });

  describe('a chunk that does not start at the upload offset: 416, the upload stays usable', () => {
    const bytes = Buffer.from('0123456789abcdefghij');
    const digest = sha256(bytes);

    async function startWithTen(): Promise<string> {
      const location = await registry.startUpload(repo);
      const res = await registry.request('PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9', 'Content-Length': '10' },
        body: bytes.subarray(0, 10),
      });
      await res.arrayBuffer();
      assert.equal(res.status, 202);
      return new URL(res.headers.get('location')!, server.url).pathname;
    }

    async function assertAtTen(location: string): Promise<void> {
      const status = await registry.request('GET', location);
      await status.arrayBuffer();
      assert.equal(status.status, 204, 'the upload still exists');
      assert.equal(status.headers.get('range'), '0-9', 'and holds only the first chunk');
    }

    async function finish(location: string): Promise<void> {
      const put = await registry.request('PUT', withQuery(location, 'digest', digest), {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '10-19', 'Content-Length': '10' },
        body: bytes.subarray(10),
      });
      await put.arrayBuffer();
      assert.equal(put.status, 201, 'the right closing chunk completes it');
      assert.equal(put.headers.get('docker-content-digest'), digest);
      const blob = await registry.request('GET', `/v2/${repo}/blobs/${digest}`);
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), bytes);
    }

    for (const range of ['5-14', '11-20', '0-9']) {
      test(`closing PUT with Content-Range ${range}`, async () => {
        const location = await startWithTen();
        const [start, end] = range.split('-').map(Number) as [number, number];
        const res = await registry.request('PUT', withQuery(location, 'digest', digest), {
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': range, 'Content-Length': '10' },
          body: bytes.subarray(start, end + 1).length === 10 ? bytes.subarray(start, end + 1) : Buffer.alloc(10, 'x'),
        });
        await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
        assert.equal(res.headers.get('range'), '0-9', 'the answer says where the upload is');
        await assertAtTen(location);
        await finish(location);
      });
    }

    test('PATCH with Content-Range 5-14', async () => {
      const location = await startWithTen();
      const res = await registry.request('PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '5-14', 'Content-Length': '10' },
        body: bytes.subarray(5, 15),
      });
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
      assert.equal(res.headers.get('range'), '0-9');
      await assertAtTen(location);
      await finish(location);
    });

    test('closing PUT without a body whose Content-Range is not at the end', async () => {
      const location = await startWithTen();
      const res = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes.subarray(0, 10))), { headers: { 'Content-Range': '4-9', 'Content-Length': '0' } });
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
      await assertAtTen(location);
      await finish(location);
    });
  });

  describe('a body that ends early gets the protocol error, not the framework one', () => {
    const bytes = Buffer.alloc(1000, 7);
    test('monolithic blob POST: 400 BLOB_UPLOAD_INVALID', async () => {
      const answer = parseRaw(
        await sendShortBody(
          server.url,
          `POST /v2/${repo}/blobs/uploads/?digest=${sha256(bytes)} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n`,
          bytes.subarray(0, 400),
        ),
      );
      assert.equal(answer.status, 400, JSON.stringify(answer));
      assert.match(answer.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(answer.headers['content-length'], String(Buffer.byteLength(answer.body)));
      assert.equal(JSON.parse(answer.body).errors[0].code, 'BLOB_UPLOAD_INVALID');
    });
    test('chunked PATCH whose last chunk never comes: 400 BLOB_UPLOAD_INVALID', async () => {
      const location = await registry.startUpload(repo);
      const answer = parseRaw(
        await sendShortBody(server.url, `PATCH ${location} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`, '10\r\n0123'),
      );
      assert.equal(answer.status, 400, JSON.stringify(answer));
      assert.equal(JSON.parse(answer.body).errors[0].code, 'BLOB_UPLOAD_INVALID');
    });
    test('manifest PUT: 400 MANIFEST_INVALID', async () => {
      const answer = parseRaw(
        await sendShortBody(
          server.url,
          `PUT /v2/${repo}/manifests/short HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: ${MediaTypes.ociManifest}\r\nContent-Length: ${image.bytes.length}\r\n\r\n`,
          image.bytes.subarray(0, 20),
        ),
      );
      assert.equal(answer.status, 400, JSON.stringify(answer));
      assert.equal(JSON.parse(answer.body).errors[0].code, 'MANIFEST_INVALID');
      assert.equal(await registry.manifestStatus(repo, 'short'), 404);
    });
    test('ECR API call: 400 SerializationException in AWS JSON', async () => {
      const answer = parseRaw(
        await sendShortBody(
          server.url,
          `POST / HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AmazonEC2ContainerRegistry_V20150921.DescribeRepositories\r\nContent-Length: 100\r\n\r\n`,
          '{"repositoryNames":',
        ),
      );
      assert.equal(answer.status, 400, JSON.stringify(answer));
      assert.equal(JSON.parse(answer.body).__type, 'SerializationException');
    });
  });
});
