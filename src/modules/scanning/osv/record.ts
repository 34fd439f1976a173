// The OSV schema (https://ossf.github.io/osv-schema/), the parts Berth reads.

export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  type: 'SEMVER' | 'ECOSYSTEM' | 'GIT' | string;
  repo?: string;
  events: OsvEvent[];
}

export interface OsvSeverity {
  type: 'CVSS_V2' | 'CVSS_V3' | 'CVSS_V4' | string;
  score: string;
}

export interface OsvAffected {
  package?: { ecosystem: string; name: string; purl?: string };
  severity?: OsvSeverity[];
  ranges?: OsvRange[];
  versions?: string[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvRecord {
  schema_version?: string;
  id: string;
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  upstream?: string[];
  related?: string[];
  summary?: string;
  details?: string;
  severity?: OsvSeverity[];
  affected?: OsvAffected[];
  references?: { type: string; url: string }[];
  database_specific?: Record<string, unknown>;
}

/** Checks the fields Berth relies on; returns the reason a record is skipped, or null. */
export function invalidReason(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.id !== 'string' || r.id.length === 0 || r.id.length > 256) return 'missing or invalid id';
  if (typeof r.modified !== 'string' || Number.isNaN(Date.parse(r.modified))) return 'missing or invalid modified time';
  if (r.affected !== undefined && !Array.isArray(r.affected)) return 'affected is not a list';
  for (const a of (r.affected as unknown[] | undefined) ?? []) {
    if (typeof a !== 'object' || a === null) return 'affected entry is not an object';
    const p = (a as OsvAffected).package;
    if (p !== undefined && (typeof p.ecosystem !== 'string' || typeof p.name !== 'string')) return 'affected package without ecosystem or name';
    const ranges = (a as OsvAffected).ranges;
    if (ranges !== undefined && (!Array.isArray(ranges) || ranges.some((x) => !x || !Array.isArray(x.events)))) return 'range without events';
    const versions = (a as OsvAffected).versions;
    if (versions !== undefined && (!Array.isArray(versions) || versions.some((v) => typeof v !== 'string'))) return 'versions is not a list of strings';
  }
  return null;
}
