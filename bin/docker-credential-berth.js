#!/usr/bin/env node
// Docker credential helper installed as `docker-credential-berth` (credHelpers: "berth").
import('../dist/src/cli/credential-helper.js');
