// Which entries of a layer the engine reads, by path. Everything else is skipped unread
// (drained from the stream), except executables, which are searched for Go build info.

export type Interest =
  | { kind: 'os-release' | 'debian-version' | 'alpine-release' }
  | { kind: 'dpkg-status' | 'dpkg-status-d' | 'apk-installed' | 'rpm-sqlite' }
  | { kind: 'rpm-bdb' }
  | { kind: 'package-lock' | 'node-package' | 'python-metadata' | 'gemspec' | 'cargo-lock' }
  | { kind: 'jar' };

export const OS_RELEASE_PATHS = ['etc/os-release', 'usr/lib/os-release'];

export function classify(path: string): Interest | null {
  switch (path) {
    case 'etc/os-release':
    case 'usr/lib/os-release':
      return { kind: 'os-release' };
    case 'etc/debian_version':
      return { kind: 'debian-version' };
    case 'etc/alpine-release':
      return { kind: 'alpine-release' };
    case 'var/lib/dpkg/status':
      return { kind: 'dpkg-status' };
    case 'lib/apk/db/installed':
      return { kind: 'apk-installed' };
    case 'var/lib/rpm/rpmdb.sqlite':
    case 'usr/lib/sysimage/rpm/rpmdb.sqlite':
      return { kind: 'rpm-sqlite' };
    case 'var/lib/rpm/Packages':
    case 'var/lib/rpm/Packages.db':
    case 'usr/lib/sysimage/rpm/Packages.db':
      return { kind: 'rpm-bdb' };
  }
  if (path.startsWith('var/lib/dpkg/status.d/') && !path.endsWith('.md5sums') && path.indexOf('/', 'var/lib/dpkg/status.d/'.length) < 0) return { kind: 'dpkg-status-d' };
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base === 'package-lock.json' || base === '.package-lock.json' || base === 'npm-shrinkwrap.json') return path.includes('node_modules/') && base !== '.package-lock.json' ? null : { kind: 'package-lock' };
  if (base === 'package.json' && /(^|\/)node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/.test(path)) return { kind: 'node-package' };
  if (/\.dist-info\/METADATA$/.test(path) || /\.egg-info\/PKG-INFO$/.test(path) || (/\.egg-info$/.test(path) && path.includes('-packages/'))) return { kind: 'python-metadata' };
  if (/(^|\/)specifications\/[^/]+\.gemspec$/.test(path)) return { kind: 'gemspec' };
  if (base === 'Cargo.lock') return { kind: 'cargo-lock' };
  if (/\.(jar|war|ear)$/i.test(base)) return { kind: 'jar' };
  return null;
}
