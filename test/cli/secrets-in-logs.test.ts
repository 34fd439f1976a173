import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';

const run = promisify(execFile);

// A real `berth serve` at log level trace handles every kind of secret (bootstrap key,
// new access keys, role session credentials, registry passwords, presigned URLs): none
// of them may appear in what it writes, apart from the one-time bootstrap notice.
test('secrets never reach the log, even at trace level', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
  const adminSecret = 'log-test-admin-secret-0123456789abcdefgh';
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'trace'], {
    env: { PATH: process.env.PATH!, BERTH_BOOTSTRAP_ACCOUNT_ID: '123456789012', BERTH_BOOTSTRAP_ACCESS_KEY_ID: 'AKIALOGTEST000000001', BERTH_BOOTSTRAP_SECRET_ACCESS_KEY: adminSecret, BERTH_AUTH_V2: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 20_000);
      const check = () => {
        const m = /only time the secret is shown\.\n/.exec(out) && /Berth listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout.on('data', check);
    });
    const bootstrapEnd = out.indexOf('only time the secret is shown.') + 40;
    const admin = { accessKeyId: 'AKIALOGTEST000000001', secretAccessKey: adminSecret };
    const common = { endpoint: url, region: 'us-east-1', credentials: admin, maxAttempts: 1 };
    const iam = new IAMClient(common);
    await iam.send(new CreateUserCommand({ UserName: 'u' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'u' }))).AccessKey!;
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: { AWS: '123456789012' }, Action: 'sts:AssumeRole' } });
    const roleArn = (await iam.send(new CreateRoleCommand({ RoleName: 'r', AssumeRolePolicyDocument: trust }))).Role!.Arn!;
    const session = (await new STSClient(common).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'logs' }))).Credentials!;
    const tokenData = (await new ECRClient(common).send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!;
    const password = Buffer.from(tokenData.authorizationToken!, 'base64').toString().slice(4);
    assert.equal((await fetch(`${url}/v2/`, { headers: { authorization: `Basic ${tokenData.authorizationToken}` } })).status, 200);
    assert.equal((await fetch(`${url}/v2/`, { headers: { authorization: `Bearer ${password}` } })).status, 200);
    await new STSClient({ ...common, credentials: { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! } }).send(new GetCallerIdentityCommand({}));
    // A presigned URL with a session token in its query.
    const script = `
import sys, botocore.session
c = botocore.session.get_session().create_client('sts', region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], aws_session_token=sys.argv[4])
print(c.generate_presigned_url('get_caller_identity', Params={}, ExpiresIn=60, HttpMethod='GET'))
`;
    const presigned = (await run('python3', ['-c', script, url, session.AccessKeyId!, session.SecretAccessKey!, session.SessionToken!])).stdout.trim();
    assert.equal((await fetch(presigned)).status, 200);
    await new Promise((r) => setTimeout(r, 300));

    const log = out.slice(bootstrapEnd);
    assert.match(log, /"url":"\/v2\/"/, 'trace logging is on (requests are logged)');
    const secrets = { adminSecret, userSecret: key.SecretAccessKey!, sessionSecret: session.SecretAccessKey!, sessionToken: session.SessionToken!, password, authorizationToken: tokenData.authorizationToken!, signature: new URL(presigned).searchParams.get('X-Amz-Signature')! };
    for (const [name, value] of Object.entries(secrets)) assert.ok(!log.includes(value), `${name} appears in the log`);
    assert.ok(!log.includes(encodeURIComponent(session.SessionToken!)), 'the URL-encoded session token appears in the log');
    // One access line per request, in the audit module's shape: who, what, how it went.
    const lines = log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.filter((l) => l.msg === 'request');
    const sessionCall = access.find((l) => l.op === 'sts:GetCallerIdentity' && String(l.actor).includes('assumed-role/r/logs'));
    assert.ok(sessionCall, JSON.stringify(access));
    assert.equal(sessionCall.status, 200);
    assert.equal(typeof sessionCall.ms, 'number');
    assert.match(String(sessionCall.requestId), /^[0-9a-f-]{36}$/);
    assert.ok(access.some((l) => l.op === 'iam:CreateAccessKey' && l.actor === 'arn:aws:iam::123456789012:user/admin'), JSON.stringify(access.slice(0, 3)));
    assert.ok(!lines.some((l) => JSON.stringify(l).includes('AWS_SECRET_ACCESS_KEY')), 'the bootstrap banner is in the JSON log');

    // Nor in the audit trail, which records every one of these calls.
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    const db = new SQLite(join(dataDir, 'berth.db'), { readonly: true });
    const records = (db.prepare('select record from audit_events').all() as { record: string }[]).map((r) => r.record).join('\n');
    db.close();
    assert.ok(records.includes('"eventName":"AssumeRole"') && records.includes('"eventName":"CreateAccessKey"'), 'the calls are recorded');
    for (const [name, value] of Object.entries(secrets)) assert.ok(!records.includes(value), `${name} appears in an audit record`);
  } finally {
    const exited = new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.on('exit', resolve)));
    child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
});
