import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { CreateRepositoryCommand, ECRClient, GetAuthorizationTokenCommand, GetDownloadUrlForLayerCommand } from '@aws-sdk/client-ecr';
import { spawnBerth } from '../helpers/berth-process.js';
import { run } from '../helpers/process.js';
import { hasTool } from '../helpers/tools.js';
import { pushRaw, sha, skopeoLogin, tinyImage, writeLayout } from './helpers.js';

// `berth serve` at log level trace, with /v2 authentication on, through a whole login and
// push (aws-style GetAuthorizationToken, skopeo login and push, a Bearer token from
// /token, a layer download URL): the log records the requests, and no secret among them.
test('a login and push at trace level leave no secret in the log', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-trace-'));
  const work = await mkdtemp(join(tmpdir(), 'berth-trace-work-'));
  const admin = { accessKeyId: 'AKIATRACELOGTEST0001', secretAccessKey: 'trace-log-admin-secret-0123456789abcdef' };
  const server = await spawnBerth(['--data-dir', dataDir, '--log-level', 'trace'], {
    authV2: true,
    env: { PATH: process.env.PATH!, BERTH_BOOTSTRAP_ACCOUNT_ID: '123456789012', BERTH_BOOTSTRAP_ACCESS_KEY_ID: admin.accessKeyId, BERTH_BOOTSTRAP_SECRET_ACCESS_KEY: admin.secretAccessKey },
  });
  const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...admin }, maxAttempts: 1 });
  try {
    const host = new URL(server.url).host;
    const data = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!;
    const password = Buffer.from(data.authorizationToken!, 'base64').toString().slice('AWS:'.length);
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'logs/app' }));
    const image = tinyImage('trace');

    if (hasTool('skopeo')) {
      const env = { PATH: process.env.PATH!, HOME: work };
      const authfile = join(work, 'auth.json');
      await skopeoLogin(authfile, host, password, env);
      await writeLayout(join(work, 'layout'), image);
      const push = await run('skopeo', ['--insecure-policy', 'copy', '--authfile', authfile, '--dest-tls-verify=false', `oci:${join(work, 'layout')}:v1`, `docker://${host}/logs/app:v1`], { env, timeoutMs: 30_000 });
      assert.equal(push.code, 0, push.stderr);
    } else {
      assert.equal(await pushRaw(server.url, `Basic ${data.authorizationToken}`, 'logs/app', 'v1', image), 201);
    }
    // The distribution token flow, then a push with the Bearer token.
    const bearer = ((await (await fetch(`${server.url}/token?scope=repository:logs/app:push,pull`, { headers: { authorization: `Basic ${data.authorizationToken}` } })).json()) as { token: string }).token;
    assert.equal(await pushRaw(server.url, `Bearer ${bearer}`, 'logs/app', 'v2', tinyImage('trace-bearer')), 201);
    // A layer download URL carries its own short-lived credential in the path.
    const download = await ecr.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'logs/app', layerDigest: sha(image.layer) }));
    assert.equal((await fetch(download.downloadUrl!)).status, 200);
    const downloadToken = download.downloadUrl!.slice(download.downloadUrl!.lastIndexOf('/') + 1);
    await new Promise((r) => setTimeout(r, 300));

    const output = server.output();
    const log = output.slice(output.indexOf('This is the only time the secret is shown.') + 45);
    assert.match(log, /"url":"\/v2\/logs\/app\/manifests\/v1"/, 'trace logging records the push');
    assert.match(log, /"url":"\/token/, 'and the token request');
    const secrets = { adminSecret: admin.secretAccessKey, password, authorizationToken: data.authorizationToken!, bearer, downloadToken };
    for (const [name, value] of Object.entries(secrets)) assert.ok(!log.includes(value), `${name} appears in the log`);
    // Nor any part of the token long enough to matter (its MAC).
    assert.ok(!log.includes(password.split('.')[1]!), 'the token signature appears in the log');
    // Nor in the audit trail, which recorded the push and the download URL (written at shutdown at the latest).
    await server.stop();
    const db = new SQLite(join(dataDir, 'berth.db'), { readonly: true });
    const records = (db.prepare('select record from audit_events').all() as { record: string }[]).map((r) => r.record).join('\n');
    db.close();
    assert.ok(records.includes('"eventName":"GetDownloadUrlForLayer"') && records.includes('"eventName":"PutImage"'), 'the calls are recorded');
    for (const [name, value] of Object.entries(secrets)) assert.ok(!records.includes(value), `${name} appears in an audit record`);
    assert.ok(!records.includes(password.split('.')[1]!), 'the token signature appears in an audit record');
  } finally {
    ecr.destroy();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
});
