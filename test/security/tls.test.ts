import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest, Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { ECRClient, CreateRepositoryCommand, DescribeRepositoriesCommand } from '@aws-sdk/client-ecr';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startContainerd } from '../helpers/containerd.js';
import { buildTestImages, imageDigests, readLayoutBlob, type TestImages } from '../helpers/images.js';
import { run, runOk } from '../helpers/process.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { inCI, requireTool } from '../helpers/tools.js';
import { ensureSelfSigned } from '../../src/tls/self-signed.js';

// HTTPS with --tls-self-signed: real clients (skopeo, containerd, the aws CLI, the JS SDK)
// trust Berth's local CA and talk to it; TLS 1.0/1.1 handshakes are refused; SIGHUP's
// reload swaps the certificate for new connections.

function handshake(server: TestServer, options: ConnectionOptions): Promise<{ protocol: string | null; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(server.host.split(':')[1]), servername: 'localhost', ...options }, () => {
      const peer = socket.getPeerX509Certificate();
      resolve({ protocol: socket.getProtocol(), fingerprint: peer?.fingerprint256 ?? '' });
      socket.end();
    });
    socket.once('error', reject);
  });
}

function get(server: TestServer, path: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${server.url}${path}`, { ...(ca ? { ca } : {}), agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('TLS in transit', { timeout: 180_000 }, () => {
  let server: TestServer;
  let ca: Buffer;
  let caFile: string;
  let work: string;
  let images: TestImages;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    server = await startBerth({ tls: { selfSigned: true } });
    caFile = server.berth.tls!.selfSigned!.caCert;
    ca = await readFile(caFile);
    images = await buildTestImages(join(work, 'layout'));
  });
  after(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('serves HTTPS with a certificate the local CA signed, for localhost and 127.0.0.1', async () => {
    assert.match(server.url, /^https:\/\//);
    const res = await get(server, '/healthz', ca);
    assert.equal(res.status, 200);
    const cert = new X509Certificate(await readFile(server.berth.tls!.certFile));
    assert.ok(cert.verify(new X509Certificate(ca).publicKey), 'the server certificate is not signed by the CA');
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    // Without the CA the certificate is not trusted.
    await assert.rejects(get(server, '/healthz'), /self-signed|issuer|certificate/i);
  });

  test('TLS 1.2 and 1.3 handshakes succeed; TLS 1.0 and 1.1 are refused', async () => {
    assert.equal((await handshake(server, { ca, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' })).protocol, 'TLSv1.3');
    assert.equal((await handshake(server, { ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
    for (const version of ['TLSv1.1', 'TLSv1'] as const) {
      // The client offers only that version (SECLEVEL=0 lets this OpenSSL do it); the
      // server's "protocol version" alert (70) proves the server refused it.
      await assert.rejects(handshake(server, { ca, minVersion: version, maxVersion: version, ciphers: 'DEFAULT:@SECLEVEL=0' }), /alert protocol version/i, `${version} was accepted`);
    }
  });

  test('the aws CLI with --ca-bundle calls STS and ECR over HTTPS', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const env = { ...process.env, AWS_ACCESS_KEY_ID: testAdmin.accessKeyId, AWS_SECRET_ACCESS_KEY: testAdmin.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const who = JSON.parse(await runOk('aws', ['sts', 'get-caller-identity', '--endpoint-url', server.url, '--ca-bundle', caFile, '--output', 'json'], { env, timeoutMs: 30_000 }));
    assert.equal(who.Account, '000000000000');
    await runOk('aws', ['ecr', 'create-repository', '--repository-name', 'tls/cli', '--endpoint-url', server.url, '--ca-bundle', caFile], { env, timeoutMs: 30_000 });
    // Without the CA the CLI refuses the certificate.
    const refused = await run('aws', ['sts', 'get-caller-identity', '--endpoint-url', server.url], { env, timeoutMs: 30_000 });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /SSL|certificate/i);
  });

  test('the JS SDK with the CA in its agent', async () => {
    const ecr = new ECRClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { ...testAdmin },
      requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca }) }),
    });
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'tls/sdk' }));
    const out = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ['tls/sdk'] }));
    assert.equal(out.repositories?.[0]?.repositoryName, 'tls/sdk');
    ecr.destroy();
  });

  test('skopeo pushes and pulls over HTTPS trusting the CA with --cert-dir', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const certDir = join(work, 'certs');
    await mkdir(certDir, { recursive: true });
    await copyFile(caFile, join(certDir, 'ca.crt'));
    const image = images.multiLayer;
    await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-cert-dir', certDir, `oci:${images.dir}:multilayer`, `docker://${server.host}/tls/skopeo:v1`], { timeoutMs: 60_000 });
    const out = join(work, 'out');
    await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--src-cert-dir', certDir, `docker://${server.host}/tls/skopeo:v1`, `oci:${out}:back`], { timeoutMs: 60_000 });
    for (const digest of imageDigests(image)) assert.ok((await readLayoutBlob(out, digest)).equals(await readLayoutBlob(images.dir, digest)), `${digest} differs`);
    // Verification is on: without the CA skopeo refuses the certificate.
    const refused = await run('skopeo', ['inspect', `docker://${server.host}/tls/skopeo:v1`], { timeoutMs: 30_000 });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /certificate|x509/i);
  });

  test('containerd pulls over HTTPS with the CA in hosts.toml', async (t) => {
    if (!requireTool(t, 'containerd') || !requireTool(t, 'ctr') || !requireTool(t, 'skopeo')) return;
    if (process.getuid?.() !== 0) {
      if (inCI) throw new Error('containerd needs root');
      return t.skip('containerd needs root');
    }
    const certDir = join(work, 'certs-ctr');
    await mkdir(certDir, { recursive: true });
    await copyFile(caFile, join(certDir, 'ca.crt'));
    await runOk('skopeo', ['--insecure-policy', 'copy', '--dest-cert-dir', certDir, `oci:${images.dir}:multilayer`, `docker://${server.host}/tls/ctr:v1`], { timeoutMs: 60_000 });
    const hostsDir = join(work, 'hosts');
    await mkdir(join(hostsDir, server.host), { recursive: true });
    await writeFile(join(hostsDir, server.host, 'hosts.toml'), `server = "${server.url}"\n\n[host."${server.url}"]\n  capabilities = ["pull", "resolve"]\n  ca = "${caFile}"\n`);
    const c = await startContainerd();
    try {
      await c.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', `${server.host}/tls/ctr:v1`]).catch((err: Error) => {
        throw new Error(`${err.message}\ncontainerd log:\n${c.log().slice(-3000)}`);
      });
      const listed = await c.ctr(['images', 'ls']);
      assert.match(listed, new RegExp(images.multiLayer.manifest.digest));
    } finally {
      await c.stop();
    }
  });

  test('reloadTls (SIGHUP) serves a renewed certificate to new connections', async () => {
    const before = (await handshake(server, { ca })).fingerprint;
    // A second CA-signed pair, copied over the files the server reads.
    const other = await ensureSelfSigned(join(work, 'other'));
    await copyFile(other.cert, server.berth.tls!.certFile);
    await copyFile(other.key, server.berth.tls!.keyFile);
    await server.berth.reloadTls();
    const otherCa = await readFile(other.caCert);
    const after = (await handshake(server, { ca: otherCa })).fingerprint;
    assert.notEqual(after, before);
    assert.equal(after, new X509Certificate(await readFile(other.cert)).fingerprint256);
  });
});
