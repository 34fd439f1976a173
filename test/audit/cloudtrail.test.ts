import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { AttachUserPolicyCommand, CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { sql } from 'kysely';
import { awsBinary, awsCliEnv, region, sha256 } from '../ecr/helpers.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);

// The audit trail as a user who knows AWS reads it: `aws cloudtrail lookup-events` shows who
// pushed (skopeo, logged in as one IAM user) and who deleted (`aws ecr batch-delete-image` as
// another), a refused call with errorCode AccessDenied, no secret in any record, and
// `berth audit verify` names an edited and a deleted record.

let server: TestServer;
let work: string;
before(async () => {
  server = await startBerth({ auth: { v2: true } });
  work = await mkdtemp(join(tmpdir(), 'berth-audit-'));
});
after(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

interface Key {
  accessKeyId: string;
  secretAccessKey: string;
}

function aws(key: Key, ...args: string[]): Promise<any> {
  const env = { ...awsCliEnv, AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey };
  return run(awsBinary, [...args, '--endpoint-url', server.url, '--output', 'json'], { env, timeout: 60_000 }).then(({ stdout }) => (stdout.trim() ? JSON.parse(stdout) : {}));
}

async function lookup(key: Key, attribute: string, value: string): Promise<any[]> {
  await server.berth.audit.writer!.flush();
  const out = await aws(key, 'cloudtrail', 'lookup-events', '--lookup-attributes', `AttributeKey=${attribute},AttributeValue=${value}`);
  return out.Events;
}

async function ociLayout(dir: string, tag: string) {
  const layer = gzipSync(Buffer.alloc(1024));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(Buffer.alloc(1024))] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const blob of [layer, config, manifest]) await writeFile(join(dir, 'blobs', 'sha256', sha256(blob).slice(7)), blob);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return sha256(manifest);
}

