import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Keeps the benchmark harness working: the quick bench against Berth alone, end to end.
const bench = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

function runBench(env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bench], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('the quick bench runs against Berth and reports every figure', { timeout: 40_000 }, async () => {
  const { code, stdout, stderr } = await runBench({ BENCH_QUICK: '1', BENCH_NO_DISTRIBUTION: '1' }, 35_000);
  assert.equal(code, 0, `bench failed:\n${stdout}\n${stderr}`);
  for (const figure of ['blob push, monolithic (MB/s)', 'blob push, chunked (MB/s)', 'blob pull (MB/s)', 'manifest push (/s)', 'manifest GET by tag', 'blob HEAD', 'peak RSS']) {
    const line = stdout.split('\n').find((l) => l.startsWith(figure));
    assert.ok(line, `no line for ${figure}`);
    assert.match(line, /\)\s+\d+(\.\d+)?\s/, `no figure for ${figure}: ${line}`);
  }
  assert.match(stdout, /sha256 on one core \d/);
  assert.match(stdout, /disk sequential write \+ fsync \d/);
  assert.match(stdout, /Berth: yes: fsync/);
  // The last stage: lifecycle and GC at scale, with time and peak memory.
  assert.match(stdout, /lifecycle and garbage collection at scale .*2000 images, 2000 blobs/);
  for (const bench of ['lifecycle preview', 'lifecycle evaluation (dry run)', 'gc dry run', 'gc']) {
    assert.match(stdout, new RegExp(`^  ${bench.replace(/[()]/g, '\\$&')} +\\d+(\\.\\d+)? s +peak RSS \\d+(\\.\\d+)? MiB, heap peak`, 'm'), `no figure for ${bench}`);
  }
});

test('the bench reports no figures and exits non-zero when a registry fails', { timeout: 20_000 }, async () => {
  const { code, stdout, stderr } = await runBench({ BENCH_QUICK: '1', BENCH_DISTRIBUTION_BIN: '/bin/false' }, 15_000);
  assert.equal(code, 1, stdout);
  assert.match(stderr, /benchmark failed, no figures reported: Distribution exited/);
  assert.doesNotMatch(stdout, /figure \(median of rounds\)/);
});
