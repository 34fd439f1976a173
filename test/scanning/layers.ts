import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { LayerSource } from '../../src/modules/scanning/engine/scan-image.js';

// Test layers built in memory with tar-stream (symlinks, hard links, whiteouts and all),
// compressed with zlib or this machine's zstd.

export interface Entry {
  name: string;
  content?: string | Buffer;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  mode?: number;
}

export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? (e.content === undefined ? 'directory' : 'file');
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644) }, type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function zstdOf(data: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
}

export async function layer(entries: Entry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<Buffer> {
  const t = await tarOf(entries);
  return compression === 'gzip' ? gzipSync(t) : compression === 'zstd' ? zstdOf(t) : t;
}

export function sources(blobs: Buffer[]): LayerSource[] {
  return blobs.map((b, i) => ({ digest: `sha256:${String(i).padStart(64, '0')}`, open: async () => Readable.from([b]) }));
}
