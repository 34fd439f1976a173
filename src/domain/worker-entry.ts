import { parentPort, workerData } from 'node:worker_threads';

// The worker side of runInWorker: imports the module, runs the export, posts the outcome.
const { module, exportName, input } = workerData as { module: string; exportName: string; input: unknown };
try {
  const loaded = (await import(module)) as Record<string, unknown>;
  const fn = loaded[exportName];
  if (typeof fn !== 'function') throw new Error(`${module} has no function ${exportName}`);
  parentPort!.postMessage({ ok: true, value: await (fn as (input: unknown) => unknown)(input) });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : 'Error' });
}
