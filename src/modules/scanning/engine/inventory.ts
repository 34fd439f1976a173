// What a scan finds in an image: its distribution and its packages. Stored per image, so a
// rescan after a database update matches again without reading a layer.

export interface OsInfo {
  /** os-release ID: debian, ubuntu, alpine, rhel, rocky, almalinux, fedora, ... */
  id: string;
  versionId: string;
  name: string;
  /** The OSV ecosystem of its packages, with the release: "Debian:12", "Alpine:v3.19", ... */
  ecosystem: string | null;
}

export type PackageKind = 'os' | 'lang';

export interface InventoryPackage {
  kind: PackageKind;
  /** OSV ecosystem base: Debian, Ubuntu, Alpine, Rocky Linux, npm, PyPI, Go, Maven, RubyGems, crates.io. */
  ecosystem: string;
  name: string;
  version: string;
  /** Debian/Ubuntu (and apk origin): the source package the trackers key on. */
  sourceName?: string;
  sourceVersion?: string;
  arch?: string;
  /** Where it was found in the image (for findings' file paths). */
  path: string;
  /** package-url. */
  purl: string;
}

export interface Inventory {
  os: OsInfo | null;
  packages: InventoryPackage[];
  /** Set when the image has a package database Berth cannot read (BerkeleyDB rpmdb). */
  unsupportedReason?: string;
  layers: string[];
}

export function purlOf(p: { ecosystem: string; name: string; version: string; arch?: string }, os: OsInfo | null): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%2F/g, '/');
  const ver = encodeURIComponent(p.version);
  switch (p.ecosystem) {
    case 'Debian':
    case 'Ubuntu':
      return `pkg:deb/${p.ecosystem.toLowerCase()}/${enc(p.name)}@${ver}${p.arch ? `?arch=${p.arch}` : ''}${os ? `${p.arch ? '&' : '?'}distro=${os.id}-${os.versionId}` : ''}`;
    case 'Alpine':
      return `pkg:apk/alpine/${enc(p.name)}@${ver}${p.arch ? `?arch=${p.arch}` : ''}`;
    case 'npm':
      return `pkg:npm/${p.name.startsWith('@') ? `%40${enc(p.name.slice(1))}` : enc(p.name)}@${ver}`;
    case 'PyPI':
      return `pkg:pypi/${enc(p.name.toLowerCase().replace(/[-_.]+/g, '-'))}@${ver}`;
    case 'Go':
      return `pkg:golang/${enc(p.name)}@${ver}`;
    case 'Maven': {
      const [g, a] = p.name.split(':');
      return `pkg:maven/${enc(g ?? '')}/${enc(a ?? '')}@${ver}`;
    }
    case 'RubyGems':
      return `pkg:gem/${enc(p.name)}@${ver}`;
    case 'crates.io':
      return `pkg:cargo/${enc(p.name)}@${ver}`;
    default:
      return `pkg:rpm/${os?.id ?? 'unknown'}/${enc(p.name)}@${ver}${p.arch ? `?arch=${p.arch}` : ''}`;
  }
}
