import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { decodeLayer } from './decompress.js';
import { ScanRefused, UnsupportedImage } from './errors.js';
import { classify, OS_RELEASE_PATHS, type Interest } from './classify.js';
import { purlOf, type Inventory, type InventoryPackage, type OsInfo } from './inventory.js';
import { normalizeEntryPath, resolveLinkTarget } from './paths.js';
import { parseApkInstalled } from './parsers/apk.js';
import { parseDpkgStatus } from './parsers/dpkg.js';
import { BUILDINFO_MAGIC, parseBuildInfo } from './parsers/go-buildinfo.js';
import { scanJar } from './parsers/jar.js';
import { parseCargoLock, parseGemspec, parseInstalledPackageJson, parsePackageLock, parsePythonMetadata, type LangEntry } from './parsers/lang.js';
import { osFromAlpineRelease, osFromDebianVersion, osFromRelease } from './parsers/os-release.js';
import { readRpmSqlite } from './parsers/rpm.js';

// The engine: reads each layer once, in order, as a stream. It keeps only the few metadata
// files it needs (size-capped) and what it parsed out of the others, keyed by path with the
// layer that wrote them, so that a later layer's whiteout (`.wh.<name>`) or opaque
// directory (`.wh..wh..opq`) removes what lower layers put there.

export interface LayerSource {
  digest: string;
  open(): Promise<Readable>;
}

export interface EngineLimits {
  /** Largest metadata file read into memory (dpkg status, rpmdb.sqlite, package-lock.json, ...). */
  maxMetadataBytes: number;
  /** Largest jar read into memory (zips need random access); larger ones are skipped. */
  maxJarBytes: number;
  maxUncompressedBytesPerLayer: number;
  maxCompressionRatio: number;
  maxEntriesPerLayer: number;
}

export const defaultEngineLimits: EngineLimits = {
  maxMetadataBytes: 64 * 1024 * 1024,
  maxJarBytes: 32 * 1024 * 1024,
  maxUncompressedBytesPerLayer: 16 * 1024 * 1024 * 1024,
  maxCompressionRatio: 200,
  maxEntriesPerLayer: 2_000_000,
};

interface Held {
  layer: number;
  interest?: Interest;
  data?: Buffer;
  packages?: LangEntry[];
  /** A symbolic link (only kept for the OS files). */
  symlink?: string;
  /** An rpm BerkeleyDB: present, unreadable. */
  bdb?: boolean;
}

export interface ScanStats {
  compressedBytes: number;
  uncompressedBytes: number;
  entries: number;
}

const GO_CAPTURE = 512 * 1024;

export async function scanImage(layers: LayerSource[], limits: EngineLimits = defaultEngineLimits, stats?: ScanStats, signal?: AbortSignal): Promise<Inventory> {
  const held = new Map<string, Held>();
  for (let index = 0; index < layers.length; index++) {
    if (signal?.aborted) throw new ScanRefused('scan aborted');
    await readLayer(layers[index]!, index, held, limits, stats);
  }
  return assemble(held, layers.map((l) => l.digest));
}

function removeBelow(held: Map<string, Held>, prefix: string, layer: number, childrenOnly: boolean): void {
  for (const [path, h] of held) {
    if (h.layer >= layer) continue;
    if ((!childrenOnly && path === prefix) || path.startsWith(prefix === '' ? '' : `${prefix}/`)) held.delete(path);
  }
}

