import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

/**
 * Memory still referenced: JS heap plus Buffers (which live outside the heap). Two full
 * collections, because V8 frees dead Buffers' backing stores on a background sweep that
 * the next collection completes; garbage is not counted, only what code keeps hold of.
 */
export function retainedMemory(): number {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}
