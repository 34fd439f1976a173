import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planParts, type StagedChunk } from '../../src/stores/blob/s3-parts.js';

// The commit plan for staged chunks must satisfy S3's rules whatever the chunk sizes:
// parts but the last at least the minimum, copies at most the copy maximum, and all bytes
// covered once, in order. Small numbers stand in for 5 MiB and the copy limit.

const MIN = 10;
const MAX_COPY = 35;

function check(sizes: number[]) {
  const chunks: StagedChunk[] = sizes.map((size, i) => ({ key: `c${i}`, size }));
  const plan = planParts(chunks, MIN, MAX_COPY);
  const covered: string[] = [];
  plan.forEach((part, i) => {
    const segments = part.kind === 'copy' ? [part.segment] : part.segments;
    const size = segments.reduce((n, s) => n + s.end - s.start, 0);
    if (part.kind === 'stream') assert.equal(part.size, size);
    if (i < plan.length - 1) assert.ok(size >= MIN, `part ${i} of ${JSON.stringify(sizes)} is ${size} bytes`);
    if (part.kind === 'copy') assert.ok(size <= MAX_COPY && size >= MIN, `copy ${i} is ${size} bytes`);
    for (const s of segments) for (let b = s.start; b < s.end; b++) covered.push(`${s.key}:${b}`);
  });
  const expected = chunks.flatMap((c) => Array.from({ length: c.size }, (_, b) => `${c.key}:${b}`));
  assert.deepEqual(covered, expected, `bytes of ${JSON.stringify(sizes)}`);
  return plan;
}

test('chunks of every size mix into valid multipart plans', () => {
  assert.deepEqual(check([]), []);
  assert.deepEqual(check([3]), [{ kind: 'stream', segments: [{ key: 'c0', start: 0, end: 3 }], size: 3 }]);
  // A big chunk alone is copied inside the engine; one past the copy limit is cut in two.
  assert.deepEqual(check([20]), [{ kind: 'copy', segment: { key: 'c0', start: 0, end: 20 } }]);
  assert.deepEqual(check([36]).map((p) => p.kind), ['copy', 'copy']);
  // Small then big: the small one is topped up from the big one, the rest copied.
  assert.deepEqual(check([4, 30]).map((p) => p.kind), ['stream', 'copy']);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 300; round++) {
    check(Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 50)));
  }
});
