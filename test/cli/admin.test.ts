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
