import { Worker } from 'node:worker_threads';

// CPU-heavy work (a scan's decompression and parsing, signing, large hashes) runs in a worker
// thread, so the event loop keeps serving pulls meanwhile. The work is a named export of a
// module, given a structured-clonable input; it may be async. A worker per call: the start
// (~20-40 ms) is small beside the work this is for, and a crash or runaway stays contained
// (resourceLimits caps its heap; abort terminates it).

export interface WorkerOptions {
  signal?: AbortSignal;
  /** The worker's heap limit (MiB); a worker that passes it fails, the server goes on. */
  maxHeapMb?: number;
}

const entry = new URL('./worker-entry.js', import.meta.url);

export function runInWorker<T>(module: URL | string, exportName: string, input: unknown, options: WorkerOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (options.signal?.aborted) return reject(options.signal.reason ?? new Error('aborted'));
    const worker = new Worker(entry, {
      workerData: { module: String(module), exportName, input },
      ...(options.maxHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb } } : {}),
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      void worker.terminate();
      finish(() => reject(options.signal?.reason ?? new Error('aborted')));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: { ok: true; value: T } | { ok: false; error: string; name: string }) => {
      finish(() => {
        if (message.ok) resolve(message.value);
        else reject(Object.assign(new Error(message.error), { name: message.name }));
      });
      void worker.terminate();
    });
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) => finish(() => reject(new Error(`the worker exited (code ${code}) before answering`))));
  });
}
