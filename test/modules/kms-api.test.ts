import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kmsClient, kmsOk, type KmsCall } from '../helpers/kms.js';
import { createTestUser, policy } from '../helpers/principals.js';
import { requirePostgres } from '../helpers/postgres.js';
import { runOk } from '../helpers/process.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

// Berth's KMS API (TrentService, JSON 1.1) with a SigV4 client, the aws CLI, and a second
// Berth whose key material is sealed by the first one's KMS (the external root of trust).

const DAY = 86_400_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('KMS API', { timeout: 120_000 }, () => {
  let server: TestServer;
  let call: KmsCall;
  let ok: (op: string, input?: Record<string, unknown>) => Promise<any>;
  let now = Date.now();

  before(async () => {
    server = await startBerth();
    server.berth.keys.clock = { now: () => now };
    call = kmsClient(server.url, testAdmin);
    ok = kmsOk(call);
  });
  after(async () => server?.stop());

  test('CreateKey, DescribeKey by id, ARN and alias, ListKeys with paging', async () => {
    const created = (await ok('CreateKey', { Description: 'first', Tags: [{ TagKey: 'team', TagValue: 'a' }] })).KeyMetadata;
    assert.match(created.KeyId, /^[0-9a-f-]{36}$/);
    assert.equal(created.Arn, `arn:aws:kms:us-east-1:000000000000:key/${created.KeyId}`);
    assert.equal(created.KeyState, 'Enabled');
    assert.equal(created.Enabled, true);
    assert.equal(created.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(created.KeyManager, 'CUSTOMER');
    assert.deepEqual(created.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.equal(typeof created.CreationDate, 'number');
    await ok('CreateAlias', { AliasName: 'alias/first', TargetKeyId: created.KeyId });
    for (const id of [created.KeyId, created.Arn, 'alias/first', 'arn:aws:kms:us-east-1:000000000000:alias/first']) {
      assert.equal((await ok('DescribeKey', { KeyId: id })).KeyMetadata.KeyId, created.KeyId, id);
    }
    const missing = await call('DescribeKey', { KeyId: '00000000-0000-0000-0000-000000000000' });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.__type, 'NotFoundException');
    assert.equal((await call('DescribeKey', { KeyId: 'alias/nope' })).body.__type, 'NotFoundException');
    assert.equal((await call('DescribeKey', {})).body.__type, 'ValidationException');
    await ok('CreateKey', { Description: 'second' });
    const page1 = await ok('ListKeys', { Limit: 1 });
    assert.equal(page1.Keys.length, 1);
    assert.equal(page1.Truncated, true);
    const page2 = await ok('ListKeys', { Limit: 1, Marker: page1.NextMarker });
    assert.notEqual(page2.Keys[0].KeyId, page1.Keys[0].KeyId);
    assert.equal((await call('ListKeys', { Marker: 'garbage!' })).body.__type, 'InvalidMarkerException');
    assert.deepEqual((await ok('ListResourceTags', { KeyId: created.KeyId })).Tags, [{ TagKey: 'team', TagValue: 'a' }]);
  });

  test('Encrypt/Decrypt with encryption context, ReEncrypt, data keys; a flipped bit is InvalidCiphertextException', async () => {
    const a = (await ok('CreateKey', {})).KeyMetadata;
    const b = (await ok('CreateKey', {})).KeyMetadata;
    const enc = await ok('Encrypt', { KeyId: a.KeyId, Plaintext: b64('hello kms'), EncryptionContext: { purpose: 'test' } });
    assert.equal(enc.KeyId, a.Arn);
    const dec = await ok('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'test' } });
    assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'hello kms');
    assert.equal(dec.KeyId, a.Arn);
    assert.equal((await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).body.__type, 'InvalidCiphertextException');
    assert.equal((await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'test' }, KeyId: b.KeyId })).body.__type, 'IncorrectKeyException');
    const raw = Buffer.from(enc.CiphertextBlob, 'base64');
    raw[raw.length - 1]! ^= 1;
    assert.equal((await call('Decrypt', { CiphertextBlob: raw.toString('base64'), EncryptionContext: { purpose: 'test' } })).body.__type, 'InvalidCiphertextException');
    const re = await ok('ReEncrypt', { CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: { purpose: 'test' }, DestinationKeyId: b.Arn });
    assert.equal(re.SourceKeyId, a.Arn);
    assert.equal(re.KeyId, b.Arn);
    assert.equal(Buffer.from((await ok('Decrypt', { CiphertextBlob: re.CiphertextBlob })).Plaintext, 'base64').toString(), 'hello kms');
    const dk = await ok('GenerateDataKey', { KeyId: a.KeyId, KeySpec: 'AES_256' });
    assert.equal(Buffer.from(dk.Plaintext, 'base64').length, 32);
    assert.equal((await ok('Decrypt', { CiphertextBlob: dk.CiphertextBlob })).Plaintext, dk.Plaintext);
    const dk16 = await ok('GenerateDataKeyWithoutPlaintext', { KeyId: a.KeyId, NumberOfBytes: 16 });
    assert.equal(dk16.Plaintext, undefined);
    assert.equal(Buffer.from((await ok('Decrypt', { CiphertextBlob: dk16.CiphertextBlob })).Plaintext, 'base64').length, 16);
    assert.equal((await call('GenerateDataKey', { KeyId: a.KeyId })).body.__type, 'ValidationException');
  });

  test('DisableKey refuses use with DisabledException; EnableKey restores it', async () => {
    const k = (await ok('CreateKey', {})).KeyMetadata;
    const enc = await ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') });
    await ok('DisableKey', { KeyId: k.KeyId });
    assert.equal((await ok('DescribeKey', { KeyId: k.KeyId })).KeyMetadata.KeyState, 'Disabled');
    assert.equal((await call('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).body.__type, 'DisabledException');
    assert.equal((await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).body.__type, 'DisabledException');
    await ok('EnableKey', { KeyId: k.KeyId });
    assert.equal(Buffer.from((await ok('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).Plaintext, 'base64').toString(), 'x');
  });

  test('ScheduleKeyDeletion (7-30 days), CancelKeyDeletion, and deletion completing with the clock shreds the key', async () => {
    const k = (await ok('CreateKey', {})).KeyMetadata;
    const enc = await ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('secret') });
    assert.equal((await call('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 6 })).body.__type, 'ValidationException');
    assert.equal((await call('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 31 })).body.__type, 'ValidationException');
    const scheduled = await ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 7 });
    assert.equal(scheduled.KeyState, 'PendingDeletion');
    assert.equal(scheduled.PendingWindowInDays, 7);
    assert.equal(Math.round(scheduled.DeletionDate * 1000), now + 7 * DAY);
    assert.equal((await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).body.__type, 'KMSInvalidStateException');
    assert.equal((await call('ScheduleKeyDeletion', { KeyId: k.KeyId })).body.__type, 'KMSInvalidStateException');
    await ok('CancelKeyDeletion', { KeyId: k.KeyId });
    assert.equal((await ok('DescribeKey', { KeyId: k.KeyId })).KeyMetadata.KeyState, 'Disabled');
    assert.equal((await call('CancelKeyDeletion', { KeyId: k.KeyId })).body.__type, 'KMSInvalidStateException');
    await ok('EnableKey', { KeyId: k.KeyId });
    await ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 7 });
    now += 7 * DAY + 1;
    assert.equal((await call('DescribeKey', { KeyId: k.KeyId })).body.__type, 'NotFoundException');
    assert.equal((await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).body.__type, 'InvalidCiphertextException');
    assert.equal(await server.berth.keys.store.getMaterial(k.KeyId, k.CurrentKeyMaterialId), null, 'key material still stored');
  });

  test('rotation: on demand and automatic; old ciphertexts stay readable, new ones use new material', async () => {
    const k = (await ok('CreateKey', {})).KeyMetadata;
    const before = await ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('old') });
    assert.equal((await ok('GetKeyRotationStatus', { KeyId: k.KeyId })).KeyRotationEnabled, false);
    await ok('RotateKeyOnDemand', { KeyId: k.KeyId });
    const rotated = (await ok('DescribeKey', { KeyId: k.KeyId })).KeyMetadata;
    assert.notEqual(rotated.CurrentKeyMaterialId, k.CurrentKeyMaterialId);
    const afterEnc = await ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('new') });
    assert.equal((await ok('Decrypt', { CiphertextBlob: afterEnc.CiphertextBlob })).KeyMaterialId, rotated.CurrentKeyMaterialId);
    assert.equal(Buffer.from((await ok('Decrypt', { CiphertextBlob: before.CiphertextBlob })).Plaintext, 'base64').toString(), 'old');
    assert.equal((await call('EnableKeyRotation', { KeyId: k.KeyId, RotationPeriodInDays: 30 })).body.__type, 'ValidationException');
    await ok('EnableKeyRotation', { KeyId: k.KeyId, RotationPeriodInDays: 90 });
    const status = await ok('GetKeyRotationStatus', { KeyId: k.KeyId });
    assert.equal(status.KeyRotationEnabled, true);
    assert.equal(status.RotationPeriodInDays, 90);
    now += 91 * DAY;
    const rotations = (await ok('ListKeyRotations', { KeyId: k.KeyId })).Rotations;
    assert.deepEqual(rotations.map((r: { RotationType: string }) => r.RotationType), ['ON_DEMAND', 'AUTOMATIC']);
    assert.equal(Buffer.from((await ok('Decrypt', { CiphertextBlob: before.CiphertextBlob })).Plaintext, 'base64').toString(), 'old');
    await ok('DisableKeyRotation', { KeyId: k.KeyId });
    assert.equal((await ok('GetKeyRotationStatus', { KeyId: k.KeyId })).KeyRotationEnabled, false);
  });

  test('aliases: create, list, update, delete, with KMS errors', async () => {
    const a = (await ok('CreateKey', {})).KeyMetadata;
    const b = (await ok('CreateKey', {})).KeyMetadata;
    await ok('CreateAlias', { AliasName: 'alias/app', TargetKeyId: a.KeyId });
    assert.equal((await call('CreateAlias', { AliasName: 'alias/app', TargetKeyId: b.KeyId })).body.__type, 'AlreadyExistsException');
    assert.equal((await call('CreateAlias', { AliasName: 'app', TargetKeyId: b.KeyId })).body.__type, 'InvalidAliasNameException');
    assert.equal((await call('CreateAlias', { AliasName: 'alias/aws/mine', TargetKeyId: b.KeyId })).body.__type, 'InvalidAliasNameException');
    await ok('UpdateAlias', { AliasName: 'alias/app', TargetKeyId: b.KeyId });
    const listed = (await ok('ListAliases', { KeyId: b.KeyId })).Aliases;
    assert.deepEqual(listed.map((x: { AliasName: string }) => x.AliasName), ['alias/app']);
    assert.equal(listed[0].AliasArn, 'arn:aws:kms:us-east-1:000000000000:alias/app');
    await ok('DeleteAlias', { AliasName: 'alias/app' });
    assert.equal((await call('DeleteAlias', { AliasName: 'alias/app' })).body.__type, 'NotFoundException');
  });

  test('alias/aws/ecr exists on first use as an AWS managed key', async () => {
    const managed = (await ok('DescribeKey', { KeyId: 'alias/aws/ecr' })).KeyMetadata;
    assert.equal(managed.KeyManager, 'AWS');
    assert.equal((await ok('DescribeKey', { KeyId: 'alias/aws/ecr' })).KeyMetadata.KeyId, managed.KeyId);
    assert.equal((await call('ScheduleKeyDeletion', { KeyId: managed.KeyId })).body.__type, 'UnsupportedOperationException');
    assert.ok((await ok('ListAliases')).Aliases.some((a: { AliasName: string }) => a.AliasName === 'alias/aws/ecr'));
  });

  test('key policies: the default policy enables IAM; a policy without the root statement ignores IAM', async () => {
    const k = (await ok('CreateKey', {})).KeyMetadata;
    const got = JSON.parse((await ok('GetKeyPolicy', { KeyId: k.KeyId, PolicyName: 'default' })).Policy);
    assert.equal(got.Statement[0].Principal.AWS, 'arn:aws:iam::000000000000:root');
    const user = await createTestUser(server.berth, '000000000000', 'kms-user', { inline: [policy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' })] });
    const nobody = await createTestUser(server.berth, '000000000000', 'kms-nobody');
    const asUser = kmsClient(server.url, user);
    const asNobody = kmsClient(server.url, nobody);
    assert.equal((await asUser('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).status, 200);
    assert.equal((await asNobody('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).body.__type, 'AccessDeniedException');
    // A key policy naming only the administrator: the IAM user's kms:* no longer helps.
    const adminOnly = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'aws:username': 'nobody-at-all' } } }, { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:user/kms-nobody' }, Action: 'kms:Encrypt', Resource: '*' }] });
    assert.equal((await call('PutKeyPolicy', { KeyId: k.KeyId, Policy: '{"not":"a policy"}' })).body.__type, 'MalformedPolicyDocumentException');
    await ok('PutKeyPolicy', { KeyId: k.KeyId, Policy: adminOnly });
    assert.equal((await asUser('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).body.__type, 'AccessDeniedException');
    // Named directly in the key policy: enough without any IAM policy.
    assert.equal((await asNobody('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).status, 200);
    // Nor does the administrator's: the key policy no longer admits the account (KMS's lockout).
    assert.equal((await call('DescribeKey', { KeyId: k.KeyId })).body.__type, 'AccessDeniedException');
  });

  test('tags: TagResource, UntagResource, ListResourceTags; aws: keys refused', async () => {
    const k = (await ok('CreateKey', {})).KeyMetadata;
    await ok('TagResource', { KeyId: k.KeyId, Tags: [{ TagKey: 'b', TagValue: '2' }, { TagKey: 'a', TagValue: '1' }] });
    await ok('TagResource', { KeyId: k.KeyId, Tags: [{ TagKey: 'a', TagValue: 'one' }] });
    assert.deepEqual((await ok('ListResourceTags', { KeyId: k.KeyId })).Tags, [{ TagKey: 'a', TagValue: 'one' }, { TagKey: 'b', TagValue: '2' }]);
    await ok('UntagResource', { KeyId: k.KeyId, TagKeys: ['b'] });
    assert.deepEqual((await ok('ListResourceTags', { KeyId: k.KeyId })).Tags, [{ TagKey: 'a', TagValue: 'one' }]);
    assert.equal((await call('TagResource', { KeyId: k.KeyId, Tags: [{ TagKey: 'aws:x', TagValue: '1' }] })).body.__type, 'TagException');
  });

  test('the aws CLI: create-key, encrypt, decrypt', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const env = { ...process.env, AWS_ACCESS_KEY_ID: testAdmin.accessKeyId, AWS_SECRET_ACCESS_KEY: testAdmin.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const aws = (...args: string[]) => runOk('aws', ['--endpoint-url', server.url, '--output', 'json', ...args], { env, timeoutMs: 30_000 });
    const key = JSON.parse(await aws('kms', 'create-key', '--description', 'from the cli')).KeyMetadata;
    // aws CLI v1 sends a command-line blob as given (base64-encoding it itself) and reads
    // binary ones with fileb://.
    const enc = JSON.parse(await aws('kms', 'encrypt', '--key-id', key.Arn, '--plaintext', 'cli secret'));
    const file = join(await mkdtemp(join(tmpdir(), 'berth-kms-cli-')), 'ciphertext');
    await writeFile(file, Buffer.from(enc.CiphertextBlob, 'base64'));
    const dec = JSON.parse(await aws('kms', 'decrypt', '--ciphertext-blob', `fileb://${file}`));
    assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'cli secret');
  });

  test('a second Berth keeps its root of trust in this one\'s KMS', async () => {
    const root = (await ok('CreateKey', { Description: 'root of trust for another Berth' })).KeyMetadata;
    const second = await startBerth({ kms: { root: { kind: 'kms', endpoint: server.url, keyId: root.Arn, accessKeyId: testAdmin.accessKeyId, secretAccessKey: testAdmin.secretAccessKey } } });
    try {
      const ok2 = kmsOk(kmsClient(second.url, testAdmin));
      const k = (await ok2('CreateKey', {})).KeyMetadata;
      const enc = await ok2('Encrypt', { KeyId: k.KeyId, Plaintext: b64('sealed elsewhere') });
      // Opened material is cached for a minute: drop it, so the next use asks the root again.
      (second.berth.keys as unknown as { materials: Map<string, unknown> }).materials.clear();
      assert.equal(Buffer.from((await ok2('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).Plaintext, 'base64').toString(), 'sealed elsewhere');
      // Disabling the root key in the first Berth cuts the second one off its material.
      await ok('DisableKey', { KeyId: root.KeyId });
      (second.berth.keys as unknown as { materials: Map<string, unknown> }).materials.clear();
      const refused = await kmsClient(second.url, testAdmin)('Decrypt', { CiphertextBlob: enc.CiphertextBlob });
      assert.equal(refused.status, 500);
      assert.equal(refused.body.__type, 'KMSInternalException');
      assert.match(refused.body.message, /DisabledException/);
      await ok('EnableKey', { KeyId: root.KeyId });
      assert.equal(Buffer.from((await ok2('Decrypt', { CiphertextBlob: enc.CiphertextBlob })).Plaintext, 'base64').toString(), 'sealed elsewhere');
    } finally {
      await second.stop();
    }
  });
});

describe('KMS on PostgreSQL', { timeout: 60_000 }, () => {
  test('keys, aliases, crypto, disable and deletion on PostgreSQL', async (t) => {
    if (!(await requirePostgres(t))) return;
    const server = await startBerth({ postgres: true });
    let now = Date.now();
    server.berth.keys.clock = { now: () => now };
    try {
      const call = kmsClient(server.url, testAdmin);
      const ok = kmsOk(call);
      const k = (await ok('CreateKey', { Tags: [{ TagKey: 'x', TagValue: 'y' }] })).KeyMetadata;
      await ok('CreateAlias', { AliasName: 'alias/pg', TargetKeyId: k.Arn });
      const enc = await ok('Encrypt', { KeyId: 'alias/pg', Plaintext: b64('pg'), EncryptionContext: { a: 'b' } });
      assert.equal(Buffer.from((await ok('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: 'b' } })).Plaintext, 'base64').toString(), 'pg');
      await ok('RotateKeyOnDemand', { KeyId: k.KeyId });
      await ok('DisableKey', { KeyId: k.KeyId });
      assert.equal((await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: 'b' } })).body.__type, 'DisabledException');
      await ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 30 });
      now += 30 * DAY + 1;
      assert.deepEqual(await server.berth.keys.sweep(), { deleted: 1, rotated: 0 });
      assert.equal((await call('DescribeKey', { KeyId: k.KeyId })).body.__type, 'NotFoundException');
      assert.equal((await call('DescribeKey', { KeyId: 'alias/pg' })).body.__type, 'NotFoundException');
    } finally {
      await server.stop();
    }
  });
});
