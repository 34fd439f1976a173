import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDomainError } from '../../src/domain/errors.js';
import { evaluateLifecycle, parseLifecyclePolicy, wildcardMatcher, type LifecycleImage } from '../../src/domain/ecr/lifecycle-policy.js';

const DAY = 86_400_000;
const NOW = 1_767_225_600_000;

/** Pads a policy past ECR's 100-character minimum with a description. */
function policy(rules: unknown[]): string {
  const text = JSON.stringify({ rules });
  return text.length >= 100 ? text : JSON.stringify({ rules: rules.map((r, i) => (i === 0 ? { ...(r as object), description: 'x'.repeat(100) } : r)) });
}

function rule(priority: number, selection: Record<string, unknown>) {
  return { rulePriority: priority, selection, action: { type: 'expire' } };
}

/** A rule that moves what it selects to the archive storage class. */
function archive(priority: number, selection: Record<string, unknown>) {
  return { rulePriority: priority, selection, action: { type: 'transition', targetStorageClass: 'archive' } };
}

function img(digest: string, tags: string[], ageDays: number, extra: Partial<LifecycleImage> = {}): LifecycleImage {
  return { digest, tags, pushedAt: NOW - ageDays * DAY, lastPulledAt: null, subjectDigest: null, children: [], status: 'ACTIVE', lastArchivedAt: null, lastActivatedAt: null, ...extra };
}

/** `digest@rule` per action (`+` for a referrer following its subject, `>archive` for a transition). */
function expired(p: string, images: LifecycleImage[]) {
  return evaluateLifecycle(parseLifecyclePolicy(p), images, NOW)
    .map((a) => `${a.digest}@${a.rulePriority}${a.followsSubject ? '+' : ''}${a.type === 'transition' ? '>archive' : ''}`)
    .sort();
}

function rejects(text: string, reason: RegExp) {
  assert.throws(
    () => parseLifecyclePolicy(text),
    (err) => isDomainError(err, 'InvalidParameter') && /Lifecycle policy validation failure/.test(err.message) && reason.test(err.message),
  );
}

test('the grammar: what ECR rejects is rejected with InvalidParameterException', () => {
  rejects('{"rules":[]}', /100 to 30720 characters/);
  rejects('{"rules":[]}' + ' '.repeat(100), /non-empty array/);
  rejects(policy([rule(1, { tagStatus: 'tagged', countType: 'imageCountMoreThan', countNumber: 1 })]), /tagPrefixList or tagPatternList is required/);
  rejects(policy([rule(1, { tagStatus: 'tagged', tagPrefixList: ['a'], tagPatternList: ['a*'], countType: 'imageCountMoreThan', countNumber: 1 })]), /cannot both/);
  rejects(policy([rule(1, { tagStatus: 'untagged', tagPrefixList: ['a'], countType: 'imageCountMoreThan', countNumber: 1 })]), /only when tagStatus is tagged/);
  rejects(policy([rule(1, { tagStatus: 'tagged', tagPatternList: ['a*b*c*d*e*f'], countType: 'imageCountMoreThan', countNumber: 1 })]), /more than 4 wildcards/);
  rejects(policy([rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 1 })]), /countUnit must be "days"/);
  rejects(policy([rule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countUnit: 'days', countNumber: 1 })]), /countUnit is not allowed/);
  rejects(policy([rule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 0 })]), /countNumber/);
  rejects(policy([rule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }), rule(2, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 })]), /"any" must have the highest rulePriority/);
  rejects(policy([rule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }), rule(1, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 1 })]), /used by more than one rule/);
  rejects(policy([rule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1, bogus: 1 })]), /unknown fields: bogus/);
  rejects(policy([{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'delete' } }]), /action.type/);
  const ok = parseLifecyclePolicy(policy([archive(2, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 }), rule(1, { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'imageCountMoreThan', countNumber: 5 })]));
  assert.deepEqual(ok.rules.map((r) => r.rulePriority), [1, 2], 'rules in priority order');
});

test('tagPatternList wildcards match whole tags; * matches any run, none too', () => {
  const m = wildcardMatcher('prod*-v*');
  assert.equal(m('prod-v1'), true);
  assert.equal(m('prod-eu-v12'), true);
  assert.equal(m('xprod-v1'), false);
  assert.equal(wildcardMatcher('a.b')('axb'), false, 'dots are literal');
  assert.equal(wildcardMatcher('*')('anything'), true);
});

