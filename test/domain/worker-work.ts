import { createHash } from 'node:crypto';
import { threadId } from 'node:worker_threads';

// Work for the worker-thread tests (test/domain/workers.test.ts).

export function hashRounds(input: { rounds: number }): { threadId: number; digest: string } {
  let data = Buffer.from('berth');
  for (let i = 0; i < input.rounds; i++) data = createHash('sha256').update(data).digest();
  return { threadId, digest: data.toString('hex') };
}

export async function fails(): Promise<never> {
  throw new RangeError('the layer is corrupt');
}

export function spins(): never {
  for (;;) {
    /* until terminated */
  }
}
