import { comparatorFor, type Comparator } from '../versions/index.js';
import type { OsvAffected, OsvEvent } from './record.js';

// Whether a package version falls in an OSV `affected` entry, by the schema's evaluation
// algorithm: listed in `versions`, or inside a SEMVER/ECOSYSTEM range (sorted events;
// introduced opens, fixed closes at that version, last_affected closes after it, limit caps).
// GIT ranges name commits, not package versions: such entries match through `versions` only
// (osv.dev fills it for git-based records).

export interface AffectedMatch {
  /** The first fixed version above the installed one, if the range names one. */
  fixedIn: string | null;
}

function eventVersion(e: OsvEvent): string {
  return e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '0';
}

function sortEvents(events: OsvEvent[], cmp: Comparator): OsvEvent[] {
  const key = (e: OsvEvent) => eventVersion(e);
  return [...events].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === '0' && a.introduced !== undefined) return y === '0' && b.introduced !== undefined ? 0 : -1;
    if (y === '0' && b.introduced !== undefined) return 1;
    return safe(cmp, x, y);
  });
}

function safe(cmp: Comparator, a: string, b: string): number {
  try {
    return cmp(a, b);
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}

function inRange(version: string, events: OsvEvent[], cmp: Comparator): AffectedMatch | null {
  const sorted = sortEvents(events, cmp);
  let vulnerable = false;
  for (const e of sorted) {
    if (e.introduced !== undefined && (e.introduced === '0' || cmp(e.introduced, version) <= 0)) vulnerable = true;
    else if (e.fixed !== undefined && cmp(e.fixed, version) <= 0) vulnerable = false;
    else if (e.last_affected !== undefined && cmp(e.last_affected, version) < 0) vulnerable = false;
    else if (e.limit !== undefined && e.limit !== '*' && cmp(e.limit, version) <= 0) vulnerable = false;
  }
  if (!vulnerable) return null;
  const fixes = sorted.filter((e) => e.fixed !== undefined && safe(cmp, e.fixed, version) > 0).map((e) => e.fixed!);
  return { fixedIn: fixes[0] ?? null };
}

export function matchAffected(ecosystem: string, version: string, affected: OsvAffected): AffectedMatch | null {
  if (affected.versions?.includes(version)) return { fixedIn: fixedOf(affected) };
  const cmp = comparatorFor(ecosystem);
  for (const range of affected.ranges ?? []) {
    if (range.type === 'GIT') continue;
    const c = range.type === 'SEMVER' ? comparatorFor('npm')! : cmp;
    if (!c) continue;
    try {
      const hit = inRange(version, range.events, c);
      if (hit) return hit;
    } catch {
      // A version this ecosystem cannot parse is not in the range.
    }
  }
  return null;
}

function fixedOf(affected: OsvAffected): string | null {
  for (const r of affected.ranges ?? []) for (const e of r.events) if (e.fixed !== undefined && r.type !== 'GIT') return e.fixed;
  return null;
}
