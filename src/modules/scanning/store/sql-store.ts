import type { Kysely } from 'kysely';
import { transact } from '../../../stores/metadata/sqlite-group-commit.js';
import type { Inventory } from '../engine/inventory.js';
import type { Finding } from '../match/findings.js';
import { normalizePackageName, splitEcosystem } from '../osv/ecosystem.js';
import type { OsvRecord } from '../osv/record.js';

// The scanning module's SQL: the vulnerability database (records and an index of the
// packages they name), registry scanning configuration, stored inventories and scans.

export type ScanStatus = 'IN_PROGRESS' | 'COMPLETE' | 'FAILED' | 'UNSUPPORTED_IMAGE' | 'ACTIVE' | 'PENDING' | 'SCAN_ELIGIBILITY_EXPIRED' | 'FINDINGS_UNAVAILABLE' | 'LIMIT_EXCEEDED' | 'IMAGE_ARCHIVED';
export type ScanType = 'BASIC' | 'ENHANCED';

export interface ScanRecord {
  registryId: string;
  repository: string;
  digest: string;
  scanType: ScanType;
  status: ScanStatus;
  description: string;
  startedAt: number;
  completedAt: number | null;
  sourceUpdatedAt: number | null;
  findings: Finding[] | null;
  counts: Record<string, number> | null;
  /** Finding key -> first time it was seen (Inspector's firstObservedAt survives rescans). */
  firstObserved: Record<string, number>;
}

export interface RegistryScanConfig {
  scanType: ScanType;
  rules: { scanFrequency: 'SCAN_ON_PUSH' | 'CONTINUOUS_SCAN' | 'MANUAL'; repositoryFilters: { filter: string; filterType: 'WILDCARD' }[] }[];
  updatedAt: number;
  /** False when nobody ever put one (the default: BASIC, no rules). */
  explicit: boolean;
}

export interface ImportRecord {
  id: string;
  source: string;
  state: 'QUEUED' | 'RUNNING' | 'COMPLETE' | 'FAILED';
  createdAt: number;
  finishedAt: number | null;
  progress: { records: number; files: number } | null;
  summary: ImportSummary | null;
  error: string | null;
}

export interface ImportSummary {
  records: number;
  added: number;
  updated: number;
  unchanged: number;
  skipped: number;
  skippedReasons: Record<string, number>;
  ecosystems: Record<string, number>;
  changedIds?: number;
}

export interface UpsertResult {
  added: number;
  updated: number;
  unchanged: number;
  changed: { base: string; packages: string[] }[];
}

const BATCH = 400;

