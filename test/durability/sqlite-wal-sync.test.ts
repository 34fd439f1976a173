import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireTool } from '../helpers/tools.js';

// Where SQLite's fsyncs happen, seen by strace on a real process. With the group commit a
// durable transaction's WAL fsync runs on a thread-pool thread, not on the event loop, and
// before transact() returns; a transaction marked not durable is not fsynced at all; a write
// outside a transaction is still fsynced by SQLite itself (FULL), on the loop.

const root = fileURLToPath(new URL('../../..', import.meta.url));
const storeModule = new URL('../../src/stores/metadata/sql-metadata-store.js', import.meta.url).href;
const groupCommitModule = new URL('../../src/stores/metadata/sqlite-group-commit.js', import.meta.url).href;

const script = (path: string) => `
import { writeSync } from 'node:fs';
import { sql } from 'kysely';
import { SqlMetadataStore } from ${JSON.stringify(storeModule)};
import { transact } from ${JSON.stringify(groupCommitModule)};
const store = SqlMetadataStore.open({ kind: 'sqlite', path: ${JSON.stringify(path)} });
await store.migrate();
const db = store.db;
await sql\`create table probe (v text not null)\`.execute(db);
const mark = (m) => writeSync(1, 'MARK ' + m + '\\n');
mark('durable');
await Promise.all(['a', 'b', 'c'].map((v) => transact(db, (trx) => trx.insertInto('probe').values({ v }).execute())));
mark('relaxed');
await Promise.all(['d', 'e'].map((v) => transact(db, (trx) => trx.insertInto('probe').values({ v }).execute(), { durable: false })));
mark('autocommit');
await db.insertInto('probe').values({ v: 'f' }).execute();
mark('end');
await store.close();
`;

interface Syscall {
  tid: number;
  name: string;
  args: string;
}

test('SQLite WAL fsyncs: durable transactions off the event loop, relaxed ones never, autocommit on the loop as before', async (t) => {
  if (!requireTool(t, 'strace', 'to see which thread fsyncs')) return;
  const dir = await mkdtemp(join(tmpdir(), 'berth-wal-sync-'));
  try {
    const trace = join(dir, 'trace.txt');
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,write', '-o', trace, process.execPath, '--input-type=module', '-e', script(join(dir, 'meta.db'))], {
        cwd: root,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('exit', (c) => (c === 0 ? resolve(c) : reject(new Error(`strace/node exited ${c}: ${stderr}`))));
    });
    assert.equal(code, 0);
    const calls: Syscall[] = [];
    for (const line of (await readFile(trace, 'utf8')).split('\n')) {
      const m = /^(\d+)\s+(\w+)\((.*)$/.exec(line);
      if (m) calls.push({ tid: Number(m[1]), name: m[2]!, args: m[3]! });
    }
    const marks = calls.filter((c) => c.name === 'write' && c.args.includes('MARK '));
    assert.equal(marks.length, 4, 'the script wrote its four marks');
    const mainThread = marks[0]!.tid;
    const between = (from: number, to: number) => calls.slice(calls.indexOf(marks[from]!), calls.indexOf(marks[to]!));
    const walSyncs = (list: Syscall[]) => list.filter((c) => (c.name === 'fsync' || c.name === 'fdatasync') && /-wal>/.test(c.args));

    const durable = walSyncs(between(0, 1));
    assert.ok(durable.length >= 1, 'the durable transactions were fsynced before transact() returned');
    assert.deepEqual(durable.filter((c) => c.tid === mainThread), [], 'no WAL fsync on the event loop thread for grouped transactions');

    assert.deepEqual(walSyncs(between(1, 2)), [], 'transactions that need not be durable are not fsynced');

    const autocommit = walSyncs(between(2, 3));
    assert.ok(autocommit.some((c) => c.tid === mainThread), 'a write outside a transaction is fsynced by SQLite itself, at FULL');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
