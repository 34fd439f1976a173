import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig, resolvedPaths } from '../../src/config/config.js';

test('--storage s3://bucket/prefix selects the S3 store, settings from the URL query', () => {
  const plain = loadConfig({ storage: 's3://berth-blobs/registry/one' }, {});
  assert.deepEqual(plain.storage, { kind: 's3', bucket: 'berth-blobs', prefix: 'registry/one', createBucket: false, redirect: false, redirectTtlSeconds: 900 });
  assert.equal(resolvedPaths(plain).blobRoot, null);
  assert.equal(resolvedPaths(plain).blobLocation, 's3://berth-blobs/registry/one');

  const bare = loadConfig({}, { BERTH_STORAGE: 's3://berth-blobs' });
  assert.deepEqual(bare.storage, { kind: 's3', bucket: 'berth-blobs', prefix: '', createBucket: false, redirect: false, redirectTtlSeconds: 900 });

  const full = loadConfig(
    { storage: 's3://b01/p?region=eu-west-3&endpoint=http://127.0.0.1:7480&forcePathStyle=true&createBucket=true&checksums=when_required&redirect=true&redirectTtlSeconds=120' },
    {},
  );
  assert.deepEqual(full.storage, {
    kind: 's3',
    bucket: 'b01',
    prefix: 'p',
    region: 'eu-west-3',
    endpoint: 'http://127.0.0.1:7480',
    forcePathStyle: true,
    createBucket: true,
    checksums: 'when_required',
    redirect: true,
    redirectTtlSeconds: 120,
  });
});

test('the config file takes the same S3 settings', () => {
  const config = parseConfig({ storage: { kind: 's3', bucket: 'images', prefix: 'prod/', endpoint: 'https://s3.example.test', checksums: 'when_supported' } });
  assert.equal(config.storage.kind, 's3');
  assert.equal(config.storage.kind === 's3' && config.storage.checksums, 'when_supported');
});

test('bad S3 settings are refused by name', () => {
  const refused = (storage: string, pattern: RegExp) =>
    assert.throws(() => loadConfig({ storage }, {}), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), storage);
  refused('s3://Bad_Bucket/x', /bucket/);
  refused('s3:///prefix-only', /bucket/);
  refused('s3://b01/p?colour=blue', /colour/);
  refused('s3://b01/p?createBucket=yes', /createBucket/);
  refused('s3://b01/p?checksums=always', /checksums/);
  refused('s3://b01/p?endpoint=not-a-url', /endpoint/);
  assert.throws(() => parseConfig({ storage: { kind: 's3', bucket: 'b01', secret: 'x' } }), /secret/);
});
