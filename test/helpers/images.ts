import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

// Test images built here, on disk, as OCI image layouts (image-spec "image-layout"):
//   <dir>/oci-layout, <dir>/index.json, <dir>/blobs/sha256/<hex>
// Layers are real gzip-compressed tar archives (ustar, written below) so that clients that
// unpack them (containerd) accept them; configs carry rootfs.diff_ids of the uncompressed tars.

export const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** The annotation an OCI layout's index.json uses to name an entry (skopeo's `oci:DIR:REF`). */
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface TarEntry {
  path: string;
  /** File contents; absent for a directory. */
  content?: Buffer | string;
  mode?: number;
}

export interface BuiltLayer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  diffId: string;
}

export interface BuiltImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  configBytes: Buffer;
  layers: BuiltLayer[];
  platform: Platform;
}

export interface BuiltIndex {
  index: Descriptor;
  indexBytes: Buffer;
  images: BuiltImage[];
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// ---------- tar ----------

/** A POSIX ustar archive of the entries, ending with the two zero blocks. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const isDir = entry.content === undefined;
    const content = isDir ? Buffer.alloc(0) : Buffer.from(entry.content!);
    parts.push(tarHeader(isDir && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path, content.length, isDir, entry.mode ?? (isDir ? 0o755 : 0o644)));
    parts.push(content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function tarHeader(path: string, size: number, isDir: boolean, mode: number): Buffer {
  const header = Buffer.alloc(512);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf('/', 154);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(name) > 100) throw new Error(`tar path too long: ${path}`);
  }
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
  header.write(name, 0, 100, 'utf8');
  header.write(octal(mode, 8), 100, 8, 'ascii');
  header.write(octal(0, 8), 108, 8, 'ascii'); // uid
  header.write(octal(0, 8), 116, 8, 'ascii'); // gid
  header.write(octal(size, 12), 124, 12, 'ascii');
  header.write(octal(1_700_000_000, 12), 136, 12, 'ascii'); // mtime: fixed, so layers are reproducible
  header.write('        ', 148, 8, 'ascii'); // checksum placeholder: spaces while summing
  header.write(isDir ? '5' : '0', 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return header;
}

// ---------- layout ----------

/** Writes blobs into an OCI image layout and names entries in its index.json. */
export class OciLayoutBuilder {
  private readonly entries: Descriptor[] = [];

  private constructor(readonly dir: string) {}

  static async create(dir: string): Promise<OciLayoutBuilder> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const builder = new OciLayoutBuilder(dir);
    await builder.writeIndex();
    return builder;
  }

  async addBlob(mediaType: string, data: Buffer): Promise<Descriptor> {
    const digest = sha256(data);
    await writeFile(blobPath(this.dir, digest), data);
    return { mediaType, digest, size: data.length };
  }

  async addLayer(entries: TarEntry[]): Promise<BuiltLayer> {
    const tar = tarArchive(entries);
    const descriptor = await this.addBlob(OCI.layerGzip, gzipSync(tar));
    return { descriptor, diffId: sha256(tar) };
  }

  async addImage(layers: BuiltLayer[], platform: Platform = { architecture: 'amd64', os: 'linux' }): Promise<BuiltImage> {
    const config = {
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `berth test layer ${i}` })),
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDescriptor = await this.addBlob(OCI.config, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI.manifest,
      config: configDescriptor,
      layers: layers.map((l) => l.descriptor),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
    const manifestDescriptor = await this.addBlob(OCI.manifest, manifestBytes);
    return { manifest: manifestDescriptor, manifestBytes, config: configDescriptor, configBytes, layers, platform };
  }

  async addIndex(images: BuiltImage[]): Promise<BuiltIndex> {
    const index = {
      schemaVersion: 2,
      mediaType: OCI.index,
      manifests: images.map((image) => ({ ...image.manifest, platform: image.platform })),
    };
    const indexBytes = Buffer.from(JSON.stringify(index, null, 2));
    const descriptor = await this.addBlob(OCI.index, indexBytes);
    return { index: descriptor, indexBytes, images };
  }

  /** Names a manifest or index in index.json, so `oci:<dir>:<ref>` finds it. */
  async tag(ref: string, descriptor: Descriptor): Promise<void> {
    this.entries.push({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, annotations: { [REF_NAME]: ref } });
    await this.writeIndex();
  }

  private async writeIndex(): Promise<void> {
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI.index, manifests: this.entries }));
  }
}

