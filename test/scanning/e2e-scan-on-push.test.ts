import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliEnv, cliPath } from '../helpers/berth-process.js';
import { OciLayoutBuilder } from '../helpers/images.js';
import { runOk } from '../helpers/process.js';
import { startBerth, testAdmin } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

// The done-when of issue 15, as a user does it: scan on push turned on with the aws CLI, a
// database imported with `berth vulndb import`, an image of this machine's real dpkg
// database pushed with skopeo, findings read with `aws ecr describe-image-scan-findings`,
// checked package by package against what the database says (decided here by this
// machine's own `dpkg --compare-versions`, not by Berth's comparator).

interface Installed {
  name: string;
  version: string;
  source: string;
  sourceVersion: string;
}

function installedPackages(): Installed[] {
  const out = execFileSync('dpkg-query', ['-W', '-f', '${db:Status-Status}\\t${Package}\\t${Version}\\t${source:Package}\\t${source:Version}\\n'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return out
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f[0] === 'installed' && f.length === 5)
    .map(([, name, version, source, sourceVersion]) => ({ name: name!, version: version!, source: source!, sourceVersion: sourceVersion! }));
}

const dpkgLess = (a: string, b: string) => spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;

test('scan on push: aws ecr put-registry-scanning-configuration, berth vulndb import, skopeo push, describe-image-scan-findings match the database', { timeout: 240_000 }, async (t) => {
  if (!requireTool(t, 'aws') || !requireTool(t, 'skopeo') || !requireTool(t, 'dpkg-query')) return;
  if (!existsSync('/etc/os-release') || !existsSync('/var/lib/dpkg/status')) return t.skip('this machine has no dpkg database');
  const osRelease = await readFile('/etc/os-release', 'utf8');
  const versionId = /^VERSION_ID="?([^"\n]+)"?/m.exec(osRelease)?.[1]?.split('.')[0];
  const id = /^ID=(\S+)/m.exec(osRelease)?.[1];
  if (id !== 'debian' || !versionId) return t.skip('the test builds Debian records; this machine is not Debian');
  const ecosystem = `Debian:${versionId}`;

  const server = await startBerth({ jobs: { enabled: true, pollSeconds: 1, leaseSeconds: 600 } } as never);
  const work = await mkdtemp(join(tmpdir(), 'berth-scan-e2e-'));
  t.after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });
  const env = { ...cliEnv(testAdmin), AWS_DEFAULT_REGION: 'us-east-1', HOME: work };
  const aws = async (...args: string[]) => {
    const out = await runOk('aws', ['--endpoint-url', server.url, '--output', 'json', 'ecr', ...args], { env, timeoutMs: 120_000 });
    return out.trim() ? JSON.parse(out) : {};
  };

  // 1. Scan on push for scan/*.
  await aws('create-repository', '--repository-name', 'scan/app');
  await aws('put-registry-scanning-configuration', '--scan-type', 'BASIC', '--rules', JSON.stringify([{ scanFrequency: 'SCAN_ON_PUSH', repositoryFilters: [{ filter: 'scan/*', filterType: 'WILDCARD' }] }]));
  const conf = await aws('batch-get-repository-scanning-configuration', '--repository-names', 'scan/app', 'nope');
  assert.equal(conf.scanningConfigurations[0].scanFrequency, 'SCAN_ON_PUSH');
  assert.equal(conf.scanningConfigurations[0].scanOnPush, true);
  assert.deepEqual(conf.failures, [{ repositoryName: 'nope', failureCode: 'REPOSITORY_NOT_FOUND', failureReason: 'REPOSITORY_NOT_FOUND' }]);

  // 2. A database of records about a few of this machine's real source packages.
  const installed = installedPackages();
  const bySource = new Map<string, Installed[]>();
  for (const p of installed) bySource.set(p.source, [...(bySource.get(p.source) ?? []), p]);
  const sources = [...bySource.keys()].sort();
  assert.ok(sources.length >= 6, 'enough packages on this machine');
  const pick = (i: number) => sources[Math.floor((i * sources.length) / 7)]!;
  const ver = (s: string) => bySource.get(s)![0]!.sourceVersion;
  const records = [
    // affected: fixed in a later version, with a CVSS vector (9.8 -> CRITICAL)
    { id: 'DSA-9001-1', upstream: ['CVE-2099-0001'], src: pick(0), fixed: `${ver(pick(0))}+berth1`, severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] },
    // affected, urgency word only (medium)
    { id: 'CVE-2099-0002', src: pick(1), fixed: `${ver(pick(1))}.1`, urgency: 'medium' },
    // already fixed: the fix is older than what is installed
    { id: 'CVE-2099-0003', src: pick(2), fixed: '0~1' },
    // affected through an exact versions list, no severity at all
    { id: 'DLA-9004-1', aliases: ['CVE-2099-0004'], src: pick(3), versions: [ver(pick(3))] },
    // another release: not this image's
    { id: 'CVE-2099-0005', src: pick(4), fixed: `${ver(pick(4))}+berth1`, eco: 'Debian:1' },
    // withdrawn
    { id: 'CVE-2099-0006', src: pick(5), fixed: `${ver(pick(5))}+berth1`, withdrawn: '2024-01-02T00:00:00Z' },
  ];
  const dbDir = join(work, 'osv');
  await mkdir(dbDir);
  for (const r of records) {
    const osv = {
      id: r.id,
      modified: '2024-01-01T00:00:00Z',
      ...(r.aliases ? { aliases: r.aliases } : {}),
      ...(r.upstream ? { upstream: r.upstream } : {}),
      ...(r.withdrawn ? { withdrawn: r.withdrawn } : {}),
      ...(r.severity ? { severity: r.severity } : {}),
      summary: `test advisory ${r.id}`,
      affected: [
        {
          package: { ecosystem: r.eco ?? ecosystem, name: r.src },
          ...(r.fixed ? { ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: r.fixed }] }] } : {}),
          ...(r.versions ? { versions: r.versions } : {}),
          ...(r.urgency ? { ecosystem_specific: { urgency: r.urgency } } : {}),
        },
      ],
    };
    await writeFile(join(dbDir, `${r.id}.json`), JSON.stringify(osv));
  }
  await writeFile(join(dbDir, 'broken.json'), '{"id": "X"');
  const imported = await runOk(process.execPath, [cliPath, 'vulndb', 'import', dbDir, '--url', server.url], { env, timeoutMs: 60_000 });
  assert.match(imported, /7 records read, 6 added, 0 updated, 0 unchanged, 1 skipped/);
  assert.match(imported, /skipped 1: not valid JSON/);
  const again = await runOk(process.execPath, [cliPath, 'vulndb', 'import', dbDir, '--url', server.url], { env, timeoutMs: 60_000 });
  assert.match(again, /0 added, 0 updated, 6 unchanged/, 'a second import changes nothing');
  const status = JSON.parse(await runOk(process.execPath, [cliPath, 'vulndb', 'status', '--json', '--url', server.url], { env }));
  assert.equal(status.records, 6);

  // What the database says about the real packages, decided by dpkg itself.
  const expected = new Set<string>();
  for (const r of records) {
    if (r.withdrawn || (r.eco && r.eco !== ecosystem)) continue;
    for (const p of bySource.get(r.src)!) {
      const hit = r.versions ? r.versions.includes(p.sourceVersion) : dpkgLess(p.sourceVersion, r.fixed!);
      if (hit) expected.add(`${r.upstream?.[0] ?? r.aliases?.[0] ?? r.id}|${p.name}|${p.version}`);
    }
  }
  assert.ok(expected.size >= 3);

  // 3. The image: this machine's os-release and dpkg status as layer content, pushed with skopeo.
  const layout = await OciLayoutBuilder.create(join(work, 'layout'));
  const base = await layout.addLayer([
    { path: 'etc', content: undefined },
    { path: 'etc/os-release', content: osRelease },
    { path: 'var/lib/dpkg/status', content: await readFile('/var/lib/dpkg/status') },
  ]);
  const image = await layout.addImage([base]);
  await layout.tag('v1', image.manifest);
  await runOk('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${server.host}/scan/app:v1`], { env, timeoutMs: 120_000 });

  // 4. Wait as a user would, then read the findings (paged by the CLI).
  await runOk('aws', ['--endpoint-url', server.url, 'ecr', 'wait', 'image-scan-complete', '--repository-name', 'scan/app', '--image-id', 'imageTag=v1'], { env, timeoutMs: 180_000 });
  const found = await aws('describe-image-scan-findings', '--repository-name', 'scan/app', '--image-id', 'imageTag=v1', '--page-size', '2');
  assert.equal(found.imageScanStatus.status, 'COMPLETE');
  const got = new Set<string>(
    found.imageScanFindings.findings.map((f: { name: string; attributes: { key: string; value: string }[] }) => {
      const a = Object.fromEntries(f.attributes.map((x) => [x.key, x.value]));
      return `${f.name}|${a.package_name}|${a.package_version}`;
    }),
  );
  assert.deepEqual([...got].sort(), [...expected].sort());
  const critical = found.imageScanFindings.findings.find((f: { name: string }) => f.name === 'CVE-2099-0001');
  assert.equal(critical.severity, 'CRITICAL');
  assert.ok(critical.attributes.some((a: { key: string; value: string }) => a.key === 'CVSS3_SCORE' && a.value === '9.8'));
  assert.ok(found.imageScanFindings.findings.filter((f: { name: string }) => f.name === 'CVE-2099-0002').every((f: { severity: string }) => f.severity === 'MEDIUM'));
  assert.ok(found.imageScanFindings.findings.filter((f: { name: string }) => f.name === 'CVE-2099-0004').every((f: { severity: string }) => f.severity === 'UNDEFINED'));
  const counts = found.imageScanFindings.findingSeverityCounts as Record<string, number>;
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), expected.size);
  assert.equal(new Date(found.imageScanFindings.vulnerabilitySourceUpdatedAt).getTime() > 0, true);

  // DescribeImages carries the status and the summary.
  const described = await aws('describe-images', '--repository-name', 'scan/app', '--image-ids', 'imageTag=v1');
  assert.equal(described.imageDetails[0].imageScanStatus.status, 'COMPLETE');
  assert.deepEqual(described.imageDetails[0].imageScanFindingsSummary.findingSeverityCounts, counts);

  // A push scan counts toward the one-scan-per-day limit.
  await assert.rejects(aws('start-image-scan', '--repository-name', 'scan/app', '--image-id', 'imageTag=v1'), /LimitExceededException/);
  await assert.rejects(aws('start-image-scan', '--repository-name', 'scan/app', '--image-id', 'imageTag=nope'), /ImageNotFoundException/);
  await assert.rejects(aws('describe-image-scan-findings', '--repository-name', 'scan/none', '--image-id', 'imageTag=v1'), /RepositoryNotFoundException/);
});