test('imageCountMoreThan keeps the newest N the rule selects; sinceImagePushed and sinceImagePulled count days', () => {
  const images = [img('a', ['v1'], 5), img('b', ['v2'], 4), img('c', ['v3'], 3), img('d', [], 10), img('e', [], 1, { lastPulledAt: NOW - 40 * DAY })];
  assert.deepEqual(expired(policy([rule(1, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 2 })]), images), ['a@1']);
  assert.deepEqual(expired(policy([rule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 })]), images), ['d@1']);
  // Never pulled counts from the push; e was pushed a day ago but last pulled 40 days ago.
  assert.deepEqual(expired(policy([archive(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 })]), images), ['e@1>archive']);
});

test('each image is acted on by at most one rule: the highest-priority rule that selects it', () => {
  const images = [img('p1', ['prod-1'], 9), img('p2', ['prod-2'], 8), img('d1', ['dev-1'], 7), img('d2', ['dev-2'], 6), img('u', [], 30)];
  const text = policy([
    // prod images: keep 5 (so none expire); rule 1 selects them, so rule 3 may not touch them.
    rule(1, { tagStatus: 'tagged', tagPrefixList: ['prod'], countType: 'imageCountMoreThan', countNumber: 5 }),
    rule(2, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
    rule(3, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }),
  ]);
  // rule 3 counts all five images (newest first: d2 d1 p2 p1 u) and keeps one, but
  // p1, p2 belong to rule 1 and u to rule 2.
  assert.deepEqual(expired(text, images), ['d1@3', 'u@2']);
});

test('tagPrefixList needs every prefix to match one of the image tags', () => {
  const images = [img('both', ['alpha-1', 'beta-1'], 3), img('one', ['alpha-2'], 2)];
  assert.deepEqual(expired(policy([rule(1, { tagStatus: 'tagged', tagPrefixList: ['alpha', 'beta'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 })]), images), ['both@1']);
});

test('index-aware: a kept index keeps its children; referrers of an expired image go with it', () => {
  const images = [
    img('index', ['latest'], 1, { children: ['arm', 'amd'] }),
    img('arm', [], 1),
    img('amd', [], 1),
    img('old', [], 20),
    img('sig-old', [], 1, { subjectDigest: 'old' }),
    img('sig-index', [], 1, { subjectDigest: 'index' }),
  ];
  const text = policy([rule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 })]);
  // Untagged, newest first: arm amd sig-old sig-index (same age, by digest) then old. The
  // rule would expire all but one; the index keeps arm and amd; old's signature goes with it.
  const result = expired(text, images);
  assert.ok(!result.some((r) => r.startsWith('arm@') || r.startsWith('amd@')), 'children of a kept index are kept');
  assert.ok(result.includes('old@1'));
  assert.ok(result.includes('sig-old@1'));
  const withSubject = evaluateLifecycle(parseLifecyclePolicy(policy([rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 10 })])), images, NOW);
  assert.deepEqual(withSubject.map((a) => [a.digest, a.followsSubject]).sort(), [['old', false], ['sig-old', true]]);
});

