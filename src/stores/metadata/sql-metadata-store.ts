import { randomUUID } from 'node:crypto';
import { AuthWriteListeners, authWriteWatcher } from './auth-generation.js';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Changes } from '../../domain/events/change.js';
import type {
  BlobLink,
  DeletedManifest,
  BlobMark,
  BlobRecord,
  ImageStatus,
  ManifestRecord,
  MetadataStore,
  NewManifest,
  Page,
  PutManifestResult,
  ReferrerRecord,
  RepositoryRecord,
  UploadRecord,
} from '../metadata-store.js';
import { migrationProvider, type SqlDialectName } from './migrations.js';
import { cachedPrepare } from './statement-cache.js';
import { registerGroupCommit, registerPostgres, SqliteGroupCommit, transact } from './sqlite-group-commit.js';
import type { Database } from './schema.js';
import { immutableTagConflict } from './sql-ecr-store.js';
import { SqlJobStore } from './sql-job-store.js';
import { SqlChangeStore } from './change-log.js';

export type SqlConnection = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; poolSize?: number };

/** One query layer (kysely) over SQLite and PostgreSQL. */
export class SqlMetadataStore implements MetadataStore {
  readonly kind: SqlDialectName;

  /** The job queue and the change feed live in the same database (and transactions). */
  readonly jobs: SqlJobStore;
  readonly changes: SqlChangeStore;

  private constructor(
    readonly db: Kysely<Database>,
    dialect: SqlDialectName,
    /** Called after any write of what authorization reads, through this store's db (auth-generation.ts). */
    readonly authWrites: AuthWriteListeners,
  ) {
    this.kind = dialect;
    this.jobs = new SqlJobStore(db, dialect);
    this.changes = new SqlChangeStore(db, dialect);
  }

