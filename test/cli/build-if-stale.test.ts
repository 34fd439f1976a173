import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { run } from '../helpers/process.js';

// `npm start` runs `node scripts/build.mjs --if-stale`: tsc on a clean clone and after a
// source change, nothing otherwise (a restart is not a recompile). Tried on a tiny project
// with the real script and the real tsc.

const repo = resolve(process.cwd());

test('scripts/build.mjs --if-stale builds a clean tree, skips an unchanged one and rebuilds after an edit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-build-'));
  try {
    await mkdir(join(dir, 'scripts'));
    await mkdir(join(dir, 'src'));
    await cp(join(repo, 'scripts/build.mjs'), join(dir, 'scripts/build.mjs'));
    await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { types: [], skipLibCheck: true, outDir: 'dist', rootDir: '.', module: 'NodeNext', target: 'ES2022' }, include: ['src'] }));
    await writeFile(join(dir, 'src/a.ts'), 'export const a: number = 1;\n');
    const build = () => run(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: dir, timeoutMs: 60_000 });

    const first = await build();
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const stamp1 = (await stat(join(dir, 'dist/.build-stamp'))).mtimeMs;
    assert.ok((await stat(join(dir, 'dist/src/a.js'))).isFile(), 'a clean tree is built');

    const second = await build();
    assert.equal(second.code, 0);
    assert.equal((await stat(join(dir, 'dist/.build-stamp'))).mtimeMs, stamp1, 'an unchanged tree is not rebuilt');

    // An edit after the build (its mtime later than the stamp) rebuilds.
    await writeFile(join(dir, 'src/a.ts'), 'export const a: number = 2;\n');
    const later = new Date(stamp1 + 5_000);
    await utimes(join(dir, 'src/a.ts'), later, later);
    assert.equal((await build()).code, 0);
    assert.ok((await stat(join(dir, 'dist/.build-stamp'))).mtimeMs > stamp1, 'an edited tree is rebuilt');

    // A build that fails leaves the stamp where it was, so the next start tries again.
    const stamp2 = (await stat(join(dir, 'dist/.build-stamp'))).mtimeMs;
    await writeFile(join(dir, 'src/a.ts'), 'export const a: number = "not a number";\n');
    const evenLater = new Date(stamp2 + 5_000);
    await utimes(join(dir, 'src/a.ts'), evenLater, evenLater);
    assert.notEqual((await build()).code, 0, 'a type error fails the build');
    assert.equal((await stat(join(dir, 'dist/.build-stamp'))).mtimeMs, stamp2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
