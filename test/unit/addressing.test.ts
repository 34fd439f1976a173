import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountSource, registryHostFor, resolveRegistryAddress } from '../../src/edges/oci/addressing.js';

const DEFAULT = '000000000000';

test('ECR host form names the account; the path is left as it is', () => {
  assert.deepEqual(resolveRegistryAddress('111111111111.dkr.ecr.us-east-1.example.com:5000', '/v2/team/app/manifests/v1', DEFAULT), {
    registryId: '111111111111',
    path: '/v2/team/app/manifests/v1',
    base: '/v2/',
  });
  assert.equal(resolveRegistryAddress('111111111111.DKR.ECR.eu-west-1.localhost', '/v2/123456789012/app/manifests/v1', DEFAULT).path, '/v2/123456789012/app/manifests/v1', 'host form: a 12-digit first component is just part of the name');
  assert.equal(resolveRegistryAddress('1111.dkr.ecr.us-east-1.x', '/v2/team/app/tags/list', DEFAULT).registryId, DEFAULT, 'not 12 digits');
  assert.equal(resolveRegistryAddress('registry.example.com', '/v2/team/app/tags/list', DEFAULT).registryId, DEFAULT);
});

test('path form: a leading 12-digit component followed by a repository route names the account', () => {
  assert.deepEqual(resolveRegistryAddress('localhost:5000', '/v2/123456789012/team/app/blobs/uploads/', DEFAULT), {
    registryId: '123456789012',
    path: '/v2/team/app/blobs/uploads/',
    base: '/v2/123456789012/',
  });
  assert.equal(resolveRegistryAddress('localhost', '/v2/123456789012/app/manifests/v1', DEFAULT).path, '/v2/app/manifests/v1');
  assert.equal(resolveRegistryAddress('localhost', '/v2/123456789012/_catalog', DEFAULT).registryId, '123456789012');
  // A repository named by 12 digits alone has nothing left to name: the default account's.
  assert.deepEqual(resolveRegistryAddress('localhost', '/v2/123456789012/manifests/v1', DEFAULT), { registryId: DEFAULT, path: '/v2/123456789012/manifests/v1', base: '/v2/' });
  // The escape for default-account names that start with 12 digits: name the account first.
  assert.deepEqual(resolveRegistryAddress('localhost', `/v2/${DEFAULT}/123456789012/app/tags/list`, DEFAULT), { registryId: DEFAULT, path: '/v2/123456789012/app/tags/list', base: `/v2/${DEFAULT}/` });
  assert.equal(resolveRegistryAddress('localhost', '/v2/12345678901/app/tags/list', DEFAULT).registryId, DEFAULT, '11 digits are a name');
  assert.equal(resolveRegistryAddress('localhost', '/v2/', DEFAULT).path, '/v2/');
});

test('mount sources are read by the same rule and only within the addressed registry', () => {
  const a = { registryId: '111111111111' };
  assert.equal(mountSource('111111111111/base/img', a, 'localhost', DEFAULT), 'base/img');
  assert.equal(mountSource('222222222222/base/img', a, 'localhost', DEFAULT), null);
  assert.equal(mountSource('base/img', a, 'localhost', DEFAULT), null, 'a bare name is the default account');
  assert.equal(mountSource('base/img', { registryId: DEFAULT }, 'localhost', DEFAULT), 'base/img');
  assert.equal(mountSource('222222222222/img', a, '111111111111.dkr.ecr.us-east-1.local', DEFAULT), '222222222222/img', 'host form: names are names');
});

test('repository URIs name the registry in a form /v2 resolves back to it', () => {
  assert.equal(registryHostFor('localhost:5000', DEFAULT, DEFAULT), 'localhost:5000');
  assert.equal(registryHostFor('localhost:5000', '111111111111', DEFAULT), 'localhost:5000/111111111111');
  assert.equal(registryHostFor('111111111111.dkr.ecr.us-east-1.example.com', '111111111111', DEFAULT), '111111111111.dkr.ecr.us-east-1.example.com');
  assert.equal(registryHostFor('111111111111.dkr.ecr.us-east-1.example.com:5000', '222222222222', DEFAULT), '222222222222.dkr.ecr.us-east-1.example.com:5000');
  for (const host of ['localhost:5000', '111111111111.dkr.ecr.us-east-1.example.com']) {
    for (const account of [DEFAULT, '111111111111', '222222222222']) {
      const uri = `${registryHostFor(host, account, DEFAULT)}/team/app`;
      const slash = uri.indexOf('/');
      const address = resolveRegistryAddress(uri.slice(0, slash), `/v2${uri.slice(slash)}/tags/list`, DEFAULT);
      assert.deepEqual([address.registryId, address.path], [account, '/v2/team/app/tags/list'], uri);
    }
  }
});
