import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { IAMClient, ListUsersCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createApp, type Berth } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';
import type { Actor } from '../../src/domain/actor.js';
import { ADMIN_POLICY, createTestUser } from '../helpers/principals.js';
import { testAdmin } from '../helpers/server.js';
import { basic, loginPassword, pushRaw, sha, tinyImage } from './helpers.js';

// The front door: every request has an Actor and one request id from the moment it
// arrives, read the way the audit trail reads them (an onResponse hook): anonymous
// requests name their source; authenticated ones the caller; each names its operation as
// ECR, IAM and STS name it; the request id is the one answered in x-amzn-RequestId and
// bound in the request's log child.

interface Seen {
  actor: Actor;
  requestId: string;
  logRequestId: unknown;
  url: string;
  status: number;
}

describe('request.actor and the request id on every edge', () => {
  let berth: Berth;
  let url: string;
  let dataDir: string;
  const seen: Seen[] = [];
  // onResponse runs after the answer is sent: wait until every request has been recorded.
  let started = 0;
  const settled = async () => {
    const deadline = Date.now() + 5000;
    while (seen.length < started && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  const lastSeen = async () => {
    await settled();
    return seen.at(-1)!;
  };
  const lastFor = async (path: string) => {
    await settled();
    return [...seen].reverse().find((s) => s.url.startsWith(path))!;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-front-door-'));
    const config = parseConfig({ host: '127.0.0.1', port: 0, dataDir, log: { level: 'warn' }, bootstrap: { ...testAdmin }, auth: { v2: true } });
    berth = await createApp(config);
    berth.http.addHook('onRequest', async () => void started++);
    berth.http.addHook('onResponse', async (req, reply) => {
      seen.push({ actor: { ...req.actor }, requestId: req.id, logRequestId: (req.log as unknown as { bindings(): Record<string, unknown> }).bindings().requestId, url: req.url, status: reply.statusCode });
    });
    await berth.http.listen({ host: '127.0.0.1', port: 0 });
    const address = berth.http.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await berth.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('anonymous /v2 requests: type Anonymous with source address and user agent', async () => {
    const res = await fetch(`${url}/v2/`, { headers: { 'user-agent': 'front-door-test/1' } });
    assert.equal(res.status, 401);
    const s = await lastFor('/v2/');
    assert.equal(s.actor.type, 'Anonymous');
    assert.equal(s.actor.accountId, null);
    assert.equal(s.actor.sourceIp, '127.0.0.1');
    assert.equal(s.actor.userAgent, 'front-door-test/1');
    assert.equal(s.actor.edge, 'oci');
    assert.match(s.actor.requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(s.actor.requestId, s.requestId);
    assert.equal(s.logRequestId, s.requestId, 'the request log child carries the request id');
  });

  test('/v2 pulls and pushes name their ECR action and the logged-in caller', async () => {
    const credentials = await createTestUser(berth, '000000000000', 'door-user', { attach: [ADMIN_POLICY] });
    const auth = basic(await loginPassword({ berth, url } as never, credentials));
    const image = tinyImage('front-door');
    assert.equal(await pushRaw(url, auth, 'door/app', 'v1', image), 201);
    assert.equal((await lastFor('/v2/door/app/manifests/v1')).actor.operation, 'ecr:PutImage');

    assert.equal((await fetch(`${url}/v2/door/app/manifests/v1`, { headers: { authorization: auth, accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);
    const pull = await lastFor('/v2/door/app/manifests/v1');
    assert.equal(pull.actor.operation, 'ecr:BatchGetImage');
    assert.equal(pull.actor.type, 'IAMUser');
    assert.equal(pull.actor.accountId, '000000000000');
    assert.equal(pull.actor.arn, 'arn:aws:iam::000000000000:user/door-user');
    assert.equal(pull.actor.accessKeyId, credentials.accessKeyId);
    assert.match(pull.actor.principalId ?? '', /^AIDA/);
    assert.equal(pull.actor.edge, 'oci');

    await fetch(`${url}/v2/door/app/blobs/${sha(image.layer)}`, { method: 'HEAD', headers: { authorization: auth } });
    assert.equal((await lastFor(`/v2/door/app/blobs/${sha(image.layer)}`)).actor.operation, 'ecr:BatchCheckLayerAvailability');
    // The GET's onResponse runs after its body has gone out, so the client may finish first:
    // wait for the GET's own entry, not the HEAD's before it (same URL).
    const before = seen.length;
    await (await fetch(`${url}/v2/door/app/blobs/${sha(image.layer)}`, { headers: { authorization: auth } })).arrayBuffer();
    for (const deadline = Date.now() + 5_000; seen.length === before && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await lastFor(`/v2/door/app/blobs/${sha(image.layer)}`)).actor.operation, 'ecr:GetDownloadUrlForLayer');
    await (await fetch(`${url}/v2/door/app/tags/list`, { headers: { authorization: auth } })).arrayBuffer();
    assert.equal((await lastFor('/v2/door/app/tags/list')).actor.operation, 'ecr:ListImages');
  });

  test('the ECR API, IAM and STS: operation names, the caller, and x-amzn-RequestId is the actor request id', async () => {
    const common = { endpoint: url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 };
    const ecr = new ECRClient(common);
    const iam = new IAMClient(common);
    const sts = new STSClient(common);
    try {
      const out = await ecr.send(new DescribeRepositoriesCommand({}));
      const e = (await lastSeen());
      assert.equal(e.actor.operation, 'ecr:DescribeRepositories');
      assert.equal(e.actor.edge, 'ecr');
      assert.equal(e.actor.accessKeyId, testAdmin.accessKeyId);
      assert.equal(e.actor.type, 'IAMUser');
      assert.equal(out.$metadata.requestId, e.actor.requestId);

      const users = await iam.send(new ListUsersCommand({}));
      const i = (await lastSeen());
      assert.equal(i.actor.operation, 'iam:ListUsers');
      assert.equal(i.actor.edge, 'iam');
      assert.equal(users.$metadata.requestId, i.actor.requestId);

      await sts.send(new GetCallerIdentityCommand({}));
      assert.equal((await lastSeen()).actor.operation, 'sts:GetCallerIdentity');
    } finally {
      ecr.destroy();
      iam.destroy();
      sts.destroy();
    }
    // A refused request keeps its request id too.
    const res = await fetch(`${url}/`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories' } });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-amzn-requestid'), (await lastSeen()).requestId);
    assert.equal((await lastSeen()).actor.type, 'Anonymous');
  });

  test('request ids are never taken from the client and differ per request', async () => {
    const a = await fetch(`${url}/healthz`, { headers: { 'request-id': 'chosen-by-client', 'x-amzn-requestid': 'chosen' } });
    await a.arrayBuffer();
    const b = await fetch(`${url}/healthz`);
    await b.arrayBuffer();
    await settled();
    const [x, y] = seen.slice(-2);
    assert.notEqual(x!.requestId, 'chosen-by-client');
    assert.notEqual(x!.requestId, y!.requestId);
  });
});
