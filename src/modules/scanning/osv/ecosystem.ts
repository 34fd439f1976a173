import { baseEcosystem } from '../versions/index.js';

/** An OSV ecosystem as (base, release): "Ubuntu:22.04:LTS" -> Ubuntu, 22.04; "Alpine:v3.19" -> Alpine, v3.19; "npm" -> npm, "". */
export function splitEcosystem(ecosystem: string): { base: string; release: string } {
  const base = baseEcosystem(ecosystem);
  let rest = ecosystem.slice(base.length + 1);
  if (base === 'Ubuntu') rest = rest.replace(/^Pro:/, '').replace(/:LTS$/, '');
  return { base, release: rest };
}

/** Package names compare as each ecosystem's registry does (PyPI normalizes case and separators). */
export function normalizePackageName(base: string, name: string): string {
  if (base === 'PyPI') return name.toLowerCase().replace(/[-_.]+/g, '-');
  return name;
}