test('lookup-events shows who pushed, who deleted and who was refused; no secret is recorded; verify names tampering', { timeout: 240_000 }, async (t: TestContext) => {
  if (!requireTool(t, 'aws', 'aws cloudtrail lookup-events') || !requireTool(t, 'skopeo', 'pushing as an IAM user')) return;
  const admin: Key = { ...testAdmin };
  const iam = new IAMClient({ endpoint: server.url, region, credentials: { ...admin }, maxAttempts: 1 });
  const newUser = async (name: string): Promise<Key> => {
    await iam.send(new CreateUserCommand({ UserName: name }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  };
  const pusher = await newUser('pusher');
  const deleter = await newUser('deleter');
  await iam.send(new AttachUserPolicyCommand({ UserName: 'pusher', PolicyArn: 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser' }));
  const deleterPolicy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:BatchDeleteImage', 'ecr:DescribeImages'], Resource: '*' }] };
  await iam.send(new PutUserPolicyCommand({ UserName: 'deleter', PolicyName: 'delete', PolicyDocument: JSON.stringify(deleterPolicy) }));

  await aws(admin, 'ecr', 'create-repository', '--repository-name', 'audit/app');
  // skopeo pushes with a registry login of the pusher (GetAuthorizationToken as that user).
  const ecr = new ECRClient({ endpoint: server.url, region, credentials: { ...pusher }, maxAttempts: 1 });
  const token = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!.authorizationToken!;
  ecr.destroy();
  const password = Buffer.from(token, 'base64').toString('utf8').slice('AWS:'.length);
  const layout = join(work, 'layout');
  const digest = await ociLayout(layout, 'v1');
  await run('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', `AWS:${password}`, `oci:${layout}:v1`, `docker://${server.host}/audit/app:v1`], { timeout: 60_000 });
  // A pull by the pusher (data events are on by default).
  const pulled = await fetch(`${server.url}/v2/audit/app/manifests/v1`, { headers: { authorization: `Basic ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(pulled.status, 200);

  // The deleter deletes the image, and is refused a repository deletion.
  const deleted = await aws(deleter, 'ecr', 'batch-delete-image', '--repository-name', 'audit/app', '--image-ids', `imageDigest=${digest}`);
  assert.equal(deleted.imageIds.length, 1);
  await assert.rejects(aws(deleter, 'ecr', 'delete-repository', '--repository-name', 'audit/app', '--force'), /AccessDeniedException/);

  // Who pushed: PutImage by the pusher, over /v2, named as ECR names it.
  const puts = await lookup(admin, 'EventName', 'PutImage');
  assert.equal(puts.length, 1, JSON.stringify(puts));
  assert.equal(puts[0].Username, 'pusher');
  assert.equal(puts[0].EventSource, 'ecr.amazonaws.com');
  assert.equal(puts[0].ReadOnly, 'false');
  assert.deepEqual(puts[0].Resources, [{ ResourceType: 'AWS::ECR::Repository', ResourceName: 'arn:aws:ecr:us-east-1:000000000000:repository/audit/app' }]);
  const put = JSON.parse(puts[0].CloudTrailEvent);
  assert.equal(put.userIdentity.type, 'IAMUser');
  assert.equal(put.userIdentity.arn, 'arn:aws:iam::000000000000:user/pusher');
  assert.equal(put.userIdentity.userName, 'pusher');
  assert.equal(put.userIdentity.accountId, '000000000000');
  assert.match(put.userIdentity.principalId, /^AIDA/);
  assert.equal(put.eventName, 'PutImage');
  assert.equal(put.eventType, 'AwsApiCall');
  assert.equal(put.recipientAccountId, '000000000000');
  assert.equal(put.awsRegion, 'us-east-1');
  assert.equal(put.requestParameters.repositoryName, 'audit/app');
  assert.deepEqual(put.requestParameters.imageIds, [{ imageTag: 'v1' }]);
  assert.match(put.userAgent, /skopeo|containers/i);
  assert.equal(put.sourceIPAddress, '127.0.0.1');
  assert.ok(put.eventVersion >= '1.08');
  assert.match(put.eventID, /^[0-9a-f-]{36}$/);
  assert.ok(put.requestID);
  // The layer uploads of the push are there too, under their ECR names.
  for (const name of ['InitiateLayerUpload', 'CompleteLayerUpload']) {
    const events = await lookup(admin, 'EventName', name);
    assert.ok(events.length >= 1 && events.every((e) => e.Username === 'pusher'), `${name}: ${JSON.stringify(events)}`);
  }
  // The pull is a data event.
  const pulls = (await lookup(admin, 'EventName', 'BatchGetImage')).map((e) => JSON.parse(e.CloudTrailEvent));
  const pull = pulls.find((e) => e.userIdentity.userName === 'pusher' && e.requestParameters.imageIds?.[0]?.imageTag === 'v1' && !e.errorCode);
  assert.ok(pull, JSON.stringify(pulls));
  assert.equal(pull.eventCategory, 'Data');
  assert.equal(pull.managementEvent, false);
  assert.equal(pull.readOnly, true);

  // Who deleted: BatchDeleteImage by the deleter, over the ECR API.
  const deletes = await lookup(admin, 'EventName', 'BatchDeleteImage');
  assert.equal(deletes.length, 1);
  const del = JSON.parse(deletes[0].CloudTrailEvent);
  assert.equal(del.userIdentity.arn, 'arn:aws:iam::000000000000:user/deleter');
  assert.equal(del.userIdentity.accessKeyId, deleter.accessKeyId);
  assert.deepEqual(del.requestParameters.imageIds, [{ imageDigest: digest }]);
  assert.equal(del.responseElements.imageIds[0].imageDigest, digest);
  assert.match(del.userAgent, /aws-cli/);

  // The refusal, by the deleter's access key.
  const byKey = (await lookup(admin, 'AccessKeyId', deleter.accessKeyId)).map((e) => JSON.parse(e.CloudTrailEvent));
  const refused = byKey.find((e) => e.eventName === 'DeleteRepository');
  assert.ok(refused, JSON.stringify(byKey));
  assert.equal(refused.errorCode, 'AccessDenied');
  assert.match(refused.errorMessage, /not authorized to perform: ecr:DeleteRepository/);
  assert.equal(refused.responseElements, null);

  // The other lookup attributes.
  assert.ok((await lookup(admin, 'Username', 'deleter')).every((e) => e.Username === 'deleter'));
  assert.ok((await lookup(admin, 'ResourceName', 'audit/app')).length >= 4);
  assert.ok((await lookup(admin, 'ReadOnly', 'false')).every((e) => e.ReadOnly === 'false'));
  assert.ok((await lookup(admin, 'EventSource', 'iam.amazonaws.com')).some((e) => e.EventName === 'CreateUser'));
  const byId = await lookup(admin, 'EventId', put.eventID);
  assert.equal(byId.length, 1);

  // Lookups need cloudtrail:LookupEvents: the deleter has no such grant (and that is recorded too).
  await assert.rejects(aws(deleter, 'cloudtrail', 'lookup-events'), /AccessDeniedException/);

  // No secret, token, password or signature in any record.
  await server.berth.audit.writer!.flush();
  const db = server.berth.audit.store.db;
  const all = (await db.selectFrom('audit_events').select('record').execute()).map((r) => r.record).join('\n');
  const secrets = { admin: admin.secretAccessKey, pusher: pusher.secretAccessKey, deleter: deleter.secretAccessKey, password, token };
  for (const [name, value] of Object.entries(secrets)) assert.ok(!all.includes(value), `the ${name} secret is in a record`);
  assert.ok(!/X-Amz-Signature|Signature=/.test(all), 'a signature is in a record');
  assert.ok(all.includes('CreateAccessKey') && all.includes('HIDDEN_DUE_TO_SECURITY_REASONS'), 'CreateAccessKey is recorded with its secret hidden');

  // The chains verify, then name an edited record and a deleted one.
  const berthCli = (...args: string[]) => run(process.execPath, ['dist/src/cli/main.js', 'audit', ...args, '--data-dir', server.dataDir], { timeout: 60_000 });
  const ok = await berthCli('verify');
  assert.match(ok.stdout, /ok, \d+ records in 1 account/);
  const rows = await db.selectFrom('audit_events').select(['seq', 'event_id']).orderBy('seq').execute();
  assert.ok(rows.length > 10);
  const edited = rows[3]!;
  const removed = rows[7]!;
  await sql`update audit_events set record = replace(record, '"awsRegion":"us-east-1"', '"awsRegion":"eu-west-1"') where seq = ${edited.seq}`.execute(db);
  await sql`delete from audit_events where seq = ${removed.seq}`.execute(db);
  const bad = await berthCli('verify').then(
    () => assert.fail('verify passed a tampered trail'),
    (err: Error & { code?: number; stdout?: string }) => err,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stdout!, new RegExp(`edited\\t.*eventID ${edited.event_id}`));
  assert.match(bad.stdout!, new RegExp(`deleted\\t.*eventID ${removed.event_id}`));

  // Export: JSON lines, one record each, the same records.
  const exported = (await berthCli('export')).stdout.trim().split('\n');
  assert.equal(exported.length, rows.length - 1);
  for (const line of exported) assert.equal(typeof JSON.parse(line).eventID, 'string');
});
