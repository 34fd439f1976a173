import { createHash, randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mbPerSecond, MiB } from './stats.js';

// The machine's limits, measured in the same run as the registries.

/** sha256 over `totalBytes` on this (one) thread, MB/s. */
export function sha256Throughput(totalBytes: number): number {
  const buffer = randomBytes(MiB);
  const hash = createHash('sha256');
  const t0 = performance.now();
  for (let done = 0; done < totalBytes; done += buffer.length) hash.update(buffer);
  hash.digest();
  return mbPerSecond(totalBytes, performance.now() - t0);
}

/** Sequential write of `totalBytes` in 1 MiB writes to a new file in `dir`, then fsync: MB/s. */
export async function diskWriteThroughput(dir: string, totalBytes: number): Promise<number> {
  const path = join(dir, `disk-probe-${process.pid}-${Date.now()}`);
  const buffer = randomBytes(MiB);
  const handle = await open(path, 'w');
  try {
    const t0 = performance.now();
    for (let done = 0; done < totalBytes; done += buffer.length) await handle.write(buffer, 0, buffer.length);
    await handle.sync();
    return mbPerSecond(totalBytes, performance.now() - t0);
  } finally {
    await handle.close();
    await rm(path, { force: true });
  }
}
