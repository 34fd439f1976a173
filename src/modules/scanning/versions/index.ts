import { compareApk } from './apk.js';
import { compareDpkg } from './dpkg.js';
import { compareMaven } from './maven.js';
import { comparePep440 } from './pep440.js';
import { compareRpm } from './rpm.js';
import { compareRubyGems } from './rubygems.js';
import { compareGo, compareSemver } from './semver.js';

export type Comparator = (a: string, b: string) => number;

/** OSV ecosystem name (without its `:release` suffix) to the ordering its versions follow. */
const BY_ECOSYSTEM: Record<string, Comparator> = {
  Debian: compareDpkg,
  Ubuntu: compareDpkg,
  Alpine: compareApk,
  'Red Hat': compareRpm,
  'Rocky Linux': compareRpm,
  AlmaLinux: compareRpm,
  Fedora: compareRpm,
  openSUSE: compareRpm,
  SUSE: compareRpm,
  npm: compareSemver,
  'crates.io': compareSemver,
  Go: compareGo,
  PyPI: comparePep440,
  Maven: compareMaven,
  RubyGems: compareRubyGems,
};

/** The base ecosystem of an OSV ecosystem string ("Debian:12" -> "Debian", "Ubuntu:22.04:LTS" -> "Ubuntu"). */
export function baseEcosystem(ecosystem: string): string {
  const i = ecosystem.indexOf(':');
  return i < 0 ? ecosystem : ecosystem.slice(0, i);
}

export function comparatorFor(ecosystem: string): Comparator | null {
  return BY_ECOSYSTEM[baseEcosystem(ecosystem)] ?? null;
}

export const supportedEcosystems = Object.keys(BY_ECOSYSTEM);
