import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';

const run = promisify(execFile);

async function berth(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/src/cli/main.js', ...args], { env: { PATH: process.env.PATH!, ...env } });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

test('berth admin: users, keys and accounts without the aws CLI', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-admin-'));
  try {
    const env = { BERTH_BOOTSTRAP_ACCOUNT_ID: '111122223333' };
    const created = await berth(['admin', 'create-user', 'ci', '--policy-arn', 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser', '--access-key', '--data-dir', dataDir], env);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Created account 111122223333 with administrator admin/m, 'the first use bootstraps like serve does');
    assert.match(created.stdout, /^arn:aws:iam::111122223333:user\/ci$/m);
    const keyId = /aws_access_key_id = (AKIA\w+)/.exec(created.stdout)?.[1];
    const secret = /aws_secret_access_key = (\S+)/.exec(created.stdout)?.[1];
    assert.ok(keyId && secret);

    const again = await berth(['admin', 'create-user', 'CI', '--data-dir', dataDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /EntityAlreadyExists/);
    assert.doesNotMatch(again.stdout, /Created account/, 'bootstrap happens once');

    const users = await berth(['admin', 'list-users', '--data-dir', dataDir]);
    assert.deepEqual(users.stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['admin', 'ci']);
    const account = await berth(['admin', 'create-account', '--name', 'team-b', '--data-dir', dataDir]);
    assert.equal(account.code, 0, account.stderr);
    const [newId, roleArn] = account.stdout.trim().split('\t');
    assert.match(newId!, /^\d{12}$/);
    assert.equal(roleArn, `arn:aws:iam::${newId}:role/OrganizationAccountAccessRole`);
    const key2 = await berth(['admin', 'create-user', 'ops', '--access-key', '--account', newId!, '--data-dir', dataDir]);
    assert.match(key2.stdout, new RegExp(`^arn:aws:iam::${newId}:user/ops$`, 'm'));
    assert.equal((await berth(['admin', 'create-user', 'x', '--account', '999999999999', '--data-dir', dataDir])).code, 1);

    // The key printed by the CLI signs in to a server on the same data folder.
    const app = await createApp(parseConfig({ dataDir, host: '127.0.0.1', port: 0, registryId: '111122223333', log: { level: 'warn' } }));
    try {
      await app.http.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.http.server.address() as { port: number }).port;
      const sts = new STSClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: keyId, secretAccessKey: secret }, maxAttempts: 1 });
      assert.equal((await sts.send(new GetCallerIdentityCommand({}))).Arn, 'arn:aws:iam::111122223333:user/ci');
    } finally {
      await app.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('berth admin: deactivate, activate, rotate and delete access keys, and delete users', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-admin-keys-'));
  const env = { BERTH_BOOTSTRAP_ACCOUNT_ID: '111122223333' };
  const admin = (args: string[]) => berth(['admin', ...args, '--data-dir', dataDir], env);
  const app = await createApp(parseConfig({ dataDir, host: '127.0.0.1', port: 0, registryId: '111122223333', log: { level: 'warn' } }));
  try {
    await app.http.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.http.server.address() as { port: number }).port;
    // The server keeps running on the same data folder while the CLI changes it.
    const whoami = (key: { id: string; secret: string }) =>
      new STSClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: key.id, secretAccessKey: key.secret }, maxAttempts: 1 }).send(new GetCallerIdentityCommand({}));
    const keyOf = (stdout: string) => ({ id: /aws_access_key_id = (AKIA\w+)/.exec(stdout)![1]!, secret: /aws_secret_access_key = (\S+)/.exec(stdout)![1]! });

    const created = await admin(['create-user', 'ci', '--policy-arn', 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser', '--access-key']);
    assert.equal(created.code, 0, created.stderr);
    const first = keyOf(created.stdout);
    assert.equal((await whoami(first)).Arn, 'arn:aws:iam::111122223333:user/ci');

    const deactivated = await admin(['deactivate-access-key', 'ci', first.id]);
    assert.equal(deactivated.code, 0, deactivated.stderr);
    await assert.rejects(whoami(first), (err: Error) => err.name === 'InvalidClientTokenId', 'an inactive key is refused at once');
    assert.match((await admin(['list-access-keys', 'ci'])).stdout, new RegExp(`^${first.id}\\tInactive\\t\\d{4}-`, 'm'));
    assert.equal((await admin(['activate-access-key', 'ci', first.id])).code, 0);
    assert.equal((await whoami(first)).Arn, 'arn:aws:iam::111122223333:user/ci');

    // Rotation: a new key printed once, the old one deactivated.
    const rotated = await admin(['rotate-access-key', 'ci', first.id]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const second = keyOf(rotated.stdout);
    assert.notEqual(second.id, first.id);
    assert.match(rotated.stderr, new RegExp(`${first.id} deactivated`));
    assert.equal((await whoami(second)).Arn, 'arn:aws:iam::111122223333:user/ci');
    await assert.rejects(whoami(first));
    // Two keys per user, as in IAM: rotating again needs the old one gone; --delete-old does that.
    const third = await admin(['rotate-access-key', 'ci', second.id]);
    assert.equal(third.code, 1);
    assert.match(third.stderr, /^berth: LimitExceeded: Cannot exceed quota for AccessKeysPerUser: 2\n$/);
    assert.equal((await admin(['delete-access-key', 'ci', first.id])).code, 0);
    const fourth = await admin(['rotate-access-key', 'ci', second.id, '--delete-old']);
    assert.equal(fourth.code, 0, fourth.stderr);
    assert.deepEqual((await admin(['list-access-keys', 'ci'])).stdout.trim().split('\n').map((l) => l.split('\t')[0]), [keyOf(fourth.stdout).id]);
    const unknown = await admin(['rotate-access-key', 'ci', 'AKIANOSUCHKEY0000000']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^berth: NoSuchEntity: /);

    // delete-user removes its keys and policies first, as IAM requires.
    const deleted = await admin(['delete-user', 'ci']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual((await admin(['list-users'])).stdout.trim().split('\n').map((l) => l.split('\t')[0]), ['admin']);
    await assert.rejects(whoami(keyOf(fourth.stdout)));
    const again = await admin(['delete-user', 'ci']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^berth: NoSuchEntity: The user with name ci cannot be found\.\n$/);
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
