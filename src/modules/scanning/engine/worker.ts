import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { scanImage, type EngineLimits } from './scan-image.js';

// The engine's worker thread: decompression, tar parsing and package parsing happen here,
// off the server's event loop. The main thread reads the layer blobs and hands the bytes
// over (transferred, not copied), a few chunks ahead of what the engine has consumed.

type In =
  | { type: 'start'; layers: string[]; limits: EngineLimits }
  | { type: 'chunk'; index: number; data: ArrayBuffer }
  | { type: 'end'; index: number }
  | { type: 'error'; index: number; message: string };

const port = parentPort!;
const streams = new Map<number, Readable>();

port.on('message', (msg: In) => {
  if (msg.type === 'start') {
    const sources = msg.layers.map((digest, index) => ({
      digest,
      open: async () => {
        const stream = new Readable({ read: () => port.postMessage({ type: 'pull', index }) });
        streams.set(index, stream);
        port.postMessage({ type: 'open', index });
        return stream;
      },
    }));
    scanImage(sources, msg.limits).then(
      (inventory) => port.postMessage({ type: 'done', inventory }),
      (err: Error) => port.postMessage({ type: 'failed', name: err.name, message: err.message }),
    );
  } else if (msg.type === 'chunk') streams.get(msg.index)?.push(Buffer.from(msg.data));
  else if (msg.type === 'end') streams.get(msg.index)?.push(null);
  else if (msg.type === 'error') streams.get(msg.index)?.destroy(new Error(msg.message));
});
