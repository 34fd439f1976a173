import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

test('defaults: port 5000, ./data, SQLite and a local folder', () => {
  const config = loadConfig({}, {});
  assert.equal(config.port, 5000);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.dataDir, join(process.cwd(), 'data'));
  assert.deepEqual(config.metadata, { kind: 'sqlite' });
  assert.deepEqual(config.storage, { kind: 'fs' });
  assert.equal(config.limits.manifestMaxBytes, 4 * 1024 * 1024);
});

test('file < env < flags, and --metadata takes a postgres URL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
  const file = join(dir, 'berth.json');
  writeFileSync(file, JSON.stringify({ port: 6000, dataDir: '/srv/berth', log: { level: 'warn' } }));
  const config = loadConfig({ port: '7000' }, { BERTH_CONFIG: file, BERTH_PORT: '6500', BERTH_METADATA: 'postgres://u@db:5432/berth' });
  assert.equal(config.port, 7000);
  assert.equal(config.dataDir, '/srv/berth');
  assert.equal(config.log.level, 'warn');
  assert.deepEqual(config.metadata, { kind: 'postgres', url: 'postgres://u@db:5432/berth', poolSize: 10 });
});

test('invalid settings are refused with every problem named', () => {
  assert.throws(() => loadConfig({ port: 'eighty' }, {}), (err: unknown) => err instanceof ConfigError && /port/.test(err.message));
  const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ port: 99999, colour: 'blue' }));
  assert.throws(
    () => loadConfig({ config: file }, {}),
    (err: unknown) => err instanceof ConfigError && /port/.test(err.message) && /colour/.test(err.message),
  );
  writeFileSync(file, '{not json');
  assert.throws(() => loadConfig({ config: file }, {}), (err: unknown) => err instanceof ConfigError && /cannot read config file/.test(err.message));
  assert.throws(() => loadConfig({ storage: 'gs://bucket' }, {}), ConfigError);
});

test('auth.v2 is on by default (as ECR); BERTH_AUTH_V2=false or the config file turns it off', () => {
  assert.equal(loadConfig({}, {}).auth.v2, true);
  assert.equal(loadConfig({}, { BERTH_AUTH_V2: 'false' }).auth.v2, false);
  const file = join(mkdtempSync(join(tmpdir(), 'berth-config-')), 'berth.json');
  writeFileSync(file, JSON.stringify({ auth: { v2: false } }));
  assert.equal(loadConfig({ config: file }, {}).auth.v2, false);
  assert.equal(loadConfig({ config: file }, { BERTH_AUTH_V2: 'true' }).auth.v2, true);
  assert.throws(() => loadConfig({}, { BERTH_AUTH_V2: 'yes' }), ConfigError);
});

test('registryId follows the bootstrap account unless set', () => {
  assert.equal(loadConfig({}, {}).registryId, '000000000000');
  assert.equal(loadConfig({}, { BERTH_BOOTSTRAP_ACCOUNT_ID: '123456789012' }).registryId, '123456789012');
  const file = join(mkdtempSync(join(tmpdir(), 'berth-config-')), 'berth.json');
  writeFileSync(file, JSON.stringify({ registryId: '111111111111' }));
  assert.equal(loadConfig({ config: file }, { BERTH_BOOTSTRAP_ACCOUNT_ID: '123456789012' }).registryId, '111111111111');
});
