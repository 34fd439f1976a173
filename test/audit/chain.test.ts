import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { sql } from 'kysely';
import { serviceActor, type Actor } from '../../src/domain/actor.js';
import { buildRecord, canonicalJson, scrub, HIDDEN } from '../../src/modules/audit/record.js';
import { AuditStore, type PendingRecord } from '../../src/modules/audit/store.js';
import { AuditWriter } from '../../src/modules/audit/writer.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

// The chain, the writer and retention on real SQLite and PostgreSQL, with times given by
// the test (no sleeping through 90 days).

const DAY = 86_400_000;
const user: Actor = {
  type: 'IAMUser',
  accountId: '111122223333',
  principalId: 'AIDAEXAMPLE',
  arn: 'arn:aws:iam::111122223333:user/alice',
  accessKeyId: 'AKIAEXAMPLE',
  sessionName: null,
  sourceIp: '10.0.0.1',
  userAgent: 'test',
  edge: 'ecr',
  operation: 'ecr:PutImage',
  requestId: 'r-1',
};

function pending(time: number, actor: Actor = user, eventName = 'PutImage'): PendingRecord {
  const record = buildRecord({ actor, facts: { eventSource: 'ecr.amazonaws.com', eventName, readOnly: false, requestParameters: { repositoryName: 'app' } }, time, region: 'us-east-1', requestId: `r-${time}`, defaultAccountId: '000000000000' });
  return { record, time, username: 'alice' };
}

async function sqliteStore(): Promise<{ store: AuditStore; meta: SqlMetadataStore; done(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-audit-chain-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'berth.db') });
  await meta.migrate();
  return { store: new AuditStore(meta.db, 'sqlite'), meta, done: async () => (await meta.close(), await rm(dir, { recursive: true, force: true })) };
}

test('retention purges old records and the chain still verifies from its anchor', async () => {
  const { store, done } = await sqliteStore();
  try {
    const start = Date.UTC(2026, 0, 1);
    // 100 days of records, one a day, in two batches; another account's chain beside it.
    await store.append(Array.from({ length: 60 }, (_, i) => pending(start + i * DAY)));
    await store.append(Array.from({ length: 40 }, (_, i) => pending(start + (60 + i) * DAY)));
    await store.append([pending(start, { ...user, accountId: '444455556666' })]);
    assert.deepEqual((await store.verify()).problems, []);
    const now = start + 100 * DAY; // the injectable clock: "now" is day 100
    const purged = await store.purge(now - 90 * DAY);
    assert.equal(purged, 10 + 1, 'days 0-9 of one account and day 0 of the other');
    assert.equal(await store.count(), 90);
    const after = await store.verify();
    assert.deepEqual(after.problems, []);
    assert.equal(after.records, 90);
    // Purging again changes nothing; appending keeps chaining after the anchor.
    assert.equal(await store.purge(now - 90 * DAY), 0);
    await store.append([pending(now)]);
    assert.deepEqual((await store.verify()).problems, []);
    // Deleting the oldest remaining record (right after the anchor) is still caught.
    const oldest = await store.db.selectFrom('audit_events').select(['seq', 'event_id']).where('account_id', '=', '111122223333').orderBy('seq').limit(1).executeTakeFirstOrThrow();
    await sql`delete from audit_events where account_id = '111122223333' and seq = ${oldest.seq}`.execute(store.db);
    const problems = (await store.verify()).problems;
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.kind, 'deleted');
    assert.equal(problems[0]!.eventId, oldest.event_id);
  } finally {
    await done();
  }
});

test('verify names an edited lookup column and a deleted newest record', async () => {
  const { store, done } = await sqliteStore();
  try {
    await store.append(Array.from({ length: 5 }, (_, i) => pending(Date.UTC(2026, 5, 1) + i * 1000)));
    const rows = await store.db.selectFrom('audit_events').select(['seq', 'event_id']).orderBy('seq').execute();
    // Hiding who did it by editing the column LookupEvents filters on, not the record.
    await sql`update audit_events set event_name = 'ListImages' where seq = ${rows[1]!.seq}`.execute(store.db);
    await sql`delete from audit_events where seq = ${rows[4]!.seq}`.execute(store.db);
    const problems = (await store.verify()).problems;
    assert.deepEqual(
      problems.map((p) => [p.kind, p.eventId]),
      [
        ['columns-edited', rows[1]!.event_id],
        ['deleted', rows[4]!.event_id],
      ],
    );
  } finally {
    await done();
  }
});

