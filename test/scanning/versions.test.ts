import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { compareApk } from '../../src/modules/scanning/versions/apk.js';
import { compareDpkg } from '../../src/modules/scanning/versions/dpkg.js';
import { compareMaven } from '../../src/modules/scanning/versions/maven.js';
import { comparePep440 } from '../../src/modules/scanning/versions/pep440.js';
import { compareRpm, rpmvercmp } from '../../src/modules/scanning/versions/rpm.js';
import { compareRubyGems } from '../../src/modules/scanning/versions/rubygems.js';
import { compareGo, compareSemver } from '../../src/modules/scanning/versions/semver.js';

const sign = (n: number) => Math.sign(n);

/** Each pair [a, b] must order a < b; checks both directions and equality with itself. */
function ascending(cmp: (a: string, b: string) => number, pairs: [string, string][]) {
  for (const [a, b] of pairs) {
    assert.equal(sign(cmp(a, b)), -1, `${a} < ${b}`);
    assert.equal(sign(cmp(b, a)), 1, `${b} > ${a}`);
    assert.equal(cmp(a, a), 0, `${a} = ${a}`);
  }
}

const dpkgPairs: [string, string][] = [
  ['1.0~rc1', '1.0'],
  ['1.0~~', '1.0~'],
  ['1.0~', '1.0'],
  ['1.0', '1.0+b1'],
  ['1.0', '1.0a'],
  ['1.0a', '1.0+'],
  ['1.0-1', '1.0-2'],
  ['1.0-2', '1.0-10'],
  ['1.0', '1.0-0.1'],
  ['9.9', '1:0.1'],
  ['1:2.0', '2:1.0'],
  ['2.30-1', '2.30.1-1'],
  ['1.2.3-4+deb12u1', '1.2.3-4+deb12u2'],
  ['1.2.3-4~bpo11+1', '1.2.3-4'],
  ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12'],
  ['1.0.0', '1.0.00a'],
  ['a', 'b'],
  ['1.2.3-ubuntu0.1', '1.2.3-ubuntu1'],
  ['3.0.11-1~deb12u2', '3.0.11-1'],
];
const dpkgEqual: [string, string][] = [
  ['0:1.0', '1.0'],
  ['1.0-0', '1.0'],
  ['1.01', '1.1'],
  ['1.0-01', '1.0-1'],
];

test('dpkg: epochs, ~, revisions, letters and digits, in the order dpkg itself gives', () => {
  ascending(compareDpkg, dpkgPairs);
  for (const [a, b] of dpkgEqual) assert.equal(compareDpkg(a, b), 0, `${a} = ${b}`);
});

test('dpkg: every ordering agrees with this machine’s dpkg --compare-versions', { skip: spawnSync('dpkg', ['--version']).status !== 0 && 'no dpkg here' }, () => {
  // Each listed pair in both directions, and neighbours across the lists (one dpkg run per check).
  const flat = [...dpkgPairs, ...dpkgEqual].flat();
  const pairs = [...dpkgPairs, ...dpkgEqual].flatMap(([a, b]) => [[a, b], [b, a]]).concat(flat.slice(1).map((b, i) => [flat[i]!, b]));
  {
    for (const [a, b] of pairs as [string, string][]) {
      const lt = spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
      const eq = spawnSync('dpkg', ['--compare-versions', a, 'eq', b]).status === 0;
      const expected = lt ? -1 : eq ? 0 : 1;
      assert.equal(sign(compareDpkg(a, b)), expected, `dpkg says ${a} ${lt ? '<' : eq ? '=' : '>'} ${b}`);
    }
  }
});

