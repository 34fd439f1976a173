import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Inventory } from '../../src/modules/scanning/engine/inventory.js';
import { matchInventory, severityCounts } from '../../src/modules/scanning/match/findings.js';
import { matchAffected } from '../../src/modules/scanning/osv/affected.js';
import { cvss2BaseScore, cvss3BaseScore, severityOfScore } from '../../src/modules/scanning/osv/cvss.js';
import type { OsvRecord } from '../../src/modules/scanning/osv/record.js';
import { findingName, severityOf } from '../../src/modules/scanning/osv/severity.js';

test('CVSS 3.x base scores from vectors, as FIRST’s calculator gives them', () => {
  const known: [string, number][] = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1],
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N', 5.9],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5],
    ['CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N', 1.6],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0],
    ['CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N', 6.4],
    ['CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H', 9.1],
    ['CVSS:3.1/AV:A/AC:H/PR:L/UI:R/S:C/C:L/I:H/A:L', 6.8], // by hand: 1.08 x (5.2687 + 0.9454) = 6.711, rounded up
    ['CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:U/C:L/I:L/A:N', 3.0], // by hand: 2.514 + 0.4565 = 2.97, rounded up
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N/E:P/RL:O', 6.5],
  ];
  for (const [v, s] of known) assert.equal(cvss3BaseScore(v), s, v);
  assert.equal(cvss3BaseScore('CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'), null);
  assert.equal(cvss3BaseScore('AV:N/AC:L/Au:N/C:P/I:P/A:P'), null);
  assert.equal(cvss2BaseScore('AV:N/AC:L/Au:N/C:P/I:P/A:P'), 7.5);
  assert.equal(cvss2BaseScore('AV:N/AC:M/Au:N/C:N/I:P/A:N'), 4.3);
  assert.equal(cvss2BaseScore('AV:N/AC:L/Au:N/C:C/I:C/A:C'), 10.0);
  assert.deepEqual([0, 0.1, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(severityOfScore), ['INFORMATIONAL', 'LOW', 'LOW', 'MEDIUM', 'MEDIUM', 'HIGH', 'HIGH', 'CRITICAL', 'CRITICAL']);
});

test('names and severities: CVE id rule; vector first, then the record’s word, then UNDEFINED', () => {
  const r = (x: Partial<OsvRecord>): OsvRecord => ({ id: 'GHSA-xxxx', modified: '2024-01-01T00:00:00Z', ...x });
  assert.equal(findingName(r({ id: 'CVE-2024-1' })), 'CVE-2024-1');
  assert.equal(findingName(r({ aliases: ['GHSA-a', 'CVE-2023-44487'] })), 'CVE-2023-44487');
  assert.equal(findingName(r({ aliases: ['PYSEC-1'] })), 'GHSA-xxxx');
  assert.equal(severityOf(r({ severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }], database_specific: { severity: 'LOW' } })).severity, 'CRITICAL');
  assert.equal(severityOf(r({ database_specific: { severity: 'MODERATE' } })).severity, 'MEDIUM');
  assert.equal(severityOf(r({}), { ecosystem_specific: { urgency: 'unimportant' } }).severity, 'INFORMATIONAL');
  assert.equal(severityOf(r({ severity: [{ type: 'Ubuntu', score: 'high' }] })).severity, 'HIGH');
  assert.equal(severityOf(r({})).severity, 'UNDEFINED');
});