  static open(connection: SqlConnection): SqlMetadataStore {
    if (connection.kind === 'sqlite') {
      const database = new SQLite(connection.path);
      // WAL lets readers run beside the writer; FULL makes each commit durable before
      // we acknowledge it; foreign keys keep tags and references consistent.
      database.pragma('journal_mode = WAL');
      database.pragma('synchronous = FULL');
      database.pragma('foreign_keys = ON');
      database.pragma('busy_timeout = 5000');
      const groupCommit = new SqliteGroupCommit(database);
      const authWrites = new AuthWriteListeners();
      const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: groupCommit.wrap(cachedPrepare(database)) }), plugins: [authWriteWatcher(() => authWrites.notify())] });
      registerGroupCommit(db, groupCommit);
      return new SqlMetadataStore(db, 'sqlite', authWrites);
    }
    const pool = new pg.Pool({
      connectionString: connection.url,
      max: connection.poolSize ?? 10,
      // BIGINT columns hold sizes and millisecond times, all well inside 2^53.
      types: { getTypeParser: (oid: number, format?: any) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) } as any,
    });
    // An idle pooled connection that the server ends (a restart, a failover, an operator's
    // pg_terminate_backend) emits 'error' on the pool; unheard, that would crash the process.
    // The pool drops that client and opens a new one for the next query.
    pool.on('error', () => {});
    const authWrites = new AuthWriteListeners();
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [authWriteWatcher(() => authWrites.notify())] });
    registerPostgres(db);
    return new SqlMetadataStore(db, 'postgres', authWrites);
  }

  async migrate(): Promise<void> {
    // Capabilities add migrations of their own (src/modules/*), numbered in ranges that may land
    // in any order: a database that ran a later one still takes an earlier one added after it.
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.kind), allowUnorderedMigrations: true });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    await this.changes.init();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async sharedSecret(name: string, candidate: string, now: number): Promise<string> {
    await this.db
      .insertInto('shared_secrets')
      .values({ name, value: candidate, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.db.selectFrom('shared_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
    return row.value;
  }

  // ---- repositories ----

  async getRepository(registryId: string, name: string): Promise<RepositoryRecord | null> {
    const row = await this.db
      .selectFrom('repositories')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? { id: row.id, registryId: row.registry_id, name: row.name, createdAt: row.created_at } : null;
  }

  async ensureRepository(registryId: string, name: string, now: number): Promise<RepositoryRecord> {
    const existing = await this.getRepository(registryId, name);
    if (existing) return existing;
    await this.db
      .insertInto('repositories')
      .values({ registry_id: registryId, name, created_at: now })
      .onConflict((oc) => oc.columns(['registry_id', 'name']).doNothing())
      .execute();
    const created = await this.getRepository(registryId, name);
    if (!created) throw new Error(`repository ${name} vanished while being created`);
    return created;
  }

  async listRepositories(registryId: string, page: Page): Promise<string[]> {
    let query = this.db.selectFrom('repositories').select('name').where('registry_id', '=', registryId);
    if (page.after !== undefined) query = query.where('name', '>', page.after);
    const rows = await query.orderBy('name').limit(page.limit).execute();
    return rows.map((r) => r.name);
  }

  // ---- blobs ----

  async claimBlob(blob: BlobRecord, now: number): Promise<string | null> {
    for (;;) {
      // Not durable on its own: the claim keeps a collector away while this process writes
      // the bytes, and the durable link that follows makes it durable too. Lost in a crash,
      // it leaves at most bytes without a row, which GC's orphan sweep removes.
      const claimed = await transact(this.db, async (trx) => {
        const row = await this.lockBlobRow(trx, blob.digest, 'update');
        if (!row) {
          const incarnation = randomUUID();
          const inserted = await trx
            .insertInto('blobs')
            .values({ digest: blob.digest, size: blob.size, created_at: now, incarnation, gc_marked_at: null })
            .onConflict((oc) => oc.column('digest').doNothing())
            .executeTakeFirst();
          // Lost a race with another inserter (PostgreSQL): look again.
          return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 ? incarnation : undefined;
        }
        if (row.gc_marked_at !== null) return null;
        await trx.updateTable('blobs').set({ created_at: now }).where('digest', '=', blob.digest).where('created_at', '<', now).execute();
        return row.incarnation;
      }, { durable: false });
      if (claimed !== undefined) return claimed;
    }
  }

  async linkBlob(repositoryId: number, blob: BlobRecord, now: number, incarnation?: string): Promise<boolean> {
    return transact(this.db, async (trx) => {
      // Shared lock on the blob row: a collector marking it (FOR UPDATE) waits for us, or we for it.
      let row = await this.lockBlobRow(trx, blob.digest, 'share');
      if (!row && incarnation === undefined) {
        await trx
          .insertInto('blobs')
          .values({ digest: blob.digest, size: blob.size, created_at: now, incarnation: randomUUID(), gc_marked_at: null })
          .onConflict((oc) => oc.column('digest').doNothing())
          .execute();
        row = await this.lockBlobRow(trx, blob.digest, 'share');
      }
      if (!row || row.gc_marked_at !== null) return false;
      if (incarnation !== undefined && row.incarnation !== incarnation) return false;
      await trx
        .insertInto('repository_blobs')
        .values({ repository_id: repositoryId, digest: blob.digest, created_at: now })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ created_at: now }))
        .execute();
      return true;
    });
  }

  private async lockBlobRow(trx: Transaction<Database>, digest: string, mode: 'share' | 'update') {
    let query = trx.selectFrom('blobs').select(['incarnation', 'gc_marked_at']).where('digest', '=', digest);
    // SQLite runs one write transaction at a time (and kysely one per connection); PostgreSQL needs row locks.
    if (this.kind === 'postgres') query = mode === 'share' ? query.forShare() : query.forUpdate();
    return query.executeTakeFirst();
  }

  async getLinkedBlob(repositoryId: number, digest: string): Promise<BlobRecord | null> {
    const row = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select(['b.digest', 'b.size'])
      .where('rb.repository_id', '=', repositoryId)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
    return row ?? null;
  }

  async unlinkBlob(repositoryId: number, digest: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // ---- uploads ----

  // An upload's row need not survive a crash (its bytes are not durable until the blob is
  // committed either): the client starts over, and the stale-upload purge removes what is left.
  async createUpload(upload: UploadRecord): Promise<void> {
    await transact(this.db, (trx) => trx.insertInto('uploads').values({ id: upload.id, repository_id: upload.repositoryId, started_at: upload.startedAt }).execute(), { durable: false });
  }

  async getUpload(id: string): Promise<UploadRecord | null> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? { id: row.id, repositoryId: row.repository_id, startedAt: row.started_at } : null;
  }

  async deleteUpload(id: string): Promise<boolean> {
    const result = await transact(this.db, (trx) => trx.deleteFrom('uploads').where('id', '=', id).executeTakeFirst(), { durable: false });
    return Number(result.numDeletedRows) > 0;
  }

  async listUploadsStartedBefore(before: number, limit: number): Promise<UploadRecord[]> {
    const rows = await this.db.selectFrom('uploads').selectAll().where('started_at', '<', before).orderBy('started_at').limit(limit).execute();
    return rows.map((row) => ({ id: row.id, repositoryId: row.repository_id, startedAt: row.started_at }));
  }

  // ---- manifests and tags ----

  async putManifest(m: NewManifest): Promise<PutManifestResult> {
    return this.putManifestTransaction(m).catch((err) => {
      if (err instanceof ImmutableTagConflict) return { ok: false, missingBlobs: [], missingManifests: [], immutableTag: err.tag };
      throw err;
    });
  }

  private async putManifestTransaction(m: NewManifest): Promise<PutManifestResult> {
    let previousTagDigest: string | null = null;
    const changes = m.changes ? (r: PutManifestResult) => (r.ok ? m.changes!({ created: r.created, previousTagDigest }) : null) : undefined;
    return transact(this.db, async (trx) => {
      const missing = await findMissingReferences(trx, m, this.kind);
      if (missing.missingBlobs.length > 0 || missing.missingManifests.length > 0) return { ok: false, ...missing };
      const inserted = await trx
        .insertInto('manifests')
        .values({
          repository_id: m.repositoryId,
          digest: m.digest,
          media_type: m.mediaType,
          artifact_type: m.artifactType,
          subject_digest: m.subjectDigest,
          size: m.content.length,
          content: m.content,
          annotations: m.annotations ? JSON.stringify(m.annotations) : null,
          pushed_at: m.pushedAt,
        })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .executeTakeFirst();
      const created = Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
      // A push restores what it names from the archive at once: the manifest itself when it
      // was there already, and the manifests an index lists (so a pullable index never
      // lists an archived manifest).
      const reactivate = [...(created ? [] : [m.digest]), ...new Set(m.references.filter((r) => r.kind === 'manifest').map((r) => r.digest))];
      for (const slice of chunks(reactivate, 500)) {
        await trx
          .updateTable('manifests')
          .set({ image_status: 'ACTIVE', last_activated_at: m.pushedAt })
          .where('repository_id', '=', m.repositoryId)
          .where('digest', 'in', slice)
          .where('image_status', '<>', 'ACTIVE')
          .execute();
      }
      if (created && m.references.length > 0) {
        const unique = new Map(m.references.map((r) => [r.digest, r.kind]));
        const rows = [...unique].map(([digest, kind]) => ({ repository_id: m.repositoryId, manifest_digest: m.digest, child_digest: digest, child_kind: kind }));
        // In slices: a 4 MiB manifest can name tens of thousands of blobs, more than one
        // statement may bind (SQLite allows 32766 parameters, PostgreSQL 65535).
        for (const slice of chunks(rows, 500)) {
          await trx.insertInto('manifest_references').values(slice).onConflict((oc) => oc.doNothing()).execute();
        }
      }
      if (m.tag !== null) {
        // Immutable tags (ECR repository settings) are checked here, in the transaction,
        // so concurrent pushes of one tag cannot both win. Throwing rolls back the manifest.
        if (await immutableTagConflict(trx, m.repositoryId, m.tag, m.digest)) throw new ImmutableTagConflict(m.tag);
        if (m.changes) {
          const before = await trx.selectFrom('tags').select('manifest_digest').where('repository_id', '=', m.repositoryId).where('name', '=', m.tag).executeTakeFirst();
          previousTagDigest = before?.manifest_digest ?? null;
        }
        await trx
          .insertInto('tags')
          .values({ repository_id: m.repositoryId, name: m.tag, manifest_digest: m.digest, updated_at: m.pushedAt })
          .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_digest: m.digest, updated_at: m.pushedAt }))
          .execute();
      }
      return { ok: true, created } as PutManifestResult;
    }, { changes });
  }

  async getManifest(repositoryId: number, digest: string): Promise<ManifestRecord | null> {
    const row = await this.db
      .selectFrom('manifests')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? { ...toManifestHead(row), content: Buffer.from(row.content) } : null;
  }

  async statManifest(repositoryId: number, digest: string): Promise<Omit<ManifestRecord, 'content'> | null> {
    const row = await this.db
      .selectFrom('manifests')
      .select(['repository_id', 'digest', 'media_type', 'artifact_type', 'subject_digest', 'size', 'annotations', 'pushed_at', 'image_status'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? toManifestHead(row) : null;
  }

  async resolveTag(repositoryId: number, tag: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('tags')
      .select('manifest_digest')
      .where('repository_id', '=', repositoryId)
      .where('name', '=', tag)
      .executeTakeFirst();
    return row?.manifest_digest ?? null;
  }

  async deleteManifest(repositoryId: number, digest: string, changes?: (deleted: DeletedManifest) => Changes | null): Promise<boolean> {
    // Tags and references go with it (ON DELETE CASCADE).
    if (!changes) {
      const result = await this.db.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    }
    let deleted: DeletedManifest | null = null;
    return transact(
      this.db,
      async (trx) => {
        const head = await trx.selectFrom('manifests').select(['media_type', 'artifact_type']).where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
        if (!head) return false;
        const tags = await trx.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).orderBy('name').execute();
        await trx.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', '=', digest).execute();
        deleted = { tags: tags.map((t) => t.name), mediaType: head.media_type, artifactType: head.artifact_type };
        return true;
      },
      { changes: (ok) => (ok && deleted ? changes(deleted) : null) },
    );
  }

  async deleteTag(repositoryId: number, tag: string, changes?: (removed: { digest: string }) => Changes | null): Promise<boolean> {
    if (!changes) {
      const result = await this.db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    }
    let digest: string | null = null;
    return transact(
      this.db,
      async (trx) => {
        const row = await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).returning('manifest_digest').executeTakeFirst();
        digest = row?.manifest_digest ?? null;
        return digest !== null;
      },
      { changes: (ok) => (ok && digest ? changes({ digest }) : null) },
    );
  }

  async listTags(repositoryId: number, page: Page): Promise<string[]> {
    let query = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId);
    if (page.after !== undefined) query = query.where('name', '>', page.after);
    const rows = await query.orderBy('name').limit(page.limit).execute();
    return rows.map((r) => r.name);
  }

  async listReferrers(repositoryId: number, subjectDigest: string, artifactType?: string): Promise<ReferrerRecord[]> {
    let query = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'size', 'annotations', 'image_status'])
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subjectDigest);
    if (artifactType !== undefined) query = query.where('artifact_type', '=', artifactType);
    const rows = await query.orderBy('pushed_at').orderBy('digest').execute();
    return rows.map((r) => ({
      digest: r.digest,
      mediaType: r.media_type,
      artifactType: r.artifact_type,
      size: r.size,
      annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
      status: r.image_status as ImageStatus,
    }));
  }

  // ---- garbage collection ----

  async listUnreferencedLinks(before: number, limit: number, after?: BlobLink): Promise<BlobLink[]> {
    let query = this.db
      .selectFrom('repository_blobs as rb')
      .select(['rb.repository_id', 'rb.digest'])
      .where('rb.created_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('manifest_references as mr').select('mr.child_digest').whereRef('mr.repository_id', '=', 'rb.repository_id').whereRef('mr.child_digest', '=', 'rb.digest'))),
      );
    if (after) {
      query = query.where((eb) =>
        eb.or([eb('rb.repository_id', '>', after.repositoryId), eb.and([eb('rb.repository_id', '=', after.repositoryId), eb('rb.digest', '>', after.digest)])]),
      );
    }
    const rows = await query.orderBy('rb.repository_id').orderBy('rb.digest').limit(limit).execute();
    return rows.map((r) => ({ repositoryId: r.repository_id, digest: r.digest }));
  }

  async removeUnreferencedLinks(repositoryId: number, digests: string[], before: number): Promise<string[]> {
    if (digests.length === 0) return [];
    return transact(this.db, async (trx) => {
      // PostgreSQL: lock the links first (a putManifest holds them FOR SHARE while it adds
      // references), so the delete below, a new statement, sees every committed reference.
      if (this.kind === 'postgres') {
        await trx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', digests).forUpdate().execute();
      }
      const rows = await trx
        .deleteFrom('repository_blobs')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', digests)
        .where('created_at', '<', before)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('manifest_references')
                .select('manifest_references.child_digest')
                .whereRef('manifest_references.repository_id', '=', 'repository_blobs.repository_id')
                .whereRef('manifest_references.child_digest', '=', 'repository_blobs.digest'),
            ),
          ),
        )
        .returning('digest')
        .execute();
      return rows.map((r) => r.digest);
    });
  }

  async listCollectableBlobs(before: number, limit: number, after?: string): Promise<BlobRecord[]> {
    let query = this.db
      .selectFrom('blobs as b')
      .select(['b.digest', 'b.size'])
      .where('b.created_at', '<', before)
      .where('b.gc_marked_at', 'is', null)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'b.digest'))))
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifest_references as mr').select('mr.child_digest').whereRef('mr.child_digest', '=', 'b.digest'))));
    if (after !== undefined) query = query.where('b.digest', '>', after);
    return query.orderBy('b.digest').limit(limit).execute();
  }

  async markBlobsForDeletion(digests: string[], before: number, now: number): Promise<BlobRecord[]> {
    if (digests.length === 0) return [];
    return transact(this.db, async (trx) => {
      // PostgreSQL: lock the rows first (claimBlob and linkBlob lock them too), so the
      // update, a new statement, sees every link and reference committed before it.
      if (this.kind === 'postgres') await trx.selectFrom('blobs').select('digest').where('digest', 'in', digests).forUpdate().execute();
      return trx
        .updateTable('blobs')
        .set({ gc_marked_at: now })
        .where('digest', 'in', digests)
        .where('created_at', '<', before)
        .where('gc_marked_at', 'is', null)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('repository_blobs').select('repository_blobs.digest').whereRef('repository_blobs.digest', '=', 'blobs.digest'))))
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('manifest_references').select('manifest_references.child_digest').whereRef('manifest_references.child_digest', '=', 'blobs.digest'))),
        )
        .returning(['digest', 'size'])
        .execute();
    });
  }

  async markOrphanBytes(blobs: BlobRecord[], now: number): Promise<string[]> {
    if (blobs.length === 0) return [];
    const rows = await this.db
      .insertInto('blobs')
      .values(blobs.map((b) => ({ digest: b.digest, size: b.size, created_at: now, incarnation: randomUUID(), gc_marked_at: now })))
      .onConflict((oc) => oc.column('digest').doNothing())
      .returning('digest')
      .execute();
    return rows.map((r) => r.digest);
  }

  async finishBlobDeletion(marks: BlobMark[]): Promise<number> {
    if (marks.length === 0) return 0;
    return transact(this.db, async (trx) => {
      let removed = 0;
      for (const mark of marks) {
        const result = await trx.deleteFrom('blobs').where('digest', '=', mark.digest).where('gc_marked_at', '=', mark.markedAt).executeTakeFirst();
        removed += Number(result.numDeletedRows);
      }
      return removed;
    });
  }

  async listStaleMarks(before: number, limit: number): Promise<BlobMark[]> {
    const rows = await this.db
      .selectFrom('blobs')
      .select(['digest', 'size', 'gc_marked_at'])
      .where('gc_marked_at', '<', before)
      .orderBy('gc_marked_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ digest: r.digest, size: r.size, markedAt: r.gc_marked_at! }));
  }

  async existingBlobs(digests: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const slice of chunks(digests, 500)) {
      const rows = await this.db.selectFrom('blobs').select('digest').where('digest', 'in', slice).execute();
      for (const r of rows) found.add(r.digest);
    }
    return found;
  }

  // ---- jobs ----
}

