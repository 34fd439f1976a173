import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliEnv, cliPath, spawnBerth } from '../helpers/berth-process.js';
import { run } from '../helpers/process.js';

// A `berth serve` that cannot start says why in one line naming the setting, and exits
// non-zero; no stack trace. The real CLI, as a subprocess.

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-start-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_')));
}

async function serve(name: string, args: string[]) {
  const result = await run(process.execPath, [cliPath, 'serve', '--data-dir', join(dir, name), '--log-level', 'warn', ...args], { env: env(), timeoutMs: 30_000 });
  return result;
}

function assertOneLine(result: { code: number | null; stderr: string; stdout: string }, pattern: RegExp, code = 1): void {
  assert.equal(result.code, code, `exit code; stderr:\n${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

test('--metadata with a scheme Berth does not speak (mysql://) names the setting', async () => {
  const result = await serve('mysql', ['--host', '127.0.0.1', '--port', '0', '--metadata', 'mysql://root:hunter2@db:3306/berth']);
  assertOneLine(result, /^berth: metadata: unsupported mysql:\/\/ store .*; give a SQLite file path or a postgres:\/\/ URL \(--metadata or BERTH_METADATA\)$/, 2);
  assert.doesNotMatch(result.stderr, /hunter2/, 'the password is not printed');
});

test('an unreachable PostgreSQL names the setting and the reason', async () => {
  // A port nothing listens on: a server that is bound and closed again.
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  const refused = await serve('pg-refused', ['--host', '127.0.0.1', '--port', '0', '--metadata', `postgres://berth:secret@127.0.0.1:${port}/berth`]);
  assertOneLine(refused, new RegExp(`^berth: metadata: cannot use PostgreSQL at postgres://berth:\\*\\*\\*@127\\.0\\.0\\.1:${port}/berth: connection refused \\(--metadata or BERTH_METADATA\\)$`));

  const unresolved = await serve('pg-dns', ['--host', '127.0.0.1', '--port', '0', '--metadata', 'postgres://berth@db.berth-test.invalid:5432/berth']);
  assertOneLine(unresolved, /^berth: metadata: cannot use PostgreSQL at postgres:\/\/berth@db\.berth-test\.invalid:5432\/berth: the host does not resolve/);
});

test('a port in use names the port; the first-start files are all there and the next start uses them', async () => {
  const squatter = createServer();
  const port = await listen(squatter);
  try {
    const taken = await serve('port', ['--host', '127.0.0.1', '--port', String(port)]);
    assertOneLine(taken, new RegExp(`^berth: port: 127\\.0\\.0\\.1:${port} is already in use by another process; choose another with --port or BERTH_PORT$`));
    // The administrator exists now, so both of the aws CLI's files must be there (the
    // README's next command reads them), whole, with the region.
    const files = (await readdir(join(dir, 'port'))).sort();
    for (const name of ['config', 'credentials', 'server.key']) assert.ok(files.includes(name), `${name} is in ${files.join(', ')}`);
    assert.ok(!files.some((f) => f.endsWith('.tmp')), 'no temporary files left');
    const config = await readFile(join(dir, 'port', 'config'), 'utf8');
    assert.match(config, /^\[default\]\nregion = us-east-1\nendpoint_url = http:\/\/127\.0\.0\.1:\d+\n$/);
    assert.match(await readFile(join(dir, 'port', 'credentials'), 'utf8'), /aws_access_key_id = \S+\naws_secret_access_key = \S+/);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  // The port is free now: the next start works, and so does the README's next command,
  // with nothing but the two files (the endpoint comes from `config`).
  const berth = await spawnBerth(['--data-dir', join(dir, 'port'), '--port', String(port)]);
  try {
    const env = cliEnv(null, { AWS_SHARED_CREDENTIALS_FILE: join(dir, 'port', 'credentials'), AWS_CONFIG_FILE: join(dir, 'port', 'config') });
    const identity = await run('aws', ['sts', 'get-caller-identity', '--output', 'json'], { env, timeoutMs: 30_000 });
    assert.equal(identity.code, 0, identity.stderr);
    assert.match(identity.stdout, /"Arn": "arn:aws:iam::\d{12}:user\/admin"/);
  } finally {
    await berth.stop();
  }
});

test('a host that does not resolve, and one that is not an address of this machine, name --host', async () => {
  assertOneLine(await serve('host-dns', ['--host', 'berth-test.invalid', '--port', '0']), /^berth: host: berth-test\.invalid does not resolve; give an address or a resolvable name with --host or BERTH_HOST$/);
  // TEST-NET-1 (RFC 5737): never assigned to a machine.
  assertOneLine(await serve('host-foreign', ['--host', '192.0.2.1', '--port', '0']), /^berth: host: 192\.0\.2\.1 is not an address of this machine/);
});

test('a data folder whose config file is missing beside its credentials gets it back on the next start', async () => {
  const { unlink } = await import('node:fs/promises');
  const data = join(dir, 'repair');
  const first = await spawnBerth(['--data-dir', data]);
  await first.stop();
  // What a Berth before this change left after a first start that failed to listen.
  await unlink(join(data, 'config'));
  const second = await spawnBerth(['--data-dir', data]);
  try {
    const port = new URL(second.url).port;
    // Written once the server listens.
    for (let i = 0; i < 50; i++) {
      const text = await readFile(join(data, 'config'), 'utf8').catch(() => '');
      if (text) {
        assert.equal(text, `[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:${port}\n`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail('config was not written again');
  } finally {
    await second.stop();
  }
});