test('rpm: rpmvercmp with ~ and ^, as rpm’s own test suite (tests/rpmvercmp.at)', () => {
  const cases: [string, string, number][] = [
    ['1.0', '1.0', 0],
    ['1.0', '2.0', -1],
    ['2.0.1', '2.0.1', 0],
    ['2.0', '2.0.1', -1],
    ['2.0.1a', '2.0.1', 1],
    ['5.5p1', '5.5p2', -1],
    ['5.5p10', '5.5p1', 1],
    ['10xyz', '10.1xyz', -1],
    ['xyz10', 'xyz10.1', -1],
    ['xyz.4', '8', -1],
    ['5.5p1', '5.5.p1', 0],
    ['5.6p1', '5.5p1', 1],
    ['1.0a', '1.0', 1],
    ['1b.fc17', '1.fc17', -1],
    ['1.0~rc1', '1.0', -1],
    ['1.0~rc1', '1.0~rc2', -1],
    ['1.0~rc1~git123', '1.0~rc1', -1],
    ['1.0^', '1.0', 1],
    ['1.0^git1', '1.0', 1],
    ['1.0^git1', '1.01', -1],
    ['1.0^20160101', '1.0.1', -1],
    ['1.0^20160101^git1', '1.0^20160101', 1],
    ['1.0~rc1^git1', '1.0~rc1', 1],
    ['1.0^git1~pre', '1.0^git1', -1],
    ['20101121', '20101122', -1],
    ['2_0', '2_0', 0],
    ['2.0', '2_0', 0],
    ['a', 'a', 0],
    ['a+', 'a+', 0],
    ['a+', 'a_', 0],
    ['+a', '_a', 0],
    ['+_', '_+', 0],
    ['1.0010', '1.9', 1],
    ['1.05', '1.5', 0],
  ];
  for (const [a, b, want] of cases) assert.equal(rpmvercmp(a, b), want, `rpmvercmp(${a}, ${b})`);
  assert.equal(compareRpm('1:1.0-1.el9', '2.0-1.el9'), 1, 'epoch first');
  assert.equal(compareRpm('3.0.7-24.el9', '3.0.7-27.el9'), -1, 'release');
  assert.equal(compareRpm('3.0.7-24.el9', '3.0.7-24.el9_3'), -1);
});

test('apk: numbers, letters, suffixes and -r revisions', () => {
  ascending(compareApk, [
    ['1.2', '1.2.1'],
    ['1.2_rc1', '1.2'],
    ['1.2_alpha', '1.2_beta'],
    ['1.2_beta2', '1.2_pre1'],
    ['1.2_pre1', '1.2_rc1'],
    ['1.2', '1.2_p1'],
    ['1.2_p1', '1.2a'],
    ['1.2a', '1.2b'],
    ['1.2-r0', '1.2-r1'],
    ['1.2-r9', '1.2-r10'],
    ['1.2.9', '1.2.10'],
    ['3.1.4-r5', '3.1.4_p1-r0'],
    ['1.01', '1.1'],
    ['2.36.1-r0', '2.36.1-r1'],
    ['1.1.1t-r2', '1.1.1u-r0'],
  ]);
  assert.equal(compareApk('1.2-r0', '1.2'), 0);
  assert.throws(() => compareApk('not a version', '1.0'));
});

test('semver (npm, crates.io): pre-releases, build metadata, numeric identifiers', () => {
  ascending(compareSemver, [
    ['1.0.0-alpha', '1.0.0-alpha.1'],
    ['1.0.0-alpha.1', '1.0.0-alpha.beta'],
    ['1.0.0-alpha.beta', '1.0.0-beta'],
    ['1.0.0-beta.2', '1.0.0-beta.11'],
    ['1.0.0-rc.1', '1.0.0'],
    ['1.9.0', '1.10.0'],
    ['4.17.20', '4.17.21'],
  ]);
  assert.equal(compareSemver('1.0.0+build.1', '1.0.0+build.2'), 0, 'build metadata does not order');
});

test('Go: v-prefixed module versions, pseudo-versions and +incompatible', () => {
  ascending(compareGo, [
    ['v0.0.0-20191109021931-daa7c04131f5', 'v0.0.1'],
    ['v0.0.0-20191109021931-daa7c04131f5', 'v0.0.0-20200101000000-0123456789ab'],
    ['v1.2.3', 'v1.2.4-0.20200101000000-0123456789ab'],
    ['v1.2.4-0.20200101000000-0123456789ab', 'v1.2.4'],
    ['v1.2.3-pre', 'v1.2.3-pre.0.20200101000000-0123456789ab'],
    ['v2.0.0+incompatible', 'v2.1.0+incompatible'],
    ['v1.9.0', 'v1.10.0'],
  ]);
  assert.equal(compareGo('v2.0.0+incompatible', 'v2.0.0'), 0);
});

