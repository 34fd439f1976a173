import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startBerth, type TestServer } from '../helpers/server.js';
import { Registry, sha256 } from './client.js';

// Blob pulls on the filesystem store reuse their read buffers once the socket has taken
// them (RecyclingReadable). A buffer reused too early would corrupt bytes that are still on
// their way out, so: many concurrent pulls of multi-MiB blobs, slow readers that make the
// socket push back, clients that hang up mid-body, and every byte checked.

describe('OCI pull: streamed blob bodies', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'pull/streams';
  const blobs = Array.from({ length: 3 }, (_, i) => randomBytes(5 * 1024 * 1024 + 1000 * i + 7));
  const digests = blobs.map((b) => sha256(b));
  // Bigger than what loopback socket buffers hold, so a stalled reader leaves the server's
  // socket with a partly written chunk: the moment an early reuse would corrupt.
  const big = randomBytes(24 * 1024 * 1024 + 3);
  const bigDigest = sha256(big);

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
    for (const blob of [...blobs, big]) await registry.pushBlob(repo, blob);
  });
  after(() => server.stop());

  /** GETs a blob with node's http client; `slow` pauses the body now and then so the server's socket fills up. */
  function pull(digest: string, options: { slow?: boolean; stallFirst?: number; abortAfter?: number; range?: string } = {}): Promise<{ status: number; digest: string; bytes: number }> {
    const url = new URL(`/v2/${repo}/blobs/${digest}`, server.url);
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: options.range ? { Range: options.range } : {}, agent: false }, (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        if (options.stallFirst) {
          res.pause();
          setTimeout(() => res.resume(), options.stallFirst);
        }
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (options.abortAfter !== undefined && bytes >= options.abortAfter) {
            req.destroy();
            resolve({ status: res.statusCode!, digest: 'aborted', bytes });
            return;
          }
          if (options.slow && bytes % (3 * 65536) < chunk.length) {
            res.pause();
            setTimeout(() => res.resume(), 15);
          }
        });
        res.on('end', () => resolve({ status: res.statusCode!, digest: `sha256:${hash.digest('hex')}`, bytes }));
        res.on('error', (err) => (options.abortAfter === undefined ? reject(err) : undefined));
      });
      req.on('error', (err) => (options.abortAfter === undefined ? reject(err) : undefined));
    });
  }

  test('24 concurrent pulls, half of them slow readers, all byte-exact', async () => {
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => pull(digests[i % 3]!, { slow: i % 2 === 0 })));
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.bytes, blobs[i % 3]!.length);
      assert.equal(r.digest, digests[i % 3], `pull ${i} returned the blob's exact bytes`);
    });
  });

  test('stalled readers of a blob larger than the socket buffers get exact bytes', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => pull(bigDigest, { stallFirst: 150 + 50 * i, slow: true })));
    for (const r of results) {
      assert.equal(r.bytes, big.length);
      assert.equal(r.digest, bigDigest);
    }
  });

  test('clients hanging up mid-body leave the server serving exact bytes to the others', async () => {
    const aborted = Array.from({ length: 8 }, (_, i) => pull(digests[i % 3]!, { abortAfter: (i + 1) * 300_000 }));
    const whole = Array.from({ length: 8 }, (_, i) => pull(digests[(i + 1) % 3]!, { slow: i % 2 === 1 }));
    await Promise.all(aborted);
    const results = await Promise.all(whole);
    results.forEach((r, i) => assert.equal(r.digest, digests[(i + 1) % 3], `pull ${i} beside the hang-ups was exact`));
    // And afterwards (buffers handed back by the aborted responses are in use again):
    const again = await Promise.all(Array.from({ length: 6 }, (_, i) => pull(digests[i % 3]!)));
    again.forEach((r, i) => assert.equal(r.digest, digests[i % 3]));
  });

  test('ranges across chunk boundaries are exact, beside whole pulls', async () => {
    const blob = blobs[2]!;
    const ranges: [number, number][] = [
      [0, blob.length - 1],
      [1024 * 1024 - 5, 3 * 1024 * 1024 + 5],
      [blob.length - 1_500_000, blob.length - 1],
    ];
    const [whole, ...parts] = await Promise.all([pull(digests[1]!, { slow: true }), ...ranges.map(([s, e]) => pull(digests[2]!, { range: `bytes=${s}-${e}` }))]);
    assert.equal(whole!.digest, digests[1]);
    parts.forEach((r, i) => {
      const [s, e] = ranges[i]!;
      assert.equal(r.status, 206);
      assert.equal(r.digest, sha256(blob.subarray(s, e + 1)), `range ${s}-${e}`);
    });
  });
});