test('the writer batches records off the caller and flushes them on close', async () => {
  const { store, done } = await sqliteStore();
  try {
    const writer = new AuditWriter(store, { intervalMs: 60_000, batchSize: 250 });
    for (let i = 0; i < 1000; i++) writer.add(pending(Date.UTC(2026, 1, 1) + i));
    // Reaching the batch size starts a write without waiting for the timer.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await store.count()) >= 250);
    writer.add(pending(Date.UTC(2026, 1, 2)));
    await writer.close();
    assert.equal(await store.count(), 1001);
    assert.deepEqual((await store.verify()).problems, []);
  } finally {
    await done();
  }
});

test('two nodes appending to one account on PostgreSQL keep a single unbroken chain', async (t: TestContext) => {
  if (!(await requirePostgres(t))) return;
  const database = await createTestDatabase();
  const a = SqlMetadataStore.open({ kind: 'postgres', url: database.url });
  const b = SqlMetadataStore.open({ kind: 'postgres', url: database.url });
  try {
    await a.migrate();
    const nodes = [new AuditStore(a.db, 'postgres'), new AuditStore(b.db, 'postgres')];
    const base = Date.UTC(2026, 2, 1);
    // 40 batches of 25 from each node at once, two accounts in every batch (in either order).
    await Promise.all(
      nodes.flatMap((store, n) =>
        Array.from({ length: 40 }, (_, i) =>
          store.append(Array.from({ length: 25 }, (_, j) => pending(base + n * 1e6 + i * 100 + j, { ...user, accountId: j % 2 === n % 2 ? '111122223333' : '444455556666' }))),
        ),
      ),
    );
    assert.equal(await nodes[0]!.count(), 2000);
    const result = await nodes[1]!.verify();
    assert.deepEqual(result.problems, []);
    assert.equal(result.accounts, 2);
  } finally {
    await a.close();
    await b.close();
    await database.drop();
  }
});

test('records hold no secrets: scrubbing and the canonical form', () => {
  const scrubbed = scrub({ userName: 'u', SecretAccessKey: 's3cr3t', nested: [{ sessionToken: 't', password: 'p', layerPartBlob: 'AAAA', authorizationData: [{ authorizationToken: 'x' }] }], policyDocument: '{"Version":"2012-10-17"}' });
  assert.deepEqual(scrubbed, { userName: 'u', SecretAccessKey: HIDDEN, nested: [{ sessionToken: HIDDEN, password: HIDDEN, layerPartBlob: HIDDEN, authorizationData: HIDDEN }], policyDocument: '{"Version":"2012-10-17"}' });
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
  // A role session's identity carries its issuer, as CloudTrail's does.
  const session = buildRecord({
    actor: { ...user, type: 'AssumedRole', principalId: 'AROAEXAMPLE:build', arn: 'arn:aws:sts::111122223333:assumed-role/ci/build', accessKeyId: 'ASIAEXAMPLE', sessionName: 'build' },
    facts: { eventSource: 'ecr.amazonaws.com', eventName: 'BatchGetImage', readOnly: true },
    time: 0,
    region: 'us-east-1',
    requestId: 'r',
    defaultAccountId: '000000000000',
  });
  assert.deepEqual(session.userIdentity.sessionContext?.sessionIssuer, { type: 'Role', principalId: 'AROAEXAMPLE', arn: 'arn:aws:iam::111122223333:role/ci', accountId: '111122223333', userName: 'ci' });
  assert.equal(session.eventCategory, 'Data');
  assert.equal(session.managementEvent, false);
  assert.equal(buildRecord({ actor: serviceActor('gc'), facts: { eventSource: 'ecr.amazonaws.com', eventName: 'X', readOnly: false }, time: 0, region: 'r', requestId: 'q', defaultAccountId: '000000000000' }).recipientAccountId, '000000000000');
});
