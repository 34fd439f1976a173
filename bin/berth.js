#!/usr/bin/env -S node --max-semi-space-size=8
// Entry point installed as `berth`; the compiled CLI lives in dist/ (npm run build).
// --max-semi-space-size=8: V8's young generation at 2 x 8 MiB instead of 2 x 16 MiB. A
// streaming server keeps few young objects alive; in `npm run bench` this lowered Berth's
// peak RSS by ~14 MiB at no CPU cost. V8 reads it only from node's command line, so it is
// here (run `node bin/berth.js` and it is not applied).
import('../dist/src/cli/main.js');
