import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { ScanRefused, UnsupportedImage } from './errors.js';
import type { Inventory } from './inventory.js';
import type { EngineLimits, LayerSource } from './scan-image.js';

/** Runs the engine in a worker thread with its own heap limit; the layers are read here. */
export function scanInWorker(layers: LayerSource[], limits: EngineLimits, signal?: AbortSignal, heapMb = 160): Promise<Inventory> {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  const open = new Map<number, Readable>();
  return new Promise<Inventory>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      for (const s of open.values()) s.destroy();
      void worker.terminate();
      fn();
    };
    signal?.addEventListener('abort', () => finish(() => reject(new ScanRefused('scan aborted'))), { once: true });
    worker.on('error', (err) => finish(() => reject(new ScanRefused(`the scan worker stopped: ${err.message}`))));
    worker.on('exit', (code) => finish(() => reject(new ScanRefused(`the scan worker exited (${code})`))));
    worker.on('message', async (msg: { type: string; index?: number; inventory?: Inventory; name?: string; message?: string }) => {
      if (msg.type === 'done') return finish(() => resolve(msg.inventory!));
      if (msg.type === 'failed') {
        const err = msg.name === 'UnsupportedImage' ? new UnsupportedImage(msg.message!) : new ScanRefused(msg.message!);
        return finish(() => reject(err));
      }
      const index = msg.index!;
      if (msg.type === 'open') {
        try {
          const stream = await layers[index]!.open();
          open.set(index, stream);
          stream.pause();
          stream.on('data', (chunk: Buffer) => {
            stream.pause();
            const copy = new Uint8Array(chunk.length);
            copy.set(chunk);
            worker.postMessage({ type: 'chunk', index, data: copy.buffer }, [copy.buffer]);
          });
          stream.on('end', () => worker.postMessage({ type: 'end', index }));
          stream.on('error', (err) => worker.postMessage({ type: 'error', index, message: err.message }));
          stream.resume();
        } catch (err) {
          worker.postMessage({ type: 'error', index, message: (err as Error).message });
        }
      } else if (msg.type === 'pull') open.get(index)?.resume();
    });
    worker.postMessage({ type: 'start', layers: layers.map((l) => l.digest), limits });
  });
}