class ImmutableTagConflict extends Error {
  constructor(readonly tag: string) {
    super(`tag ${tag} is immutable`);
  }
}

function toManifestHead(row: {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  size: number;
  annotations: string | null;
  pushed_at: number;
  image_status: string;
}): Omit<ManifestRecord, 'content'> {
  return {
    repositoryId: row.repository_id,
    digest: row.digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    subjectDigest: row.subject_digest,
    size: row.size,
    annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    pushedAt: row.pushed_at,
    status: row.image_status as ImageStatus,
  };
}

async function findMissingReferences(trx: Transaction<Database>, m: NewManifest, dialect: SqlDialectName): Promise<{ missingBlobs: string[]; missingManifests: string[] }> {
  const blobs = [...new Set(m.references.filter((r) => r.kind === 'blob').map((r) => r.digest))];
  const manifests = [...new Set(m.references.filter((r) => r.kind === 'manifest').map((r) => r.digest))];
  const missingBlobs: string[] = [];
  const missingManifests: string[] = [];
  for (const chunk of chunks(blobs, 500)) {
    let query = trx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', m.repositoryId).where('digest', 'in', chunk);
    // PostgreSQL: hold the links until the references commit, so garbage collection
    // (removeUnreferencedLinks) cannot remove a link this manifest is about to rely on.
    if (dialect === 'postgres') query = query.forShare();
    const found = await query.execute();
    const present = new Set(found.map((r) => r.digest));
    missingBlobs.push(...chunk.filter((d) => !present.has(d)));
  }
  for (const chunk of chunks(manifests, 500)) {
    const found = await trx
      .selectFrom('manifests')
      .select('digest')
      .where('repository_id', '=', m.repositoryId)
      .where('digest', 'in', chunk)
      .execute();
    const present = new Set(found.map((r) => r.digest));
    missingManifests.push(...chunk.filter((d) => !present.has(d)));
  }
  return { missingBlobs, missingManifests };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
