import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { ScanRefused, UnsupportedImage } from '../../src/modules/scanning/engine/errors.js';
import { defaultEngineLimits, scanImage } from '../../src/modules/scanning/engine/scan-image.js';
import { layer, sources, tarOf } from './layers.js';

const OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
const STATUS = [
  'Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nDescription: SSL\n multi-line\n .\n more',
  'Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nSource: bash (5.2.15-2)\nArchitecture: amd64',
  'Package: removed-one\nStatus: deinstall ok config-files\nVersion: 1.0',
].join('\n\n');

const names = (inv: { packages: { name: string; version: string }[] }) => inv.packages.map((p) => `${p.name}@${p.version}`).sort();

test('Debian: os-release through its symlink, dpkg status by source package, whiteouts and opaque dirs across layers', async () => {
  const l1 = await layer([
    { name: 'usr/lib/os-release', content: OS_RELEASE },
    { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    { name: 'var/lib/dpkg/status', content: STATUS },
    { name: 'usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA', content: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n\nbody' },
    { name: 'usr/lib/python3/dist-packages/urllib3-1.26.12.dist-info/METADATA', content: 'Name: urllib3\nVersion: 1.26.12\n' },
    { name: 'app/node_modules/lodash/package.json', content: JSON.stringify({ name: 'lodash', version: '4.17.20' }) },
  ]);
  const l2 = await layer(
    [
      { name: 'usr/lib/python3/dist-packages/.wh.requests-2.28.1.dist-info', content: '' },
      { name: 'app/node_modules/.wh..wh..opq', content: '' },
      { name: 'app/node_modules/minimist/package.json', content: JSON.stringify({ name: 'minimist', version: '1.2.5' }) },
      { name: 'srv/package-lock.json', content: JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'srv' }, 'node_modules/@scope/x': { version: '1.0.0' }, 'node_modules/y/node_modules/z': { version: '2.0.0' } } }) },
    ],
    'zstd',
  );
  const inv = await scanImage(sources([l1, l2]));
  assert.deepEqual(inv.os, { id: 'debian', versionId: '12', name: 'Debian GNU/Linux 12 (bookworm)', ecosystem: 'Debian:12' });
  assert.deepEqual(names(inv), ['@scope/x@1.0.0', 'bash@5.2.15-2+b2', 'libssl3@3.0.11-1~deb12u2', 'minimist@1.2.5', 'urllib3@1.26.12', 'z@2.0.0']);
  const ssl = inv.packages.find((p) => p.name === 'libssl3')!;
  assert.equal(ssl.sourceName, 'openssl');
  assert.equal(ssl.sourceVersion, '3.0.11-1~deb12u2');
  assert.equal(ssl.purl, 'pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12');
  const bash = inv.packages.find((p) => p.name === 'bash')!;
  assert.deepEqual([bash.sourceName, bash.sourceVersion], ['bash', '5.2.15-2']);
  assert.equal(inv.packages.find((p) => p.name === 'urllib3')!.ecosystem, 'PyPI');
});

test('a package database deleted in a later layer is not reported; a file replaced later is read from the top layer', async () => {
  const l1 = await layer([
    { name: 'etc/os-release', content: OS_RELEASE },
    { name: 'var/lib/dpkg/status', content: STATUS },
  ]);
  const l2 = await layer([{ name: 'var/lib/dpkg/status', content: 'Package: only\nStatus: install ok installed\nVersion: 1.0-1\n' }], 'none');
  assert.deepEqual(names(await scanImage(sources([l1, l2]))), ['only@1.0-1']);
  const l3 = await layer([{ name: 'var/lib/.wh.dpkg', content: '' }]);
  assert.deepEqual(names(await scanImage(sources([l1, l2, l3]))), []);
});

test('Alpine apk database, distroless status.d, and the debian_version fallback', async () => {
  const apk = await layer([
    { name: 'etc/alpine-release', content: '3.19.1\n' },
    { name: 'lib/apk/db/installed', content: 'C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\nP:libcrypto3\nV:3.1.4-r5\no:openssl\n' },
  ]);
  const a = await scanImage(sources([apk]));
  assert.equal(a.os?.ecosystem, 'Alpine:v3.19');
  assert.deepEqual(names(a), ['libcrypto3@3.1.4-r5', 'musl@1.2.4_git20230717-r4']);
  assert.equal(a.packages.find((p) => p.name === 'libcrypto3')!.sourceName, 'openssl');
  const distroless = await layer([
    { name: 'etc/debian_version', content: '12.5\n' },
    { name: 'var/lib/dpkg/status.d/libc6', content: 'Package: libc6\nVersion: 2.36-9+deb12u4\nSource: glibc\n' },
    { name: 'var/lib/dpkg/status.d/libc6.md5sums', content: 'abc  /lib/x\n' },
  ]);
  const d = await scanImage(sources([distroless]));
  assert.equal(d.os?.ecosystem, 'Debian:12');
  assert.deepEqual(names(d), ['libc6@2.36-9+deb12u4']);
  assert.equal(d.packages[0]!.sourceName, 'glibc');
});