export function blobPath(layoutDir: string, digest: string): string {
  return join(layoutDir, 'blobs', ...digest.split(':'));
}

export function readLayoutBlob(layoutDir: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(layoutDir, digest));
}

/** The descriptor index.json names `ref`, or undefined. */
export async function layoutRef(layoutDir: string, ref: string): Promise<Descriptor | undefined> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  return index.manifests.find((m) => m.annotations?.[REF_NAME] === ref);
}

// ---------- the standard test images ----------

export interface TestImages {
  dir: string;
  /** Random text written into files of the layers, unique to this build. */
  nonce: string;
  /** Three layers (one of a few MiB of random data), linux/amd64; named `multilayer`. */
  multiLayer: BuiltImage;
  /** linux/amd64 + linux/arm64 images under one OCI index; named `multiarch`. */
  multiArch: BuiltIndex;
  /** A one-layer linux/amd64 image; named `small`. */
  small: BuiltImage;
}

/** Builds the test images into a fresh OCI layout at `dir`. Random content: new digests each run. */
export async function buildTestImages(dir: string, options: { bigLayerBytes?: number } = {}): Promise<TestImages> {
  const layout = await OciLayoutBuilder.create(dir);
  const nonce = randomBytes(8).toString('hex'); // keeps digests unique across runs and tests

  const base = await layout.addLayer([
    { path: 'etc' },
    { path: 'etc/os-release', content: `NAME="Berth test image"\nID=berth-test\nBUILD=${nonce}\n` },
    { path: 'etc/hostname', content: 'berth-test\n' },
    { path: 'bin' },
    { path: 'bin/hello', content: '#!/bin/sh\necho hello from berth\n', mode: 0o755 },
  ]);
  const data = await layout.addLayer([
    { path: 'data' },
    { path: 'data/random.bin', content: randomBytes(options.bigLayerBytes ?? 3 * 1024 * 1024) },
  ]);
  const app = await layout.addLayer([
    { path: 'app' },
    { path: 'app/config.json', content: JSON.stringify({ service: 'berth-test', nonce }) + '\n' },
    { path: 'app/README', content: 'a layer on top of the others\n' },
    { path: 'etc' },
    { path: 'etc/hostname', content: 'overridden\n' },
  ]);
  const multiLayer = await layout.addImage([base, data, app]);
  await layout.tag('multilayer', multiLayer.manifest);

  const perArch = [];
  for (const architecture of ['amd64', 'arm64']) {
    const layer = await layout.addLayer([
      { path: 'etc' },
      { path: 'etc/arch', content: `${architecture} ${nonce}\n` },
      { path: 'usr' },
      { path: 'usr/share' },
      { path: 'usr/share/berth' },
      { path: 'usr/share/berth/notes.txt', content: `built for linux/${architecture}\n`.repeat(200) },
    ]);
    perArch.push(await layout.addImage([base, layer], { architecture, os: 'linux' }));
  }
  const multiArch = await layout.addIndex(perArch);
  await layout.tag('multiarch', multiArch.index);

  const smallLayer = await layout.addLayer([{ path: 'hello.txt', content: `hello ${nonce}\n` }]);
  const small = await layout.addImage([smallLayer]);
  await layout.tag('small', small.manifest);

  return { dir, nonce, multiLayer, multiArch, small };
}

/** The digests of an image's manifest, config and layers. */
export function imageDigests(image: BuiltImage): string[] {
  return [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.descriptor.digest)];
}
