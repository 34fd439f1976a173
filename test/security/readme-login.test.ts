import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnBerth } from '../helpers/berth-process.js';
import { run } from '../helpers/process.js';
import { requireTool } from '../helpers/tools.js';
import { sha, tinyImage, writeLayout } from './helpers.js';

/** Runs `a | b` through a shell-free pipe; resolves with b's result. */
function pipe(a: [string, string[]], b: [string, string[]], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const first = spawn(a[0], a[1], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const second = spawn(b[0], b[1], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    first.stderr.on('data', (d) => (stderr += d));
    second.stderr.on('data', (d) => (stderr += d));
    first.stdout.pipe(second.stdin);
    second.stdout.resume();
    second.on('error', reject);
    second.on('exit', (code) => resolve({ code, stderr }));
  });
}

// The README's login flow against a real `berth serve` with its default settings (/v2
// requires a login): the credentials and config files of the first start, then
// `aws ecr get-login-password | skopeo login`, create, push, describe and pull.
test('the README login flow: get-login-password | skopeo login, then push and pull', async (t) => {
  if (!requireTool(t, 'aws') || !requireTool(t, 'skopeo')) return;
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-readme-'));
  const work = await mkdtemp(join(tmpdir(), 'berth-readme-work-'));
  // BERTH_AUTH_V2 unset: Berth's own default.
  const server = await spawnBerth(['--data-dir', dataDir], { authV2: null, env: { PATH: process.env.PATH! } });
  try {
    const host = new URL(server.url).host;
    const env = { PATH: process.env.PATH!, HOME: work, AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'), AWS_CONFIG_FILE: join(dataDir, 'config') };
    assert.match(await readFile(join(dataDir, 'credentials'), 'utf8'), /aws_secret_access_key/);
    const aws = (args: string[]) => run('aws', [...args, '--endpoint-url', server.url], { env, timeoutMs: 60_000 });
    const skopeo = (args: string[]) => run('skopeo', ['--insecure-policy', ...args], { env, timeoutMs: 30_000 });
    const authfile = join(work, 'auth.json');
    await writeLayout(join(work, 'layout'), tinyImage('readme'));

    // Secure by default: without a login nothing goes in or out.
    const anonymous = await skopeo(['copy', '--authfile', join(work, 'none.json'), '--dest-tls-verify=false', `oci:${join(work, 'layout')}:v1`, `docker://${host}/team/app:v1`]);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /401|unauthorized|authentication required/i);

    const login = await pipe(['aws', ['ecr', 'get-login-password', '--endpoint-url', server.url]], ['skopeo', ['login', '--authfile', authfile, '--tls-verify=false', '--username', 'AWS', '--password-stdin', host]], env);
    assert.equal(login.code, 0, login.stderr);
    const created = await aws(['ecr', 'create-repository', '--repository-name', 'team/app']);
    assert.equal(created.code, 0, created.stderr);
    const push = await skopeo(['copy', '--authfile', authfile, '--dest-tls-verify=false', `oci:${join(work, 'layout')}:v1`, `docker://${host}/team/app:v1`]);
    assert.equal(push.code, 0, push.stderr);
    const described = await aws(['ecr', 'describe-images', '--repository-name', 'team/app']);
    assert.equal(described.code, 0, described.stderr);
    assert.equal(JSON.parse(described.stdout).imageDetails[0].imageDigest, sha(tinyImage('readme').manifest));
    const pull = await skopeo(['copy', '--authfile', authfile, '--src-tls-verify=false', `docker://${host}/team/app:v1`, `oci:${join(work, 'pulled')}:v1`]);
    assert.equal(pull.code, 0, pull.stderr);
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
});