function chunks<T>(items: T[], size = BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class ScanningStore {
  constructor(private readonly db: Kysely<any>) {}

  // ---- vulnerability database ----

  /** Adds or replaces records whose `modified` is newer than what is stored. */
  async upsertRecords(records: OsvRecord[], now: number): Promise<UpsertResult> {
    const result: UpsertResult = { added: 0, updated: 0, unchanged: 0, changed: [] };
    if (records.length === 0) return result;
    // Last one wins within a batch.
    const byId = new Map(records.map((r) => [r.id, r]));
    await transact(this.db, async (trx) => {
      for (const batch of chunks([...byId.values()])) {
        const existing = new Map<string, number>(
          (await trx.selectFrom('vuln_records').select(['id', 'modified']).where('id', 'in', batch.map((r) => r.id)).execute()).map((r: any) => [r.id, Number(r.modified)]),
        );
        const fresh = batch.filter((r) => {
          const prev = existing.get(r.id);
          if (prev === undefined) return true;
          return Date.parse(r.modified) > prev;
        });
        result.unchanged += batch.length - fresh.length;
        if (fresh.length === 0) continue;
        const replaced = fresh.filter((r) => existing.has(r.id)).map((r) => r.id);
        result.updated += replaced.length;
        result.added += fresh.length - replaced.length;
        if (replaced.length) {
          await trx.deleteFrom('vuln_affected').where('record_id', 'in', replaced).execute();
          await trx.deleteFrom('vuln_records').where('id', 'in', replaced).execute();
        }
        await trx
          .insertInto('vuln_records')
          .values(fresh.map((r) => ({ id: r.id, modified: Date.parse(r.modified), record: JSON.stringify(r), imported_at: now })))
          .execute();
        const rows = new Map<string, { record_id: string; ecosystem: string; release: string; package: string }>();
        for (const r of fresh) {
          for (const a of r.affected ?? []) {
            if (!a.package) continue;
            const { base, release } = splitEcosystem(a.package.ecosystem);
            const pkg = normalizePackageName(base, a.package.name);
            rows.set(`${r.id}\0${base}\0${release}\0${pkg}`, { record_id: r.id, ecosystem: base, release, package: pkg });
            result.changed.push({ base, packages: [pkg] });
          }
        }
        for (const part of chunks([...rows.values()], 200)) await trx.insertInto('vuln_affected').values(part).execute();
      }
    }, { durable: false });
    return result;
  }

  async recordsFor(base: string, names: string[]): Promise<OsvRecord[]> {
    const ids = new Set<string>();
    for (const batch of chunks(names)) {
      const rows = await this.db.selectFrom('vuln_affected').select('record_id').where('ecosystem', '=', base).where('package', 'in', batch).execute();
      for (const r of rows as { record_id: string }[]) ids.add(r.record_id);
    }
    const out: OsvRecord[] = [];
    for (const batch of chunks([...ids])) {
      const rows = await this.db.selectFrom('vuln_records').select('record').where('id', 'in', batch).execute();
      for (const r of rows as { record: string }[]) out.push(JSON.parse(r.record));
    }
    return out;
  }

  async dbStatus(): Promise<{ records: number; ecosystems: Record<string, number>; updatedAt: number | null }> {
    const count = (await this.db.selectFrom('vuln_records').select((eb: any) => eb.fn.countAll().as('n')).executeTakeFirst()) as { n: number | string } | undefined;
    const ecos = (await this.db.selectFrom('vuln_affected').select(['ecosystem', (eb: any) => eb.fn.count('record_id').distinct().as('n')]).groupBy('ecosystem').execute()) as unknown as { ecosystem: string; n: number | string }[];
    const updated = await this.getMeta('updated_at');
    return { records: Number(count?.n ?? 0), ecosystems: Object.fromEntries(ecos.map((e) => [e.ecosystem, Number(e.n)])), updatedAt: updated ? Number(updated) : null };
  }

  async getMeta(key: string): Promise<string | null> {
    const row = (await this.db.selectFrom('vuln_db_meta').select('value').where('key', '=', key).executeTakeFirst()) as { value: string } | undefined;
    return row?.value ?? null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await transact(this.db, (trx) => trx.insertInto('vuln_db_meta').values({ key, value }).onConflict((oc: any) => oc.column('key').doUpdateSet({ value })).execute());
  }

  // ---- imports (job state the CLI polls) ----

  async createImport(id: string, source: string, now: number): Promise<void> {
    await transact(this.db, (trx) => trx.insertInto('vuln_imports').values({ id, source, state: 'QUEUED', created_at: now }).execute());
  }

  async updateImport(id: string, patch: Partial<Pick<ImportRecord, 'state' | 'finishedAt' | 'progress' | 'summary' | 'error'>>): Promise<void> {
    const values: Record<string, unknown> = {};
    if (patch.state) values.state = patch.state;
    if (patch.finishedAt !== undefined) values.finished_at = patch.finishedAt;
    if (patch.progress !== undefined) values.progress = JSON.stringify(patch.progress);
    if (patch.summary !== undefined) values.summary = JSON.stringify(patch.summary);
    if (patch.error !== undefined) values.error = patch.error;
    await transact(this.db, (trx) => trx.updateTable('vuln_imports').set(values).where('id', '=', id).execute(), { durable: false });
  }

  async getImport(id: string): Promise<ImportRecord | null> {
    const r = (await this.db.selectFrom('vuln_imports').selectAll().where('id', '=', id).executeTakeFirst()) as any;
    return r ? toImport(r) : null;
  }

  async lastImports(limit: number): Promise<ImportRecord[]> {
    return ((await this.db.selectFrom('vuln_imports').selectAll().orderBy('created_at', 'desc').limit(limit).execute()) as any[]).map(toImport);
  }

  // ---- registry configuration ----

  async getRegistryConfig(registryId: string): Promise<RegistryScanConfig> {
    const r = (await this.db.selectFrom('scan_registry_config').selectAll().where('registry_id', '=', registryId).executeTakeFirst()) as any;
    if (!r) return { scanType: 'BASIC', rules: [], updatedAt: 0, explicit: false };
    return { scanType: r.scan_type, rules: JSON.parse(r.rules), updatedAt: Number(r.updated_at), explicit: true };
  }

  async putRegistryConfig(registryId: string, config: Omit<RegistryScanConfig, 'explicit'>): Promise<void> {
    const values = { registry_id: registryId, scan_type: config.scanType, rules: JSON.stringify(config.rules), updated_at: config.updatedAt };
    await transact(this.db, (trx) =>
      trx.insertInto('scan_registry_config').values(values).onConflict((oc: any) => oc.column('registry_id').doUpdateSet({ scan_type: values.scan_type, rules: values.rules, updated_at: values.updated_at })).execute(),
    );
  }

  async continuousRegistries(): Promise<string[]> {
    const rows = (await this.db.selectFrom('scan_registry_config').select(['registry_id', 'rules']).where('scan_type', '=', 'ENHANCED').execute()) as { registry_id: string; rules: string }[];
    return rows.filter((r) => (JSON.parse(r.rules) as RegistryScanConfig['rules']).some((x) => x.scanFrequency === 'CONTINUOUS_SCAN')).map((r) => r.registry_id);
  }

  // ---- inventories and scans ----

  async putInventory(digest: string, inventory: Inventory, now: number): Promise<void> {
    const value = JSON.stringify(inventory);
    await transact(this.db, (trx) => trx.insertInto('image_inventories').values({ digest, inventory: value, scanned_at: now }).onConflict((oc: any) => oc.column('digest').doUpdateSet({ inventory: value, scanned_at: now })).execute(), {
      durable: false,
    });
  }

  async getInventory(digest: string): Promise<Inventory | null> {
    const r = (await this.db.selectFrom('image_inventories').select('inventory').where('digest', '=', digest).executeTakeFirst()) as { inventory: string } | undefined;
    return r ? JSON.parse(r.inventory) : null;
  }

  async getScan(registryId: string, repository: string, digest: string, scanType: ScanType): Promise<ScanRecord | null> {
    const r = (await this.db.selectFrom('image_scans').selectAll().where('registry_id', '=', registryId).where('repository', '=', repository).where('digest', '=', digest).where('scan_type', '=', scanType).executeTakeFirst()) as any;
    return r ? toScan(r) : null;
  }

  async getScans(registryId: string, repository: string, digests: string[], scanType: ScanType): Promise<ScanRecord[]> {
    if (digests.length === 0) return [];
    const rows = (await this.db
      .selectFrom('image_scans')
      .select(['registry_id', 'repository', 'digest', 'scan_type', 'status', 'description', 'started_at', 'completed_at', 'source_updated_at', 'counts'])
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('digest', 'in', digests)
      .where('scan_type', '=', scanType)
      .execute()) as any[];
    return rows.map((r) => toScan({ ...r, findings: null, first_observed: null }));
  }

  async putScan(scan: ScanRecord): Promise<void> {
    const values = {
      registry_id: scan.registryId,
      repository: scan.repository,
      digest: scan.digest,
      scan_type: scan.scanType,
      status: scan.status,
      description: scan.description,
      started_at: scan.startedAt,
      completed_at: scan.completedAt,
      source_updated_at: scan.sourceUpdatedAt,
      findings: scan.findings ? JSON.stringify(scan.findings) : null,
      counts: scan.counts ? JSON.stringify(scan.counts) : null,
      first_observed: JSON.stringify(scan.firstObserved),
    };
    const { registry_id: _a, repository: _b, digest: _c, scan_type: _d, ...rest } = values;
    await transact(this.db, (trx) =>
      trx
        .insertInto('image_scans')
        .values(values)
        .onConflict((oc: any) => oc.columns(['registry_id', 'repository', 'digest', 'scan_type']).doUpdateSet(rest))
        .execute(),
    );
  }

  /** Scans to recompute after an import: completed ones of the registries given. */
  async completedScans(registryIds: string[], scanType: ScanType, after: { registryId: string; repository: string; digest: string } | null, limit: number) {
    if (registryIds.length === 0) return [];
    let q = this.db
      .selectFrom('image_scans')
      .select(['registry_id', 'repository', 'digest'])
      .where('registry_id', 'in', registryIds)
      .where('scan_type', '=', scanType)
      .where('status', '=', scanType === 'ENHANCED' ? 'ACTIVE' : 'COMPLETE');
    if (after) {
      q = q.where((eb: any) =>
        eb.or([
          eb('registry_id', '>', after.registryId),
          eb.and([eb('registry_id', '=', after.registryId), eb('repository', '>', after.repository)]),
          eb.and([eb('registry_id', '=', after.registryId), eb('repository', '=', after.repository), eb('digest', '>', after.digest)]),
        ]),
      );
    }
    const rows = (await q.orderBy('registry_id').orderBy('repository').orderBy('digest').limit(limit).execute()) as any[];
    return rows.map((r) => ({ registryId: r.registry_id as string, repository: r.repository as string, digest: r.digest as string }));
  }

  async deleteScans(registryId: string, repository: string, digest: string | null): Promise<void> {
    await transact(this.db, (trx) => {
      let q = trx.deleteFrom('image_scans').where('registry_id', '=', registryId).where('repository', '=', repository);
      if (digest) q = q.where('digest', '=', digest);
      return q.execute();
    });
  }
}

function toImport(r: any): ImportRecord {
  return {
    id: r.id,
    source: r.source,
    state: r.state,
    createdAt: Number(r.created_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    progress: r.progress ? JSON.parse(r.progress) : null,
    summary: r.summary ? JSON.parse(r.summary) : null,
    error: r.error ?? null,
  };
}

function toScan(r: any): ScanRecord {
  return {
    registryId: r.registry_id,
    repository: r.repository,
    digest: r.digest,
    scanType: r.scan_type,
    status: r.status,
    description: r.description,
    startedAt: Number(r.started_at),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
    sourceUpdatedAt: r.source_updated_at === null ? null : Number(r.source_updated_at),
    findings: r.findings ? JSON.parse(r.findings) : null,
    counts: r.counts ? JSON.parse(r.counts) : null,
    firstObserved: r.first_observed ? JSON.parse(r.first_observed) : {},
  };
}