async function readLayer(layer: LayerSource, index: number, held: Map<string, Held>, limits: EngineLimits, stats?: ScanStats): Promise<void> {
  const source = await layer.open();
  let compressed = 0;
  source.on('data', (c: Buffer) => (compressed += c.length));
  const { tar: tarStream } = decodeLayer(source, { maxUncompressedBytes: limits.maxUncompressedBytesPerLayer, maxRatio: limits.maxCompressionRatio });
  const extract = tar.extract();
  let streamError: Error | null = null;
  tarStream.on('error', (err) => {
    streamError = err;
    extract.destroy(err);
  });
  tarStream.pipe(extract);
  const seen = new Set<string>();
  const short = layer.digest.slice(0, 19);
  let entries = 0;
  let uncompressed = 0;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      if (++entries > limits.maxEntriesPerLayer) throw new ScanRefused(`layer ${short}: more than ${limits.maxEntriesPerLayer} entries`);
      const path = normalizeEntryPath(header.name, short);
      const base = path.slice(path.lastIndexOf('/') + 1);
      const dir = path.slice(0, Math.max(0, path.lastIndexOf('/')));
      if (base === '.wh..wh..opq') {
        removeBelow(held, dir, index, true);
        entry.resume();
        continue;
      }
      if (base.startsWith('.wh.')) {
        removeBelow(held, dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`, index, false);
        entry.resume();
        continue;
      }
      if (seen.size < limits.maxEntriesPerLayer) seen.add(path);
      // Anything this layer puts at a path replaces what lower layers had there.
      const lower = held.get(path);
      if (lower && lower.layer < index) held.delete(path);
      if (header.type === 'directory') {
        removeBelow(held, path, index, true); // a directory over a file: the file is gone
        entry.resume();
        continue;
      }
      if (header.type === 'link') {
        const target = normalizeEntryPath(header.linkname ?? '', short);
        if (!seen.has(target) && !held.has(target)) throw new ScanRefused(`layer ${short}: hard link '${path}' to '${target}', which is not in the archive`);
        const t = held.get(target);
        if (t && classify(path)) held.set(path, { ...t, layer: index, interest: classify(path)! });
        entry.resume();
        continue;
      }
      if (header.type === 'symlink') {
        if (OS_RELEASE_PATHS.includes(path) || classify(path)) held.set(path, { layer: index, symlink: resolveLinkTarget(path, header.linkname ?? '') ?? '' });
        entry.resume();
        continue;
      }
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const size = header.size ?? 0;
      const interest = classify(path);
      if (interest?.kind === 'rpm-bdb') {
        held.set(path, { layer: index, interest, bdb: true });
        entry.resume();
        continue;
      }
      if (interest && interest.kind !== 'jar') {
        if (size > limits.maxMetadataBytes) throw new ScanRefused(`layer ${short}: ${path} is ${size} bytes, over the ${limits.maxMetadataBytes}-byte limit for a metadata file`);
        const data = await readAll(entry as unknown as Readable, limits.maxMetadataBytes, path);
        uncompressed += data.length;
        held.set(path, { layer: index, interest, ...parseEarly(interest, path, data) });
        continue;
      }
      if (interest?.kind === 'jar' && size <= limits.maxJarBytes) {
        const data = await readAll(entry as unknown as Readable, limits.maxJarBytes, path);
        uncompressed += data.length;
        const packages = await scanJar(data, { maxNestedBytes: limits.maxJarBytes, maxDepth: 3, maxEntries: 100_000 }).catch((err: Error) => {
          throw new ScanRefused(`layer ${short}: ${path}: malformed jar (${err.message})`);
        });
        if (packages.length) held.set(path, { layer: index, interest, packages });
        continue;
      }
      if ((header.mode ?? 0) & 0o111 && size > 4096) {
        const info = await searchGoBuildInfo(entry as unknown as Readable);
        uncompressed += size;
        if (info?.length) held.set(path, { layer: index, packages: info });
        continue;
      }
      uncompressed += size;
      entry.resume();
    }
  } catch (err) {
    source.destroy();
    throw streamError ?? (err instanceof ScanRefused ? err : new ScanRefused(`layer ${short}: ${(err as Error).message}`));
  }
  if (streamError) throw streamError;
  if (stats) {
    stats.compressedBytes += compressed;
    stats.uncompressedBytes += uncompressed;
    stats.entries += entries;
  }
}

function readAll(stream: Readable, cap: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > cap) {
        stream.destroy();
        reject(new ScanRefused(`${path} is over the ${cap}-byte limit`));
      } else parts.push(c);
    });
    stream.on('error', (err) => reject(new ScanRefused(`${path}: ${err.message}`)));
    stream.on('end', () => resolve(Buffer.concat(parts)));
  });
}

/** Streams an executable looking for Go's build info; keeps only the bytes after the magic. */
async function searchGoBuildInfo(stream: Readable): Promise<LangEntry[] | null> {
  let first = true;
  let tail = Buffer.alloc(0);
  let capture: Buffer[] | null = null;
  let captured = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (first) {
      first = false;
      if (chunk.length < 4 || chunk.readUInt32BE(0) !== 0x7f454c46) {
        stream.resume();
        return null; // not ELF
      }
    }
    if (capture) {
      if (captured < GO_CAPTURE) {
        capture.push(chunk);
        captured += chunk.length;
      }
      continue;
    }
    const hay = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    const at = hay.indexOf(BUILDINFO_MAGIC);
    if (at >= 0) {
      capture = [hay.subarray(at)];
      captured = hay.length - at;
    } else tail = Buffer.from(hay.subarray(Math.max(0, hay.length - BUILDINFO_MAGIC.length)));
  }
  if (!capture) return null;
  return parseBuildInfo(Buffer.concat(capture).subarray(0, GO_CAPTURE))?.deps ?? null;
}

function parseEarly(interest: Interest, path: string, data: Buffer): Pick<Held, 'data' | 'packages'> {
  const text = () => data.toString('utf8');
  switch (interest.kind) {
    case 'package-lock':
      return { packages: parsePackageLock(text(), path) };
    case 'node-package':
      return { packages: parseInstalledPackageJson(text(), path) };
    case 'python-metadata':
      return { packages: parsePythonMetadata(text()) };
    case 'gemspec':
      return { packages: parseGemspec(text(), path) };
    case 'cargo-lock':
      return { packages: parseCargoLock(text()) };
    default:
      return { data };
  }
}

function follow(held: Map<string, Held>, path: string): Held | null {
  let h = held.get(path);
  for (let hops = 0; h?.symlink !== undefined; hops++) {
    if (hops >= 16) throw new ScanRefused(`symbolic link loop at ${path}`);
    h = held.get(h.symlink);
  }
  return h ?? null;
}

function detectOs(held: Map<string, Held>): OsInfo | null {
  for (const p of OS_RELEASE_PATHS) {
    const h = follow(held, p);
    if (h?.data) {
      const os = osFromRelease(h.data.toString('utf8'));
      if (os) return os;
    }
  }
  const alpine = follow(held, 'etc/alpine-release');
  if (alpine?.data) return osFromAlpineRelease(alpine.data.toString('utf8'));
  const debian = follow(held, 'etc/debian_version');
  if (debian?.data) return osFromDebianVersion(debian.data.toString('utf8'));
  return null;
}

function osBase(os: OsInfo | null, fallback: string): string {
  return os?.ecosystem ? os.ecosystem.slice(0, os.ecosystem.indexOf(':')) : fallback;
}

function assemble(held: Map<string, Held>, layers: string[]): Inventory {
  const os = detectOs(held);
  const packages: InventoryPackage[] = [];
  const add = (p: Omit<InventoryPackage, 'purl'>) => packages.push({ ...p, purl: purlOf(p, os) });
  let bdb: string | null = null;
  const paths = [...held.keys()].sort();
  for (const path of paths) {
    const h = follow(held, path);
    if (!h) continue;
    if (h.bdb) bdb = path;
    const kind = h.interest?.kind;
    if (h.data && (kind === 'dpkg-status' || kind === 'dpkg-status-d')) {
      const eco = os?.id === 'ubuntu' ? 'Ubuntu' : 'Debian';
      for (const d of parseDpkgStatus(h.data.toString('utf8'), path, kind === 'dpkg-status')) add({ kind: 'os', ecosystem: eco, name: d.name, version: d.version, sourceName: d.sourceName, sourceVersion: d.sourceVersion, arch: d.arch, path });
    } else if (h.data && kind === 'apk-installed') {
      for (const a of parseApkInstalled(h.data.toString('utf8'), path)) add({ kind: 'os', ecosystem: 'Alpine', name: a.name, version: a.version, sourceName: a.origin, sourceVersion: a.version, arch: a.arch, path });
    } else if (h.data && kind === 'rpm-sqlite') {
      const eco = osBase(os, 'Red Hat');
      for (const r of readRpmSqlite(h.data)) {
        const version = `${r.epoch ? `${r.epoch}:` : ''}${r.version}-${r.release}`;
        add({ kind: 'os', ecosystem: eco, name: r.name, version, arch: r.arch, path, sourceName: r.sourceRpm?.replace(/-[^-]+-[^-]+\.src\.rpm$/, '') });
      }
    } else if (h.packages) {
      for (const p of h.packages) add({ kind: 'lang', ecosystem: p.ecosystem, name: p.name, version: p.version, path });
    }
  }
  const hasOsPackages = packages.some((p) => p.kind === 'os');
  const inventory: Inventory = { os, packages: dedupe(packages), layers };
  if (bdb && !hasOsPackages) inventory.unsupportedReason = `the rpm database at ${bdb} is BerkeleyDB (or ndb), which Berth does not read; only rpmdb.sqlite is supported`;
  if (!os && packages.length === 0) throw new UnsupportedImage(bdb ? inventory.unsupportedReason! : 'no supported operating system or package database found in the image');
  return inventory;
}

function dedupe(packages: InventoryPackage[]): InventoryPackage[] {
  const seen = new Set<string>();
  return packages.filter((p) => {
    const key = `${p.kind}|${p.ecosystem}|${p.name}|${p.version}|${p.path}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
