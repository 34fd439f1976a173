import semver from 'semver';

// SemVer 2.0 ordering (npm, crates.io, and OSV's SEMVER ranges) through npm's own `semver`.

function coerce(version: string): semver.SemVer {
  const v = semver.parse(version.trim().replace(/^v/, ''), { loose: true });
  if (!v) throw new Error(`invalid semver '${version}'`);
  return v;
}

export function compareSemver(a: string, b: string): number {
  return semver.compare(coerce(a), coerce(b));
}

/**
 * Go module versions: semantic versions with a `v`; pseudo-versions
 * (v0.0.0-20191109021931-daa7c04131f5, vX.Y.Z-pre.0.yyyymmddhhmmss-hash, vX.Y.(Z+1)-0.yyyymmddhhmmss-hash)
 * are pre-releases and order by semver rules; `+incompatible` is build metadata and does not
 * change the order. The pseudo-version `(devel)` and others that are not semver are rejected.
 */
export function compareGo(a: string, b: string): number {
  return compareSemver(a, b);
}