test('language packages: Cargo.lock, gemspecs, a jar with a nested jar, and a Go binary’s build info (this machine’s skopeo)', async (t) => {
  const cargo = '[[package]]\nname = "app"\nversion = "0.1.0"\n\n[[package]]\nname = "serde"\nversion = "1.0.190"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n';
  const py = `import io,zipfile,sys
def jar(entries):
    b=io.BytesIO(); z=zipfile.ZipFile(b,'w')
    for n,d in entries: z.writestr(n,d)
    z.close(); return b.getvalue()
inner=jar([('META-INF/maven/org.yaml/snakeyaml/pom.properties','groupId=org.yaml\\nartifactId=snakeyaml\\nversion=1.33\\n')])
outer=jar([('META-INF/maven/com.example/app/pom.properties','version=1.0\\ngroupId=com.example\\nartifactId=app\\n'),('BOOT-INF/lib/snakeyaml-1.33.jar',inner)])
sys.stdout.buffer.write(outer)`;
  const jar = execFileSync('python3', ['-c', py]);
  const entries = [
    { name: 'etc/os-release', content: OS_RELEASE },
    { name: 'app/Cargo.lock', content: cargo },
    { name: 'usr/lib/ruby/gems/3.1.0/specifications/rack-2.2.3.gemspec', content: '# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = "rack".freeze\n  s.version = "2.2.3"\nend\n' },
    { name: 'opt/app.jar', content: jar },
  ];
  entries.push({ name: 'usr/local/bin/tool', content: goBinary(), mode: 0o755 } as never);
  const haveGo = existsSync('/usr/bin/skopeo');
  if (haveGo) entries.push({ name: 'usr/bin/skopeo', content: readFileSync('/usr/bin/skopeo'), mode: 0o755 } as never);
  const inv = await scanImage(sources([await layer(entries)]));
  const got = names(inv);
  for (const want of ['serde@1.0.190', 'rack@2.2.3', 'com.example:app@1.0', 'org.yaml:snakeyaml@1.33']) assert.ok(got.includes(want), `${want} in ${got.join(', ')}`);
  assert.ok(!got.includes('app@0.1.0'), 'a path crate is not a crates.io package');
  const tool = inv.packages.filter((p) => p.path === 'usr/local/bin/tool').map((p) => `${p.name}@${p.version}`).sort();
  assert.deepEqual(tool, ['example.com/tool@v1.2.3', 'github.com/pkg/errors@v0.9.1', 'golang.org/x/net@v0.17.0', 'golang.org/x/text@v0.0.0-20170915032832-14c0d48ead0c', 'stdlib@1.21.5']);
  if (!haveGo) return t.skip('no Go binary on this machine');
  // Debian builds skopeo without module info; its toolchain version is still there.
  const go = inv.packages.filter((p) => p.path === 'usr/bin/skopeo');
  const script = "d=open('/usr/bin/skopeo','rb').read();i=d.find(b'\\xff Go buildinf:');print(d[i+33:i+33+d[i+32]].decode())";
  const version = execFileSync('python3', ['-c', script], { encoding: 'utf8' }).trim().replace(/^go/, '');
  assert.deepEqual(go.map((p) => `${p.name}@${p.version}`), [`stdlib@${version}`]);
});

/** An ELF-looking file with Go 1.18+ inline build info (the format of debug/buildinfo), padded so the magic sits mid-file. */
function goBinary(): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Buffer.from(out);
  };
  const str = (s: Buffer) => Buffer.concat([varint(s.length), s]);
  const start = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
  const end = Buffer.from('f932433186182072008242104116d8f2', 'hex');
  const mod = [
    'path\texample.com/tool/cmd/tool',
    'mod\texample.com/tool\tv1.2.3\th1:abc=',
    'dep\tgithub.com/pkg/errors\tv0.9.1\th1:x=',
    'dep\tgolang.org/x/net\tv0.1.0\th1:y=',
    '=>\tgolang.org/x/net\tv0.17.0\th1:z=',
    'dep\tgolang.org/x/text\tv0.0.0-20170915032832-14c0d48ead0c\th1:w=',
    'build\tGOOS=linux',
    '',
  ].join('\n');
  const header = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(header);
  header[14] = 8;
  header[15] = 2;
  const info = Buffer.concat([header, str(Buffer.from('go1.21.5')), str(Buffer.concat([start, Buffer.from(mod), end]))]);
  return Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(300_000, 1), info, Buffer.alloc(70_000)]);
}

