import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildTestImages, OCI, type TestImages } from '../../helpers/images.js';
import { runOk } from '../../helpers/process.js';
import { startBerth, testAdmin, type TestServer } from '../../helpers/server.js';
import { requireTool } from '../../helpers/tools.js';
import { startWebhook, validSignature, type Webhook } from '../../helpers/webhook.js';

// Issue 14's done-when for events: a user who knows AWS sets up a rule and an API
// destination with the aws CLI, pushes with skopeo and deletes with
// `aws ecr batch-delete-image`, and the receiver gets both "ECR Image Action" events,
// signed.

const run = promisify(execFile);
const ACCOUNT = '000000000000';
const cliConfig = join(mkdtempSync(join(tmpdir(), 'berth-ecr-events-cli-')), 'config');
writeFileSync(cliConfig, '[default]\ncli_follow_urlparam = false\n');
const env = {
  PATH: process.env.PATH!,
  HOME: process.env.HOME!,
  AWS_ACCESS_KEY_ID: testAdmin.accessKeyId,
  AWS_SECRET_ACCESS_KEY: testAdmin.secretAccessKey,
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_CONFIG_FILE: cliConfig,
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_MAX_ATTEMPTS: '1',
};

describe('ECR Image Action events from skopeo pushes and aws ecr batch-delete-image', () => {
  let server: TestServer;
  let hook: Webhook;
  let images: TestImages;
  let dir: string;
  const aws = async (args: string[]) => {
    const out = (await run('aws', [...args, '--endpoint-url', server.url, '--output', 'json'], { env, timeout: 60_000 })).stdout;
    return out.trim() ? JSON.parse(out) : {};
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-ecr-events-'));
    images = await buildTestImages(join(dir, 'layout'), { bigLayerBytes: 64 * 1024 });
    server = await startBerth({ events: { pollSeconds: 0.05, retryBaseSeconds: 0.05 } });
    hook = await startWebhook();
  });
  after(async () => {
    await server?.stop();
    await hook?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the receiver gets PUSH and DELETE, in the envelope ECR sends, signed', async (t) => {
    if (!requireTool(t, 'aws') || !requireTool(t, 'skopeo')) return;
    // Until the change feed (issue 14's seam) is wired to the events module, ECR changes make no events.
    if (!('feed' in server.berth)) return void t.skip('the change feed is not wired to events yet (feed.subscribe in app.ts)');
    const conn = await aws(['events', 'create-connection', '--name', 'ci', '--authorization-type', 'API_KEY', '--auth-parameters', JSON.stringify({ ApiKeyAuthParameters: { ApiKeyName: 'X-Hook-Key', ApiKeyValue: 'hook-secret-1' } })]);
    const dest = await aws(['events', 'create-api-destination', '--name', 'ci', '--connection-arn', conn.ConnectionArn, '--invocation-endpoint', hook.url, '--http-method', 'POST']);
    await aws(['events', 'put-rule', '--name', 'image-actions', '--event-pattern', JSON.stringify({ source: ['aws.ecr'], 'detail-type': ['ECR Image Action'], detail: { 'repository-name': [{ prefix: 'team/' }] } })]);
    await aws(['events', 'put-targets', '--rule', 'image-actions', '--targets', JSON.stringify([{ Id: 'ci', Arn: dest.ApiDestinationArn }])]);

    await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:small`, `docker://${server.host}/team/app:1.0`], { timeoutMs: 60_000 });
    // Not matched by the rule: another repository prefix.
    await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:small`, `docker://${server.host}/other/app:1.0`], { timeoutMs: 60_000 });
    const deleted = await aws(['ecr', 'batch-delete-image', '--repository-name', 'team/app', '--image-ids', 'imageTag=1.0']);
    assert.deepEqual(deleted.failures, []);

    const received = await hook.waitFor(2, 30_000);
    const events = received.map((r) => JSON.parse(r.body));
    const digest = images.small.manifest.digest;
    assert.deepEqual(
      events.map((e) => [e['detail-type'], e.source, e.account, e.region, e.detail['action-type'], e.detail['repository-name'], e.detail['image-digest'], e.detail['image-tag'], e.detail.result]),
      [
        ['ECR Image Action', 'aws.ecr', ACCOUNT, 'us-east-1', 'PUSH', 'team/app', digest, '1.0', 'SUCCESS'],
        ['ECR Image Action', 'aws.ecr', ACCOUNT, 'us-east-1', 'DELETE', 'team/app', digest, '1.0', 'SUCCESS'],
      ],
    );
    assert.equal(events[0].detail['manifest-media-type'], OCI.manifest);
    assert.equal(events[0].detail['artifact-media-type'], OCI.config);
    for (const [i, e] of events.entries()) {
      assert.equal(e.version, '0');
      assert.deepEqual(e.resources, []);
      assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(received[i]!.headers['x-hook-key'], 'hook-secret-1');
      assert.ok(validSignature(received[i]!, 'hook-secret-1'), 'X-Berth-Signature verifies with the connection secret');
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(hook.received.length, 2, 'nothing for other/app');
  });
});
