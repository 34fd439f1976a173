import type { Inventory, InventoryPackage } from '../engine/inventory.js';
import { matchAffected } from '../osv/affected.js';
import { normalizePackageName, splitEcosystem } from '../osv/ecosystem.js';
import type { Severity } from '../osv/cvss.js';
import type { OsvRecord } from '../osv/record.js';
import { findingName, severityOf } from '../osv/severity.js';

// Matching an inventory against the database: each package is looked up by its ecosystem
// and the name the ecosystem's advisories use (Debian, Ubuntu and Alpine advisories name
// source packages, as their trackers do; rpm distributions and language ecosystems name the
// package itself), then checked against each affected entry's ranges and versions.

export interface Finding {
  name: string;
  recordId: string;
  aliases: string[];
  description: string;
  uri: string;
  references: string[];
  severity: Severity;
  cvss3?: { vector: string; score: number };
  cvss2?: { vector: string; score: number };
  vendorSeverity?: string;
  published?: string;
  modified: string;
  package: { name: string; version: string; ecosystem: string; kind: 'os' | 'lang'; sourceName?: string; path: string; arch?: string; purl: string };
  fixedIn: string | null;
}

export interface VulnLookup {
  /** Records naming any of these packages in this ecosystem base (any release). */
  recordsFor(base: string, names: string[]): Promise<OsvRecord[]>;
}

const SOURCE_KEYED = new Set(['Debian', 'Ubuntu', 'Alpine']);

export function lookupName(p: InventoryPackage): string {
  return normalizePackageName(p.ecosystem, SOURCE_KEYED.has(p.ecosystem) ? (p.sourceName ?? p.name) : p.name);
}

function lookupVersion(p: InventoryPackage): string {
  return SOURCE_KEYED.has(p.ecosystem) ? (p.sourceVersion ?? p.version) : p.version;
}

export interface MatchOptions {
  /** BASIC covers OS packages only; ENHANCED adds language packages. */
  scanType: 'BASIC' | 'ENHANCED';
}

export async function matchInventory(inventory: Inventory, db: VulnLookup, options: MatchOptions): Promise<Finding[]> {
  const packages = inventory.packages.filter((p) => options.scanType === 'ENHANCED' || p.kind === 'os');
  const release = inventory.os?.ecosystem ? splitEcosystem(inventory.os.ecosystem).release : '';
  const byBase = new Map<string, InventoryPackage[]>();
  for (const p of packages) {
    const list = byBase.get(p.ecosystem) ?? [];
    list.push(p);
    byBase.set(p.ecosystem, list);
  }
  const findings = new Map<string, Finding>();
  for (const [base, list] of byBase) {
    const records = await db.recordsFor(base, [...new Set(list.map(lookupName))]);
    const byName = new Map<string, { record: OsvRecord; index: number }[]>();
    for (const record of records) {
      if (record.withdrawn) continue;
      (record.affected ?? []).forEach((a, index) => {
        if (!a.package) return;
        const eco = splitEcosystem(a.package.ecosystem);
        if (eco.base !== base) return;
        const isOs = SOURCE_KEYED.has(base) || list[0]!.kind === 'os';
        if (isOs && eco.release !== '' && release !== '' && eco.release !== release) return;
        const key = normalizePackageName(base, a.package.name);
        const l = byName.get(key) ?? [];
        l.push({ record, index });
        byName.set(key, l);
      });
    }
    for (const p of list) {
      for (const { record, index } of byName.get(lookupName(p)) ?? []) {
        const affected = record.affected![index]!;
        const hit = matchAffected(affected.package!.ecosystem, lookupVersion(p), affected);
        if (!hit) continue;
        const name = findingName(record);
        const key = `${name}|${p.ecosystem}|${p.name}|${p.version}|${p.path}`;
        const previous = findings.get(key);
        if (previous && (previous.fixedIn || !hit.fixedIn)) continue;
        const sev = severityOf(record, affected);
        findings.set(key, {
          name,
          recordId: record.id,
          aliases: record.aliases ?? [],
          description: (record.summary || record.details || name).slice(0, 2000),
          uri: record.references?.find((r) => r.type === 'ADVISORY')?.url ?? record.references?.[0]?.url ?? `https://osv.dev/vulnerability/${record.id}`,
          references: (record.references ?? []).map((r) => r.url).slice(0, 20),
          severity: sev.severity,
          ...(sev.cvss3 ? { cvss3: sev.cvss3 } : {}),
          ...(sev.cvss2 ? { cvss2: sev.cvss2 } : {}),
          ...(sev.vendorSeverity ? { vendorSeverity: sev.vendorSeverity } : {}),
          published: record.published,
          modified: record.modified,
          package: { name: p.name, version: p.version, ecosystem: p.ecosystem, kind: p.kind, sourceName: p.sourceName, path: p.path, arch: p.arch, purl: p.purl },
          fixedIn: hit.fixedIn,
        });
      }
    }
  }
  const order: Severity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];
  return [...findings.values()].sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity) || a.name.localeCompare(b.name) || a.package.name.localeCompare(b.package.name));
}

export function severityCounts(findings: { severity: Severity }[]): Partial<Record<Severity, number>> {
  const out: Partial<Record<Severity, number>> = {};
  for (const f of findings) out[f.severity] = (out[f.severity] ?? 0) + 1;
  return out;
}
