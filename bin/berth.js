#!/usr/bin/env -S node --max-semi-space-size=8 --initial-old-space-size=64
// Entry point installed as `berth`; the compiled CLI lives in dist/ (npm run build).
// V8 reads these flags only from node's command line, so they are here (run `node
// bin/berth.js` and they are not applied; docs/deployment.md passes them in its image).
// --max-semi-space-size=8: V8's young generation at 2 x 8 MiB instead of 2 x 16 MiB. A
//   streaming server keeps few young objects alive; in `npm run bench` this lowered Berth's
//   peak RSS by ~14 MiB at no CPU cost.
// --initial-old-space-size=64: the floor of the old generation's GC limit. Node's HTTP
//   parser copies every request body chunk into a new Buffer, and V8 counts the young
//   Buffers' external memory against that limit's slack until a scavenge frees them. With
//   the live heap at ~20 MiB V8 left ~10 MiB of slack, so a push started a full
//   (mark-compact) collection every ~30 MiB received, each ~140 ms of marking CPU: 16-19 of
//   them per 512 MiB pushed, and twice the CPU per GiB. Floors of 32 and 48 MiB still did
//   that; 64 MiB: none, for +7 MiB of peak RSS in the bench (96 MiB: +28). BENCHMARKS.md,
//   session 5.
import('../dist/src/cli/main.js');