test('OSV ranges: introduced/fixed, last_affected, limit, several ranges, versions lists, GIT ignored', () => {
  const eco = (events: object[], extra: object = {}) => ({ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER', events }], ...extra }) as never;
  const a1 = eco([{ introduced: '0' }, { fixed: '1.2.3' }]);
  assert.deepEqual(matchAffected('npm', '1.2.2', a1), { fixedIn: '1.2.3' });
  assert.equal(matchAffected('npm', '1.2.3', a1), null);
  const a2 = eco([{ introduced: '1.0.0' }, { fixed: '1.0.5' }, { introduced: '2.0.0' }, { fixed: '2.1.0' }]);
  assert.equal(matchAffected('npm', '0.9.0', a2), null);
  assert.deepEqual(matchAffected('npm', '1.0.4', a2), { fixedIn: '1.0.5' });
  assert.equal(matchAffected('npm', '1.5.0', a2), null);
  assert.deepEqual(matchAffected('npm', '2.0.9', a2), { fixedIn: '2.1.0' });
  const a3 = eco([{ introduced: '1.0.0' }, { last_affected: '1.4.0' }]);
  assert.ok(matchAffected('npm', '1.4.0', a3));
  assert.equal(matchAffected('npm', '1.4.1', a3), null);
  const a4 = eco([{ introduced: '0' }, { limit: '3.0.0' }]);
  assert.ok(matchAffected('npm', '2.9.9', a4));
  assert.equal(matchAffected('npm', '3.0.0', a4), null);
  const deb = { package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }] } as never;
  assert.ok(matchAffected('Debian:12', '3.0.11-1~deb12u1', deb), 'dpkg ordering decides');
  assert.equal(matchAffected('Debian:12', '3.0.11-1~deb12u2', deb), null);
  assert.equal(matchAffected('Debian:12', '3.0.11-1', deb), null, '~ sorts before');
  const git = { package: { ecosystem: 'PyPI', name: 'p' }, ranges: [{ type: 'GIT', repo: 'r', events: [{ introduced: 'abc' }, { fixed: 'def' }] }], versions: ['1.0', '1.1'] } as never;
  assert.ok(matchAffected('PyPI', '1.1', git));
  assert.equal(matchAffected('PyPI', '1.2', git), null);
});

test('matching an inventory: source packages for Debian, releases must agree, BASIC skips language packages', async () => {
  const inventory: Inventory = {
    os: { id: 'debian', versionId: '12', name: 'Debian 12', ecosystem: 'Debian:12' },
    layers: [],
    packages: [
      { kind: 'os', ecosystem: 'Debian', name: 'libssl3', version: '3.0.11-1~deb12u1', sourceName: 'openssl', sourceVersion: '3.0.11-1~deb12u1', path: 'var/lib/dpkg/status', purl: 'p1' },
      { kind: 'os', ecosystem: 'Debian', name: 'openssl', version: '3.0.11-1~deb12u1', sourceName: 'openssl', sourceVersion: '3.0.11-1~deb12u1', path: 'var/lib/dpkg/status', purl: 'p2' },
      { kind: 'lang', ecosystem: 'npm', name: 'lodash', version: '4.17.20', path: 'app/package-lock.json', purl: 'p3' },
    ],
  };
  const records: OsvRecord[] = [
    { id: 'DSA-5532-1', modified: '2024-01-01T00:00:00Z', upstream: ['CVE-2023-5678'], affected: [{ package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }] }], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }] },
    { id: 'DSA-OLD', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:11', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '9' }] }] }] },
    { id: 'GHSA-29mw-wpgm-hmr9', modified: '2024-01-01T00:00:00Z', aliases: ['CVE-2020-28500'], affected: [{ package: { ecosystem: 'npm', name: 'lodash' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '4.0.0' }, { fixed: '4.17.21' }] }] }], database_specific: { severity: 'MODERATE' } },
  ];
  const db = { recordsFor: async (base: string, names: string[]) => records.filter((r) => r.affected!.some((a) => a.package!.ecosystem.startsWith(base) && names.includes(a.package!.name))) };
  const basic = await matchInventory(inventory, db, { scanType: 'BASIC' });
  assert.deepEqual(basic.map((f) => `${f.name} ${f.package.name} ${f.severity} ${f.fixedIn}`), ['CVE-2023-5678 libssl3 HIGH 3.0.11-1~deb12u2', 'CVE-2023-5678 openssl HIGH 3.0.11-1~deb12u2']);
  const enhanced = await matchInventory(inventory, db, { scanType: 'ENHANCED' });
  assert.equal(enhanced.length, 3);
  assert.deepEqual(severityCounts(enhanced), { HIGH: 2, MEDIUM: 1 });
});
