import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AttachUserPolicyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { signedHeaders } from '../../src/cli/operator.js';
import { cliEnv, cliPath, spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { ADMIN_POLICY, createTestUser } from '../helpers/principals.js';
import { run } from '../helpers/process.js';
import { startBerth, testAdmin } from '../helpers/server.js';

// `berth gc` and `berth lifecycle run` against a real `berth serve`: the operator endpoints
// want a SigV4 signature of a management-account principal whose policies allow
// berth:RunGarbageCollection or berth:RunLifecyclePolicies.

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

let dataDir: string;
let server: BerthProcess;
let admin: Keys;
let iam: IAMClient;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'berth-operator-'));
  // No BERTH_BOOTSTRAP_* seeds: the administrator's key is random, found in <data-dir>/credentials.
  server = await spawnBerth(['--data-dir', dataDir]);
  const file = await readFile(join(dataDir, 'credentials'), 'utf8');
  admin = { accessKeyId: /aws_access_key_id = (\S+)/.exec(file)![1]!, secretAccessKey: /aws_secret_access_key = (\S+)/.exec(file)![1]! };
  iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...admin }, maxAttempts: 1 });
});
after(async () => {
  iam?.destroy();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const berth = (args: string[], env: NodeJS.ProcessEnv) => run(process.execPath, [cliPath, ...args, '--url', server.url], { env });

/** A user of the management account with an access key, made with the IAM API. */
async function user(name: string, setup: (userName: string) => Promise<unknown>): Promise<Keys> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await setup(name);
  const made = await run(process.execPath, [cliPath, 'admin', 'create-access-key', name, '--data-dir', dataDir], { env: cliEnv() });
  assert.equal(made.code, 0, made.stderr);
  return { accessKeyId: /aws_access_key_id = (\S+)/.exec(made.stdout)![1]!, secretAccessKey: /aws_secret_access_key = (\S+)/.exec(made.stdout)![1]! };
}

const allow = (action: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });

