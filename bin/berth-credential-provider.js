#!/usr/bin/env node
// Kubelet image credential provider installed as `berth-credential-provider` (docs/kubernetes.md).
import('../dist/src/cli/credential-provider.js');
