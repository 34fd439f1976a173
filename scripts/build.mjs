// `npm run build`: tsc, then a stamp of the time the build started once it succeeded.
// `--if-stale` (npm start): tsc only when a source file changed since the last build that
// succeeded, so that a restart is not a recompile (tsc takes 10-25 s here, even
// incremental; this check takes a few milliseconds). A clean clone has no stamp: it builds.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

const STAMP = 'dist/.build-stamp';
// What the server's code is made of; test/ and bench/ changes do not make `npm start` rebuild.
const INPUTS = ['src', 'tsconfig.json', 'package.json', 'package-lock.json'];

function newestMtime(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, entry) => Math.max(newest, newestMtime(join(path, entry))), stat.mtimeMs);
}

function stampTime() {
  try {
    return statSync(STAMP).mtimeMs;
  } catch {
    return -1;
  }
}

const stamp = stampTime();
if (process.argv.includes('--if-stale') && stamp >= 0 && INPUTS.every((p) => newestMtime(p) <= stamp)) process.exit(0);

// The stamp takes the time the build started: a file saved during the build rebuilds next time.
const started = new Date();
const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
closeSync(openSync(STAMP, 'w'));
utimesSync(STAMP, started, started);
