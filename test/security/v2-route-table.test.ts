import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { v2Handlers } from '../../src/edges/oci/routes.js';
import { V2_ROUTES } from '../../src/edges/oci/route-table.js';
import { ADMIN_POLICY, createTestUser } from '../helpers/principals.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basic, loginPassword } from './helpers.js';

// /v2 routes and the ECR actions they need are one table: what the table does not serve
// is denied to everybody, administrators included (not merely "logged in").

function send(port: number, method: string, path: string, authorization?: string): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: authorization ? { authorization } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { errors?: { code: string }[] }).errors?.[0]?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode!, code });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const UNKNOWN: Array<[string, string]> = [
  ['PUT', '/v2/app/tags/list'],
  ['GET', '/v2/app/blobs/uploads/'],
  ['POST', '/v2/app/manifests/v1'],
  ['PATCH', '/v2/app/blobs/sha256:abc'],
  ['GET', '/v2/app/something/else'],
  ['DELETE', '/v2/_catalog'],
  ['POST', '/v2/'],
];

test('every method of the route table has a handler, and every handler a table entry', () => {
  for (const route of V2_ROUTES) {
    assert.deepEqual(Object.keys(v2Handlers[route.name]).sort(), Object.keys(route.actions).sort(), route.name);
    for (const action of Object.values(route.actions)) assert.match(action!, /^(ecr:[A-Z]\w+|login)$/);
  }
  assert.deepEqual(Object.keys(v2Handlers).sort(), V2_ROUTES.map((r) => r.name).sort());
});

describe('/v2 with authorization: routes outside the table are denied', () => {
  let server: TestServer;
  let admin: string;
  let port: number;
  before(async () => {
    server = await startBerth({ auth: { v2: true } });
    port = Number(new URL(server.url).port);
    admin = basic(await loginPassword(server, await createTestUser(server.berth, '000000000000', 'table-admin', { attach: [ADMIN_POLICY] })));
  });
  after(() => server.stop());

  for (const [method, path] of UNKNOWN) {
    test(`${method} ${path}: anonymous 401, administrator 403 DENIED`, async () => {
      assert.equal((await send(port, method, path)).status, 401);
      const answer = await send(port, method, path, admin);
      assert.equal(answer.status, 403);
      assert.equal(answer.code, 'DENIED');
    });
  }

  test('a badly formed repository name is answered NAME_INVALID (to a logged-in caller), serving nothing', async () => {
    const answer = await send(port, 'GET', '/v2/UPPER/Case/manifests/v1', admin);
    assert.equal(answer.status, 400);
    assert.equal(answer.code, 'NAME_INVALID');
    assert.equal((await send(port, 'GET', '/v2/UPPER/Case/manifests/v1')).status, 401);
  });

  test('the routes of the table still work for the administrator', async () => {
    assert.equal((await send(port, 'GET', '/v2/', admin)).status, 200);
    assert.equal((await send(port, 'GET', '/v2/_catalog', admin)).status, 200);
    assert.equal((await send(port, 'GET', '/v2/app/manifests/v1', admin)).code, 'NAME_UNKNOWN');
  });
});

test('without authorization (auth.v2=false) the same requests get the registry own answer', async () => {
  const server = await startBerth({});
  try {
    const port = Number(new URL(server.url).port);
    const put = await send(port, 'PUT', '/v2/app/tags/list');
    assert.equal(put.code, 'UNSUPPORTED');
    const other = await send(port, 'GET', '/v2/app/something/else');
    assert.equal(other.code, 'UNSUPPORTED');
  } finally {
    await server.stop();
  }
});