test('the archive storage class grammar, as ECR documents it', () => {
  const transitioned = { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 90 };
  rejects(policy([{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition' } }]), /targetStorageClass is required when action.type is transition/);
  rejects(policy([{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition', targetStorageClass: 'glacier' } }]), /targetStorageClass must be archive/);
  rejects(policy([{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire', targetStorageClass: 'archive' } }]), /allowed only when action.type is transition/);
  rejects(policy([{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition', targetStorageClass: 'archive', x: 1 } }]), /action has unknown fields: x/);
  rejects(policy([rule(1, { tagStatus: 'any', storageClass: 'glacier', countType: 'imageCountMoreThan', countNumber: 1 })]), /storageClass must be standard or archive/);
  rejects(policy([rule(1, { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 })]), /storageClass archive is allowed only with countType sinceImageTransitioned/);
  rejects(policy([rule(1, { ...transitioned, storageClass: undefined })]), /storageClass is required with countType sinceImageTransitioned/);
  rejects(policy([rule(1, { ...transitioned, storageClass: 'standard' })]), /storageClass must be archive with countType sinceImageTransitioned/);
  rejects(policy([rule(1, { ...transitioned, countUnit: undefined })]), /countUnit must be "days" with sinceImageTransitioned/);
  rejects(policy([rule(1, { ...transitioned, countNumber: 89 })]), /countNumber must be at least 90/);
  rejects(policy([archive(1, transitioned)]), /archived images \(sinceImageTransitioned\) can only expire/);
  rejects(policy([rule(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 })]), /sinceImagePulled rules can only transition/);
  // "any" comes last among the rules of its storage class (ECR's own example pairs an
  // archiving "any" rule at priority 1 with an expiring archive rule at 2).
  const twoClasses = parseLifecyclePolicy(policy([archive(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 90 }), rule(2, transitioned)]));
  assert.deepEqual(twoClasses.rules.map((r) => [r.rulePriority, r.selection.storageClass, r.action.type]), [[1, 'standard', 'transition'], [2, 'archive', 'expire']]);
  rejects(policy([archive(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }), archive(2, { tagStatus: 'untagged', storageClass: 'standard', countType: 'imageCountMoreThan', countNumber: 1 })]), /highest rulePriority among the rules selecting the standard storage class/);
});

test('transition rules archive what they select; archived images expire sinceImageTransitioned; images being restored are left alone', () => {
  const images = [
    img('new', ['v3'], 1),
    img('old', ['v2'], 40),
    img('older', ['v1'], 50),
    img('gone-long', ['v0'], 400, { status: 'ARCHIVED', lastArchivedAt: NOW - 100 * DAY }),
    img('gone-lately', ['v-1'], 500, { status: 'ARCHIVED', lastArchivedAt: NOW - 10 * DAY }),
    img('coming-back', ['v-2'], 600, { status: 'ACTIVATING', lastArchivedAt: NOW - 200 * DAY }),
  ];
  const text = policy([
    archive(1, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 1 }),
    rule(2, { tagStatus: 'tagged', tagPrefixList: ['v'], storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 90 }),
  ]);
  // Rule 1 counts only ACTIVE images (new, old, older), keeps the newest, archives the rest.
  assert.deepEqual(expired(text, images), ['gone-long@2', 'old@1>archive', 'older@1>archive']);
  const actions = evaluateLifecycle(parseLifecyclePolicy(text), images, NOW);
  assert.equal(actions.find((a) => a.digest === 'gone-long')?.storageClass, 'archive');
  assert.equal(actions.find((a) => a.digest === 'old')?.storageClass, 'standard');
});

test('a restored image counts from its restore, for push age, pull age and order', () => {
  const restored = img('restored', [], 100, { lastActivatedAt: NOW - 2 * DAY, lastPulledAt: NOW - 90 * DAY });
  const never = img('never', [], 100);
  assert.deepEqual(expired(policy([rule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 })]), [restored, never]), ['never@1']);
  assert.deepEqual(expired(policy([archive(1, { tagStatus: 'untagged', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 })]), [restored, never]), ['never@1>archive']);
  assert.deepEqual(expired(policy([rule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 })]), [restored, never]), ['never@1'], 'the restored image is the newest');
});

test('archiving is index- and referrer-aware: an index that stays pullable keeps its children active; referrers follow', () => {
  const images = [
    img('index', ['latest'], 1, { children: ['arm', 'amd'] }),
    img('arm', [], 50),
    img('amd', [], 50),
    img('lone', [], 50),
    img('sig-lone', [], 1, { subjectDigest: 'lone' }),
    img('sig-arch', [], 50, { subjectDigest: 'lone', status: 'ARCHIVED', lastArchivedAt: NOW - 5 * DAY }),
  ];
  const untaggedOld = archive(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 });
  // The children of a pullable index stay; lone is archived and its active signature with it.
  assert.deepEqual(expired(policy([untaggedOld]), images), ['lone@1>archive', 'sig-lone@1+>archive']);
  // Newest first: index and sig-lone (1 day), then the 50-day ones; the index is kept and
  // keeps its children active.
  const everything = policy([archive(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 })]);
  assert.deepEqual(expired(everything, images), ['lone@1>archive', 'sig-lone@1>archive']);
  // When the index itself is archived by the run, its children may be archived too.
  const indexOld = images.map((i) => (i.digest === 'index' ? { ...i, pushedAt: NOW - 60 * DAY } : i));
  const result = expired(policy([archive(1, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 })]), indexOld);
  assert.deepEqual(result, ['amd@1>archive', 'arm@1>archive', 'index@1>archive', 'lone@1>archive', 'sig-lone@1+>archive']);
  // An archived index does not protect its children from archiving, but nothing expires a
  // manifest an index that is kept (archived or not) lists.
  const archivedIndex = images.map((i) => (i.digest === 'index' ? { ...i, status: 'ARCHIVED' as const, lastArchivedAt: NOW - DAY } : i));
  assert.deepEqual(expired(policy([untaggedOld]), archivedIndex), ['amd@1>archive', 'arm@1>archive', 'lone@1>archive', 'sig-lone@1+>archive']);
  // Expiry of a subject takes its referrers along, archived ones too.
  assert.deepEqual(expired(policy([rule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 })]), archivedIndex), ['lone@1', 'sig-arch@1+', 'sig-lone@1+']);
});
