import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ADMIN_POLICY, createTestUser, policy } from '../helpers/principals.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basic, loginPassword } from './helpers.js';

// Every /v2 route and method, in every form of address (the default registry, another
// account by path, the same account by ECR host form): anonymous callers get 401 with a
// challenge; a logged-in caller whose policies grant nothing gets 403 DENIED; an
// administrator of another account gets 403 too (no repository policy shares anything);
// and the registry is untouched by all of it.
const A = '111111111111';
const B = '222222222222';
const DIGEST = `sha256:${'a'.repeat(64)}`;

const routes: Array<[string, string]> = [
  ['GET', '_catalog'],
  ['POST', 'app/blobs/uploads/'],
  ['POST', `app/blobs/uploads/?mount=${DIGEST}&from=other`],
  ['POST', `app/blobs/uploads/?digest=${DIGEST}`],
  ['GET', 'app/blobs/uploads/some-id'],
  ['PATCH', 'app/blobs/uploads/some-id'],
  ['PUT', `app/blobs/uploads/some-id?digest=${DIGEST}`],
  ['DELETE', 'app/blobs/uploads/some-id'],
  ['GET', `app/blobs/${DIGEST}`],
  ['HEAD', `app/blobs/${DIGEST}`],
  ['DELETE', `app/blobs/${DIGEST}`],
  ['GET', 'app/manifests/latest'],
  ['HEAD', 'app/manifests/latest'],
  ['PUT', 'app/manifests/latest'],
  ['DELETE', `app/manifests/${DIGEST}`],
  ['GET', 'app/tags/list'],
  ['GET', `app/referrers/${DIGEST}`],
  ['GET', 'team/sub/app/manifests/v1'],
];

interface Answer {
  status: number;
  challenge: string | undefined;
  code: string | undefined;
}

describe('/v2: every route refuses anonymous and unpermitted callers in every address form', () => {
  let server: TestServer;
  let loginOnly: string;
  let otherAdmin: string;
  let port: number;
  const forms = () => [
    { label: 'default registry', host: server.host, prefix: '/v2/' },
    { label: 'path form', host: server.host, prefix: `/v2/${A}/` },
    { label: 'host form', host: `${A}.dkr.ecr.us-east-1.localhost:${port}`, prefix: '/v2/' },
  ];

  function send(method: string, host: string, path: string, authorization?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const body = method === 'PUT' || method === 'PATCH' ? 'x' : undefined;
      const req = request({ host: '127.0.0.1', port, method, path, headers: { host, ...(authorization ? { authorization } : {}), ...(body ? { 'content-length': '1' } : {}) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => {
          let code: string | undefined;
          try {
            code = (JSON.parse(text) as { errors: Array<{ code: string }> }).errors[0]!.code;
          } catch {
            code = undefined;
          }
          resolve({ status: res.statusCode!, challenge: res.headers['www-authenticate'], code });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  before(async () => {
    server = await startBerth({ auth: { v2: true } });
    port = Number(server.host.split(':')[1]);
    loginOnly = basic(await loginPassword(server, await createTestUser(server.berth, A, 'login-only', { inline: [policy({ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' })] })));
    otherAdmin = basic(await loginPassword(server, await createTestUser(server.berth, B, 'b-admin', { attach: [ADMIN_POLICY] })));
  });
  after(() => server.stop());

  for (const [method, route] of routes) {
    test(`${method} ${route}`, async () => {
      for (const form of forms()) {
        const path = form.prefix + route;
        const anonymous = await send(method, form.host, path);
        assert.equal(anonymous.status, 401, `${form.label} anonymous`);
        assert.match(anonymous.challenge ?? '', /^Basic realm=/);
        for (const [who, auth] of [
          ['login-only user of A', loginOnly],
          ['administrator of B', otherAdmin],
        ] as const) {
          const answer = await send(method, form.host, path, auth);
          assert.equal(answer.status, 403, `${form.label}, ${who}: ${path}`);
          if (method !== 'HEAD') assert.equal(answer.code, 'DENIED');
        }
      }
    });
  }

  test('forged, malformed and foreign-scheme credentials are 401 on every form', async () => {
    for (const form of forms()) {
      for (const auth of [basic('forged.password'), 'Bearer nonsense.token', `Basic ${Buffer.from('admin:secret').toString('base64')}`, 'AWS4-HMAC-SHA256 Credential=x']) {
        assert.equal((await send('GET', form.host, `${form.prefix}app/manifests/latest`, auth)).status, 401, `${form.label} ${auth}`);
      }
    }
  });

  test('nothing was created by the refused requests', async () => {
    for (const registryId of [server.berth.config.registryId, A]) {
      assert.equal(await server.berth.meta.getRepository(registryId, 'app'), null);
      assert.equal(await server.berth.meta.getRepository(registryId, 'team/sub/app'), null);
    }
  });
});
