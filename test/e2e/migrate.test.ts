import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GetDownloadUrlForLayerCommand, GetLifecyclePolicyCommand, GetRepositoryPolicyCommand, PutLifecyclePolicyCommand, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { credentials, startEcr } from '../ecr/helpers.js';
import { cliPath } from '../helpers/berth-process.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';
import { run } from '../helpers/process.js';
import { removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';

// `berth migrate` from the embedded default (SQLite + a folder) to PostgreSQL + S3, as the
// real CLI: every blob verified against its digest on the way, a corrupt one refused (exit
// 1) while the rest is copied, a second run resuming, then a server on the target serving
// what the source served (tags, bytes, ECR policies, download URLs), and taking new pushes.

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

test('berth migrate copies SQLite + folder to PostgreSQL + S3, verifying digests and resuming; a server on the target serves it all', async (t) => {
  if (!requireS3(t) || !(await requirePostgres(t))) return;
  const env = s3TestEnv()!;
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-migrate-'));
  const database = await createTestDatabase();
  const prefix = `migrate-${randomBytes(6).toString('hex')}`;
  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await database.drop();
    await removePrefix(testBucket, `${prefix}/`);
    await rm(dataDir, { recursive: true, force: true });
  });

  // The source: a registry on the embedded default with two images and an ECR policy.
  const source = await startEcr({ dataDir });
  const images: Array<{ repo: string; tag: string; manifest: Buffer; blobs: Buffer[] }> = [];
  for (const repo of ['team/api', 'team/web']) {
    const layer = randomBytes(300_000);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repo, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
    for (const blob of [layer, config]) {
      const res = await fetch(`${source.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: new Uint8Array(blob), headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(res.status, 201);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
      }),
    );
    const put = await fetch(`${source.url}/v2/${repo}/manifests/v1`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'Content-Type': MANIFEST } });
    assert.equal(put.status, 201);
    images.push({ repo, tag: 'v1', manifest, blobs: [layer, config] });
  }
  const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'pull', Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage'] }] });
  await source.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'team/api', policyText }));
  const { downloadUrl } = await source.client.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'team/api', layerDigest: sha256(images[0]!.blobs[0]!) }));
  const lifecycleText = JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 }, action: { type: 'expire' } }] });
  await source.client.send(new PutLifecyclePolicyCommand({ repositoryName: 'team/api', lifecyclePolicyText: lifecycleText }));
  // A CI user with an access key: after the move it must still sign in.
  const iam = new IAMClient({ endpoint: source.url, region: 'us-east-1', credentials: { ...credentials }, maxAttempts: 1 });
  await iam.send(new CreateUserCommand({ UserName: 'ci' }));
  const ciKey = (await iam.send(new CreateAccessKeyCommand({ UserName: 'ci' }))).AccessKey!;
  iam.destroy();
  await source.stop();
  const sourceServerKey = (await readFile(join(dataDir, 'server.key'), 'utf8')).trim();

  // A corrupt blob in the source folder: its bytes do not hash to its name.
  const corrupt = sha256('what the file should hold');
  const corruptDir = join(dataDir, 'storage', 'blobs', 'sha256', corrupt.slice(7, 9));
  await mkdir(corruptDir, { recursive: true });
  await writeFile(join(corruptDir, corrupt.slice(7)), 'something else');

  const storage = `s3://${testBucket}/${prefix}?endpoint=${encodeURIComponent(env.endpoint)}&region=${env.region}&createBucket=true&checksums=${env.checksums}`;
  const childEnv = { ...process.env, AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey };
  const migrate = () =>
    run(process.execPath, [cliPath, 'migrate', '--from-metadata', join(dataDir, 'berth.db'), '--from-storage', join(dataDir, 'storage'), '--to-metadata', database.url, '--to-storage', storage], {
      env: childEnv,
      timeoutMs: 60_000,
    });

  const first = await migrate();
  assert.equal(first.code, 1, `a corrupt blob fails the run:\n${first.stdout}\n${first.stderr}`);
  assert.match(first.stdout, new RegExp(`${corrupt} .*FAILED: the source's bytes hash to ${sha256('something else')}`));
  assert.match(first.stdout, /done: 4 blobs copied .* 0 already there, 1 failed/);
  assert.match(first.stdout, /metadata: repositories: 2 rows/);
  assert.match(first.stdout, /metadata: tags: 2 rows/);

  await rm(join(corruptDir, corrupt.slice(7)));
  const second = await migrate();
  assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
  assert.match(second.stdout, /done: 0 blobs copied .* 4 already there, 0 failed/, 'the second run resumes: nothing copied twice');
  assert.match(second.stdout, /metadata: iam_access_keys: 2 rows/, 'the bootstrap admin\'s key and the CI user\'s');
  assert.match(second.stdout, /metadata: ecr_lifecycle_policies: 1 rows/);
  assert.match(second.stdout, new RegExp(`sealed under the source's server key; .*${join(dataDir, 'server.key')}`));

  // A server on the target serves what the source did.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey });
  const target = await startEcr({
    metadata: { kind: 'postgres', url: database.url },
    storage: { kind: 's3', bucket: testBucket, prefix, endpoint: env.endpoint, region: env.region, checksums: env.checksums },
    serverKey: sourceServerKey,
  });
  cleanups.push(() => target.stop());
  for (const image of images) {
    const manifest = await fetch(`${target.url}/v2/${image.repo}/manifests/${image.tag}`, { headers: { Accept: MANIFEST } });
    assert.equal(manifest.status, 200);
    assert.equal(sha256(Buffer.from(await manifest.arrayBuffer())), sha256(image.manifest));
    for (const blob of image.blobs) {
      const pulled = await fetch(`${target.url}/v2/${image.repo}/blobs/${sha256(blob)}`);
      assert.equal(pulled.status, 200);
      assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), sha256(blob));
    }
  }
  // Users, their keys and lifecycle policies moved too.
  const sts = new STSClient({ endpoint: target.url, region: 'us-east-1', credentials: { accessKeyId: ciKey.AccessKeyId!, secretAccessKey: ciKey.SecretAccessKey! }, maxAttempts: 1 });
  const caller = await sts.send(new GetCallerIdentityCommand({}));
  sts.destroy();
  assert.match(caller.Arn!, /:user\/ci$/, 'the CI user signs in on the target with the key made on the source');
  const lifecycle = await target.client.send(new GetLifecyclePolicyCommand({ repositoryName: 'team/api' }));
  assert.deepEqual(JSON.parse(lifecycle.lifecyclePolicyText!), JSON.parse(lifecycleText));
  const corruptOnTarget = await fetch(`${target.url}/v2/team/api/blobs/${corrupt}`);
  assert.equal(corruptOnTarget.status, 404);
  const policy = await target.client.send(new GetRepositoryPolicyCommand({ repositoryName: 'team/api' }));
  assert.deepEqual(JSON.parse(policy.policyText!), JSON.parse(policyText));
  const url = new URL(downloadUrl!);
  const viaOldUrl = await fetch(`${target.url}${url.pathname}${url.search}`);
  assert.equal(viaOldUrl.status, 200, 'download URLs signed before the move still work: the signing secret moved too');

  // New repositories get fresh ids on the target (PostgreSQL's sequence moved past the copied ones).
  const fresh = randomBytes(1000);
  const pushed = await fetch(`${target.url}/v2/team/new/blobs/uploads/?digest=${sha256(fresh)}`, { method: 'POST', body: new Uint8Array(fresh), headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(pushed.status, 201);
  const catalog = (await (await fetch(`${target.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['team/api', 'team/new', 'team/web']);
});

test('berth migrate between two embedded registries refuses a target that holds other repositories under the same ids', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'berth-migrate-conflict-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dirs = { source: join(root, 'source'), target: join(root, 'target') };
  for (const [dir, repo] of [[dirs.source, 'source/app'], [dirs.target, 'other/thing']] as const) {
    const server = await startEcr({ dataDir: dir });
    const blob = randomBytes(100);
    const res = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: new Uint8Array(blob), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(res.status, 201);
    await server.stop();
  }
  const args = (to: string) => [cliPath, 'migrate', '--from-metadata', join(dirs.source, 'berth.db'), '--from-storage', join(dirs.source, 'storage'), '--to-metadata', join(to, 'berth.db'), '--to-storage', join(to, 'storage')];
  const refused = await run(process.execPath, args(dirs.target));
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /holds repository 000000000000\/other\/thing under id 1, where the source has 000000000000\/source\/app: migrate into an empty database/);

  // A target whose node has started once (and made its own admin user) but holds no
  // repository: refused too, naming the clash, before anything is copied.
  const started = join(root, 'started');
  const node = await startEcr({ dataDir: started });
  await node.stop();
  const refusedIam = await run(process.execPath, args(started));
  assert.equal(refusedIam.code, 1, refusedIam.stdout + refusedIam.stderr);
  assert.match(refusedIam.stderr, /already has an IAM user named \S+ in account 000000000000 .*migrate into an empty database, before starting the target's nodes/);

  // Into a fresh folder (SQLite + folder to SQLite + folder) it works, and again.
  const fresh = join(root, 'fresh');
  for (const expected of [/done: 1 blobs copied/, /done: 0 blobs copied .* 1 already there/]) {
    const ok = await run(process.execPath, args(fresh));
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, expected);
  }
  const server = await startEcr({ dataDir: fresh });
  t.after(() => server.stop());
  const catalog = (await (await fetch(`${server.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.deepEqual(catalog.repositories, ['source/app']);
});