async function refused(blobs: Buffer[], pattern: RegExp, limits = defaultEngineLimits) {
  await assert.rejects(scanImage(sources(blobs), limits), (err: Error) => {
    assert.ok(err instanceof ScanRefused, `${err.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('hostile layers end in a readable refusal: traversal, absolute names, hard links to nowhere, symlink loops', async () => {
  await refused([await layer([{ name: '../../etc/passwd', content: 'x' }], 'none')], /path traversal/);
  await refused([await layer([{ name: '/etc/os-release', content: OS_RELEASE }])], /absolute path/);
  await refused([await layer([{ name: 'etc/x', type: 'link', linkname: 'nowhere/at/all' }])], /hard link 'etc\/x' to 'nowhere\/at\/all'/);
  await refused(
    [
      await layer([
        { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
        { name: 'usr/lib/os-release', type: 'symlink', linkname: '/etc/os-release' },
      ]),
    ],
    /symbolic link loop/,
  );
});

test('hostile layers: truncated gzip, corrupt zstd, malformed metadata, an oversized dpkg status', async () => {
  const good = await layer([{ name: 'etc/os-release', content: OS_RELEASE }, { name: 'var/lib/dpkg/status', content: STATUS.repeat(50) }]);
  await refused([good.subarray(0, Math.floor(good.length / 2))], /gzip|unexpected end|truncated/i);
  const z = await layer([{ name: 'etc/os-release', content: OS_RELEASE.repeat(100) }], 'zstd');
  const corrupt = Buffer.from(z);
  for (let i = 12; i < corrupt.length; i += 7) corrupt[i] ^= 0x5a;
  await refused([corrupt], /zstd|tar|invalid|header/i);
  await refused([z.subarray(0, z.length - 8)], /zstd|truncated|unexpected/i);
  await refused([await layer([{ name: 'app/node_modules/x/package.json', content: '{"name": "x", ' }])], /package\.json: malformed JSON/);
  await refused([await layer([{ name: 'var/lib/dpkg/status', content: 'Package bash\nno colon here\n' }])], /malformed dpkg status/);
  // 100 MB dpkg status, streamed (the engine refuses at the header, reading no further).
  const pack = tar.pack();
  const size = 100 * 1024 * 1024;
  const entry = pack.entry({ name: 'var/lib/dpkg/status', size }, (_err) => {});
  let written = 0;
  pack.on('error', () => {});
  entry.on('error', () => {});
  const chunk = Buffer.alloc(1 << 20, 'Package: a\n');
  const pump = () => {
    while (written < size && !entry.destroyed) {
      written += chunk.length;
      if (!entry.write(chunk)) return void entry.once('drain', pump);
    }
    entry.end(undefined);
    pack.finalize();
  };
  pump();
  const gz = (pack as unknown as Readable).pipe(createGzip({ level: 1 }));
  await assert.rejects(scanImage([{ digest: 'sha256:big', open: async () => gz }]), /var\/lib\/dpkg\/status is 104857600 bytes, over the 67108864-byte limit/);
});

test('a decompression bomb is stopped by the expansion limits, streaming, without holding it', async () => {
  // 1 GiB of zeros compressed by zlib, produced as a stream (about 1 MB compressed).
  const zeros = Buffer.alloc(1 << 20);
  const big = tar.pack();
  const bigEntry = big.entry({ name: 'sparse.img', size: 1024 * 1024 * 1024 }, (_err) => {});
  let n = 0;
  big.on('error', () => {});
  bigEntry.on('error', () => {});
  const pump = () => {
    while (n < 1024 && !bigEntry.destroyed) {
      n++;
      if (!bigEntry.write(zeros)) return void bigEntry.once('drain', pump);
    }
    bigEntry.end(undefined);
    big.finalize();
  };
  pump();
  const gz = (big as unknown as Readable).pipe(createGzip({ level: 1 }));
  const before = process.memoryUsage().rss;
  await assert.rejects(scanImage([{ digest: 'sha256:bomb', open: async () => gz }]), /decompression bomb/);
  assert.ok(process.memoryUsage().rss - before < 200 * 1024 * 1024, 'the bomb was not held in memory');
});

test('nothing to scan is UNSUPPORTED; a BerkeleyDB rpm database is named as unsupported', async () => {
  await assert.rejects(scanImage(sources([gzipSync(await tarOf([{ name: 'hello.txt', content: 'hi' }]))])), UnsupportedImage);
  await assert.rejects(scanImage(sources([await layer([{ name: 'var/lib/rpm/Packages', content: 'bdb' }])])), /BerkeleyDB/);
});

test('the worker thread gives the same inventory, and the same refusals, as the engine in this thread', async () => {
  const { scanInWorker } = await import('../../src/modules/scanning/engine/run-in-worker.js');
  const blobs = [await layer([{ name: 'etc/os-release', content: OS_RELEASE }, { name: 'var/lib/dpkg/status', content: STATUS }]), await layer([{ name: 'app/node_modules/x/package.json', content: '{"name":"x","version":"1.0.0"}' }], 'zstd')];
  assert.deepEqual(await scanInWorker(sources(blobs), defaultEngineLimits), await scanImage(sources(blobs)));
  await assert.rejects(scanInWorker(sources([await layer([{ name: '../x', content: 'x' }], 'none')]), defaultEngineLimits), (err: Error) => err instanceof ScanRefused && /path traversal/.test(err.message));
  await assert.rejects(scanInWorker(sources([await layer([{ name: 'hello', content: 'x' }])]), defaultEngineLimits), UnsupportedImage);
});
