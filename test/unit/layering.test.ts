import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

// The architecture's boundaries, kept by a test: the domain knows no HTTP framework and
// no database driver; stores know no HTTP. (Run from the project root.)
const forbidden: Record<string, RegExp> = {
  'src/domain': /from '(fastify|pg|better-sqlite3|kysely|@aws-sdk\/[^']+)'|from '\.\.\/edges\//,
  'src/stores': /from '(fastify)'|from '\.\.\/(\.\.\/)?edges\//,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

for (const [dir, pattern] of Object.entries(forbidden)) {
  test(`${dir} keeps its layer boundary`, () => {
    const offenders = sources(dir).filter((file) => pattern.test(readFileSync(file, 'utf8')));
    assert.deepEqual(offenders, []);
  });
}
