import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

// The architecture's boundaries as an import graph, kept by a test: every import of every
// source file (static, `export ... from`, side-effect and dynamic, either quote) is resolved
// to a layer or a package and checked against what its layer may use. (Run from the root.)
//
//   domain  : the core's rules. No HTTP, no SQL, no driver, no edge, no capability module.
//   stores  : persistence behind the domain's interfaces. No HTTP, no edge, no module.
//   auth    : credentials, signatures and the front door. No driver, no edge, no module.
//   edges   : protocols over the domain. No database driver, no module internals.
//   modules : capabilities; anything but another module's internals through the edges.

type Layer = 'domain' | 'stores' | 'auth' | 'edges' | 'modules' | 'config' | 'observability' | 'cli' | 'root';

interface Rule {
  /** Layers of src/ this layer may import. */
  layers: Layer[];
  /** Packages (and node: builtins) it must not import. */
  forbiddenPackages: RegExp;
  /** Within stores: only the interface files at src/stores/*.ts may be imported from the domain. */
  onlyStoreInterfaces?: boolean;
}

const HTTP = /^(node:)?(http|https|http2|net)$|^fastify$|^@fastify\//;
const DRIVERS = /^(pg|better-sqlite3|kysely)$/;
const rules: Partial<Record<Layer, Rule>> = {
  domain: { layers: ['domain', 'stores'], onlyStoreInterfaces: true, forbiddenPackages: new RegExp(`${HTTP.source}|${DRIVERS.source}|^@aws-sdk/`) },
  stores: { layers: ['stores', 'domain', 'config'], forbiddenPackages: HTTP },
  // The front door (auth/front-door.ts) is a fastify hook in front of every edge.
  auth: { layers: ['auth', 'domain', 'stores', 'config'], forbiddenPackages: DRIVERS },
  edges: { layers: ['edges', 'domain', 'stores', 'auth', 'config', 'observability'], forbiddenPackages: DRIVERS },
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|[^\w.])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

export function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(IMPORT)) found.push((m[1] ?? m[2] ?? m[3])!);
  return found;
}

function layerOf(file: string): Layer {
  const parts = relative('src', file).split(/[\\/]/);
  return parts.length === 1 ? 'root' : (parts[0] as Layer);
}

function violations(file: string, text = readFileSync(file, 'utf8')): string[] {
  const rule = rules[layerOf(file)];
  if (!rule) return [];
  const out: string[] = [];
  for (const spec of importsOf(text)) {
    if (spec.startsWith('.')) {
      const target = normalize(join(dirname(file), spec));
      if (!target.startsWith('src')) continue;
      const layer = layerOf(target);
      // The stores run the modules' migrations, listed in one file (src/modules/migrations.ts).
      if (layerOf(file) === 'stores' && target === normalize('src/modules/migrations.js')) continue;
      if (!rule.layers.includes(layer)) out.push(`${file} imports ${spec} (${layer})`);
      else if (rule.onlyStoreInterfaces && layer === 'stores' && relative('src/stores', target).includes('/')) out.push(`${file} imports ${spec} (a store implementation)`);
    } else if (rule.forbiddenPackages.test(spec)) {
      out.push(`${file} imports ${spec}`);
    }
  }
  return out;
}

test('every import finder form is seen (both quotes, type, export-from, dynamic, require)', () => {
  const text = [
    `import { a } from 'fastify';`,
    `import type { B } from "../../edges/oci/routes.js";`,
    `export { c } from '../stores/metadata/sql-metadata-store.js';`,
    `import 'node:http';`,
    `const m = await import("pg");`,
    `const s = require('better-sqlite3');`,
    `import {\n  d,\n  e,\n} from '../modules/scanning/index.js';`,
  ].join('\n');
  assert.deepEqual(importsOf(text), ['fastify', '../../edges/oci/routes.js', '../stores/metadata/sql-metadata-store.js', 'node:http', 'pg', 'better-sqlite3', '../modules/scanning/index.js']);
});

test('planted violations are caught: the domain importing an edge, a module, a store implementation, a driver or HTTP', () => {
  const planted = [
    `import { x } from "../../edges/oci/routes.js";`,
    `import { y } from '../../modules/scanning/index.js';`,
    `import { z } from '../../stores/metadata/sql-metadata-store.js';`,
    `import type { MetadataStore } from '../../stores/metadata-store.js';`,
    `const k = await import('kysely');`,
    `import http from 'node:http';`,
  ].join('\n');
  assert.deepEqual(violations('src/domain/ecr/planted.ts', planted), [
    'src/domain/ecr/planted.ts imports ../../edges/oci/routes.js (edges)',
    'src/domain/ecr/planted.ts imports ../../modules/scanning/index.js (modules)',
    'src/domain/ecr/planted.ts imports ../../stores/metadata/sql-metadata-store.js (a store implementation)',
    'src/domain/ecr/planted.ts imports kysely',
    'src/domain/ecr/planted.ts imports node:http',
  ]);
});

// Known debt, listed so that it cannot grow unseen (and a fix must take its line out):
// the registry service names the encrypting blob layer's class instead of an interface.
// and the registry authorizer reads the /v2 route table from the OCI edge.
const knownDebt = [
  'src/domain/registry-service.ts imports ../stores/blob/encrypting-blobs.js (a store implementation)',
  'src/auth/registry-access.ts imports ../edges/oci/route-table.js (edges)',
];

for (const dir of Object.keys(rules)) {
  test(`src/${dir} imports only what its layer may`, () => {
    const found = sources(join('src', dir)).flatMap((file) => violations(file));
    assert.deepEqual(found.filter((v) => !knownDebt.includes(v)), []);
    for (const debt of knownDebt.filter((d) => d.startsWith(`src/${dir}/`))) assert.ok(found.includes(debt), `fixed: take "${debt}" out of knownDebt`);
  });
}