test('the bootstrapped administrator runs both, from the credentials file or the environment', async () => {
  const fromFile = cliEnv(null, { AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials') });
  const gc = await berth(['gc', '--dry-run'], fromFile);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /^berth gc would free 0 B: 0 blobs/);
  const lifecycle = await berth(['lifecycle', 'run'], cliEnv(admin));
  assert.equal(lifecycle.code, 0, lifecycle.stderr);
  assert.match(lifecycle.stdout, /^berth lifecycle expired 0 image\(s\) in 0 repository\(ies\)/);
  // A named profile of the shared credentials file, by --profile and by AWS_PROFILE.
  const profiles = join(dataDir, 'profiles');
  await writeFile(profiles, `[default]\naws_access_key_id = AKIANOTAKEY000000000\naws_secret_access_key = not-the-secret-at-all\n[ops]\naws_access_key_id = ${admin.accessKeyId}\naws_secret_access_key = ${admin.secretAccessKey}\n`);
  const byFlag = await berth(['gc', '--dry-run', '--profile', 'ops'], cliEnv(null, { AWS_SHARED_CREDENTIALS_FILE: profiles }));
  assert.equal(byFlag.code, 0, byFlag.stderr);
  const byEnv = await berth(['gc', '--dry-run'], cliEnv(null, { AWS_SHARED_CREDENTIALS_FILE: profiles, AWS_PROFILE: 'ops' }));
  assert.equal(byEnv.code, 0, byEnv.stderr);
  const missingProfile = await berth(['gc', '--dry-run', '--profile', 'nobody'], cliEnv(null, { AWS_SHARED_CREDENTIALS_FILE: profiles }));
  assert.equal(missingProfile.code, 1);
  assert.match(missingProfile.stderr, /^berth: no usable credentials in profile nobody/);
});

test('without credentials the CLI says how to give them, and the endpoint refuses unsigned requests', async () => {
  const result = await berth(['gc'], cliEnv(null));
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^berth: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');

  for (const path of ['/_berth/gc', '/_berth/lifecycle']) {
    const res = await fetch(`${server.url}${path}`, { method: 'POST' });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { error: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token' });
  }
});

test('wrong secrets, unknown keys and signatures for another service are refused with 403', async () => {
  const wrong = await berth(['gc'], cliEnv({ accessKeyId: admin.accessKeyId, secretAccessKey: 'x'.repeat(40) }));
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^berth: the server refused \/_berth\/gc \(403 SignatureDoesNotMatch\): The request signature we calculated does not match/);
  const unknown = await berth(['lifecycle', 'run'], cliEnv({ accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x'.repeat(40) }));
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /\(403 InvalidClientTokenId\): The security token included in the request is invalid/);

  const target = new URL('/_berth/gc?dryRun=1', server.url);
  const forEcr = await fetch(target, { method: 'POST', headers: await signedHeaders(target, admin, 'ecr') });
  assert.equal(forEcr.status, 403);
  assert.deepEqual(await forEcr.json(), { error: 'SignatureDoesNotMatch', message: "Credential should be scoped to correct service: 'berth'." });
  // The signature covers the query: dropping dryRun from a signed dry run is refused.
  const headers = await signedHeaders(target, admin);
  const tampered = await fetch(new URL('/_berth/gc', server.url), { method: 'POST', headers });
  assert.equal(tampered.status, 403);
  assert.equal(((await tampered.json()) as { error: string }).error, 'SignatureDoesNotMatch');
  const signed = await fetch(target, { method: 'POST', headers });
  assert.equal(signed.status, 200);
  assert.match(await signed.text(), /"type":"result".*"dryRun":true/);
});

test('a user whose policies lack the action is refused; each action is granted on its own', async () => {
  const pusher = await user('pusher', (u) => iam.send(new AttachUserPolicyCommand({ UserName: u, PolicyArn: 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser' })));
  const refused = await berth(['gc', '--dry-run'], cliEnv(pusher));
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^berth: the server refused \/_berth\/gc \(403 AccessDenied\): User: arn:aws:iam::\d{12}:user\/pusher is not authorized to perform: berth:RunGarbageCollection on resource: \* because no identity-based policy allows the berth:RunGarbageCollection action/,
  );

  const collector = await user('collector', (u) => iam.send(new PutUserPolicyCommand({ UserName: u, PolicyName: 'gc', PolicyDocument: allow('berth:RunGarbageCollection') })));
  assert.equal((await berth(['gc'], cliEnv(collector))).code, 0);
  const noLifecycle = await berth(['lifecycle', 'run'], cliEnv(collector));
  assert.equal(noLifecycle.code, 1);
  assert.match(noLifecycle.stderr, /not authorized to perform: berth:RunLifecyclePolicies/);

  // An administrator with an explicit Deny of berth:* is refused too.
  const denied = await user('denied-admin', async (u) => {
    await iam.send(new AttachUserPolicyCommand({ UserName: u, PolicyArn: ADMIN_POLICY }));
    await iam.send(new PutUserPolicyCommand({ UserName: u, PolicyName: 'no-ops', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'berth:*', Resource: '*' }] }) }));
  });
  const deny = await berth(['gc'], cliEnv(denied));
  assert.equal(deny.code, 1);
  assert.match(deny.stderr, /not authorized to perform: berth:RunGarbageCollection on resource: \* with an explicit deny/);
});

test('role sessions sign with AWS_SESSION_TOKEN and get what the role allows', async () => {
  const account = /arn:aws:iam::(\d{12}):/.exec((await iam.send(new CreateUserCommand({ UserName: 'probe' }))).User!.Arn!)![1]!;
  await iam.send(
    new CreateRoleCommand({
      RoleName: 'lifecycle-operator',
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  await iam.send(new PutRolePolicyCommand({ RoleName: 'lifecycle-operator', PolicyName: 'lifecycle', PolicyDocument: allow('berth:RunLifecyclePolicies') }));
  const sts = new STSClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...admin }, maxAttempts: 1 });
  const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/lifecycle-operator`, RoleSessionName: 'nightly' }));
  sts.destroy();
  const session = { accessKeyId: assumed.Credentials!.AccessKeyId!, secretAccessKey: assumed.Credentials!.SecretAccessKey!, sessionToken: assumed.Credentials!.SessionToken! };
  const ok = await berth(['lifecycle', 'run', '--dry-run'], cliEnv(session));
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /would expire 0 image/);
  const gc = await berth(['gc'], cliEnv(session));
  assert.equal(gc.code, 1);
  assert.match(gc.stderr, /assumed-role\/lifecycle-operator\/nightly is not authorized to perform: berth:RunGarbageCollection/);
  const noToken = await berth(['lifecycle', 'run'], cliEnv({ accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey }));
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /403 InvalidClientTokenId/);
});

test('administrators of other accounts are not operators of the server', async () => {
  const local = await startBerth({ gc: { enabled: false }, jobs: { enabled: false } });
  try {
    const other = await createTestUser(local.berth, '111111111111', 'their-admin', { attach: [ADMIN_POLICY] });
    const result = await run(process.execPath, [cliPath, 'gc', '--dry-run', '--url', local.url], { env: cliEnv(other) });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /user\/their-admin is not authorized to perform: berth:RunGarbageCollection because operator actions are open to principals of the management account only/);
    assert.equal((await run(process.execPath, [cliPath, 'gc', '--dry-run', '--url', local.url], { env: cliEnv(testAdmin) })).code, 0);
  } finally {
    await local.stop();
  }
});

test('operator.loopbackOnly also refuses callers that are not on this machine', async () => {
  const target = new URL('http://127.0.0.1/_berth/gc?dryRun=1');
  const headers = await signedHeaders(target, testAdmin);
  const open = await startBerth({ gc: { enabled: false }, jobs: { enabled: false } });
  const closed = await startBerth({ gc: { enabled: false }, jobs: { enabled: false }, operator: { loopbackOnly: true } });
  try {
    // By default a signed, allowed request may come from anywhere: IAM is the guard.
    const remote = await open.berth.http.inject({ method: 'POST', url: '/_berth/gc?dryRun=1', headers, remoteAddress: '10.1.2.3' });
    assert.equal(remote.statusCode, 200, remote.body);
    const refused = await closed.berth.http.inject({ method: 'POST', url: '/_berth/gc?dryRun=1', headers, remoteAddress: '10.1.2.3' });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json<{ error: string }>().error, 'Forbidden');
    const local = await closed.berth.http.inject({ method: 'POST', url: '/_berth/gc?dryRun=1', headers, remoteAddress: '127.0.0.1' });
    assert.equal(local.statusCode, 200);
    assert.equal(local.headers['content-type'], 'application/x-ndjson');
    const lines = local.body.trim().split('\n').map((l) => JSON.parse(l) as { type: string; dryRun?: boolean });
    assert.equal(lines.at(-1)?.type, 'result');
    assert.equal(lines.at(-1)?.dryRun, true);
    // Loopback alone is not enough any more.
    const unsigned = await closed.berth.http.inject({ method: 'POST', url: '/_berth/gc?dryRun=1', remoteAddress: '127.0.0.1' });
    assert.equal(unsigned.statusCode, 403);
  } finally {
    await open.stop();
    await closed.stop();
  }
});
