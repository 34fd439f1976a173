import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// V8 takes Berth's heap flags only on node's command line (bin/berth.js explains why they
// matter: without the old-generation floor every upload sets off full GCs). They live in the
// script's shebang; the ways the docs tell operators to start Berth must keep them.

async function shebangFlags(): Promise<string[]> {
  const first = (await readFile('bin/berth.js', 'utf8')).split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node((?:\s+--[\w-]+=\S+)*)\s*$/.exec(first);
  assert.ok(match, `unexpected first line of bin/berth.js: ${first}`);
  return match[1]!.trim().split(/\s+/);
}

test('bin/berth.js passes V8 the heap flags, and the deployment docs start it with them', async () => {
  const flags = await shebangFlags();
  assert.ok(flags.some((f) => /^--initial-old-space-size=\d+$/.test(f)), `no old-generation floor in ${flags.join(' ')}`);
  assert.ok(flags.some((f) => /^--max-semi-space-size=\d+$/.test(f)), `no young-generation size in ${flags.join(' ')}`);
  const deployment = await readFile('docs/deployment.md', 'utf8');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(deployment);
  assert.ok(entrypoint, 'docs/deployment.md has a Dockerfile ENTRYPOINT');
  assert.deepEqual(JSON.parse(entrypoint[1]!), ['node', ...flags, 'bin/berth.js']);
  const execStart = /^ExecStart=(.*)$/m.exec(deployment);
  assert.ok(execStart, 'docs/deployment.md has a systemd ExecStart');
  assert.match(execStart[1]!, /^\S*bin\/berth\.js serve/, 'the unit runs the script itself, so its shebang applies');
});

test('running ./bin/berth.js starts node with those flags', async () => {
  const flags = await shebangFlags();
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-flags-'));
  const child = spawn('./bin/berth.js', ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH! },
  });
  try {
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const deadline = Date.now() + 20_000;
    while (!/listening on/.test(output)) {
      assert.ok(child.exitCode === null, `berth exited: ${output}`);
      assert.ok(Date.now() < deadline, `berth did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // env(1) execs node in place, so the child's own command line is node's.
    const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
    for (const flag of flags) assert.ok(cmdline.includes(flag), `${flag} missing from ${cmdline.join(' ')}`);
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});