test('PEP 440: epochs, pre/post/dev, local versions and normalization, agreeing with python’s packaging', () => {
  const ordered = [
    '1.0.dev0',
    '1.0a1.dev1',
    '1.0a1',
    '1.0a2',
    '1.0b1',
    '1.0rc1',
    '1.0',
    '1.0+local.1',
    '1.0+local.2',
    '1.0.post1.dev0',
    '1.0.post1',
    '1.0.1',
    '1.1.dev1',
    '1.10',
    '1!0.1',
  ];
  for (let i = 0; i + 1 < ordered.length; i++) ascending(comparePep440, [[ordered[i]!, ordered[i + 1]!]]);
  for (const [a, b] of [
    ['1.0', '1.0.0'],
    ['1.0alpha1', '1.0a1'],
    ['1.0-1', '1.0.post1'],
    ['1.0c1', '1.0rc1'],
    ['v1.0', '1.0'],
    ['1.0-r2', '1.0.post2'],
    ['1.0.DEV', '1.0.dev0'],
  ] as const)
    assert.equal(comparePep440(a, b), 0, `${a} = ${b}`);
  const py = spawnSync('python3', ['-c', 'import packaging']);
  if (py.status === 0) {
    const vs = [...ordered, '2.0b1.post2', '0.9', '1.0.0.0.1', '1.0a1.post1', '1.0rc1.dev3'];
    const script = `import sys,json\nfrom packaging.version import Version\nvs=json.loads(sys.argv[1])\nprint(json.dumps([[(Version(a)>Version(b))-(Version(a)<Version(b)) for b in vs] for a in vs]))`;
    const table = JSON.parse(execFileSync('python3', ['-c', script, JSON.stringify(vs)], { encoding: 'utf8' })) as number[][];
    vs.forEach((a, i) => vs.forEach((b, j) => assert.equal(sign(comparePep440(a, b)), table[i]![j], `packaging orders ${a} vs ${b}`)));
  }
});

test('Maven: ComparableVersion qualifiers, aliases, trailing zeros and sub-lists', () => {
  ascending(compareMaven, [
    ['1-alpha', '1-beta'],
    ['1-beta', '1-milestone'],
    ['1-m1', '1-rc1'],
    ['1-rc1', '1-SNAPSHOT'],
    ['1-SNAPSHOT', '1'],
    ['1', '1-sp'],
    ['1-sp', '1-abc'],
    ['1-abc', '1-1'],
    ['1-1', '1.1'],
    ['1.0-alpha1', '1.0'],
    ['1.0.0-beta2', '1.0.0-beta10'],
    ['2.9.9', '2.10'],
    ['2.12.6', '2.12.6.1'],
    ['1.0-alpha-1', '1.0-alpha-2'],
    ['1.0a1', '1.0b1'],
  ]);
  for (const [a, b] of [
    ['1', '1.0'],
    ['1', '1.0.0'],
    ['1-ga', '1'],
    ['1-final', '1'],
    ['1.0-release', '1'],
    ['1-cr1', '1-rc1'],
    ['1a1', '1-alpha-1'],
    ['1.0.RELEASE', '1.0'],
  ] as const)
    assert.equal(compareMaven(a, b), 0, `${a} = ${b}`);
});

test('RubyGems: pre-release letters sort before numbers, trailing zeros drop', () => {
  ascending(compareRubyGems, [
    ['1.0.0.pre', '1.0.0'],
    ['1.0.0.rc1', '1.0.0'],
    ['1.0.a', '1.0.b'],
    ['1.9', '1.10'],
    ['5.2.4.3', '5.2.4.4'],
  ]);
  assert.equal(compareRubyGems('1.0', '1.0.0'), 0);
});
