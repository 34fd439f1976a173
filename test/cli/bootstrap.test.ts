import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// `berth serve` on an empty data folder prints the administrator's credentials once,
// seeded from BERTH_BOOTSTRAP_*; a second start on the same folder prints nothing new.

async function serveUntilListening(dataDir: string, env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'], {
    env: { PATH: process.env.PATH!, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      // The bootstrap block, when there is one, ends with this line.
      if (/listening on/.test(stdout) && (/only time the secret is shown/.test(stdout) || !env.EXPECT_BOOTSTRAP)) {
        clearTimeout(timer);
        setTimeout(resolve, 300);
      }
    });
    child.on('exit', (code) => reject(new Error(`berth exited ${code}: ${stderr}`)));
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return { stdout, stderr };
}

test('berth serve bootstraps the administrator once, from BERTH_BOOTSTRAP_* env vars', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-cli-'));
  try {
    const secret = 'cli-bootstrap-secret-0123456789abcdef01';
    const env = { BERTH_BOOTSTRAP_ACCOUNT_ID: '555555555555', BERTH_BOOTSTRAP_ACCESS_KEY_ID: 'AKIACLIBOOTSTRAP0001', BERTH_BOOTSTRAP_SECRET_ACCESS_KEY: secret, EXPECT_BOOTSTRAP: '1' };
    const first = await serveUntilListening(dataDir, env);
    assert.match(first.stdout, /Created account 555555555555 and its administrator "admin"/);
    assert.match(first.stdout, /AWS_ACCESS_KEY_ID=AKIACLIBOOTSTRAP0001/);
    assert.ok(first.stdout.includes(`AWS_SECRET_ACCESS_KEY=${secret}`));
    assert.ok(!first.stderr.includes(secret), 'the secret reached the log');
    const credentials = await readFile(join(dataDir, 'credentials'), 'utf8');
    assert.ok(credentials.includes(secret));
    assert.match(await readFile(join(dataDir, 'config'), 'utf8'), /endpoint_url = http:\/\/127\.0\.0\.1:\d+/);

    const second = await serveUntilListening(dataDir, { BERTH_BOOTSTRAP_SECRET_ACCESS_KEY: 'another-secret-another-secret' });
    assert.doesNotMatch(second.stdout, /Created account|AWS_SECRET_ACCESS_KEY/);
    assert.equal(await readFile(join(dataDir, 'credentials'), 'utf8'), credentials, 'the files of the first start are kept');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('without seeds the administrator gets a fresh random key', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-cli-'));
  try {
    const { stdout } = await serveUntilListening(dataDir, { EXPECT_BOOTSTRAP: '1' });
    const key = /AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})/.exec(stdout)?.[1];
    const secret = /AWS_SECRET_ACCESS_KEY=(\S{40})/.exec(stdout)?.[1];
    assert.ok(key && secret, stdout);
    assert.match(await readFile(join(dataDir, 'credentials'), 'utf8'), new RegExp(`aws_access_key_id = ${key}`));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
