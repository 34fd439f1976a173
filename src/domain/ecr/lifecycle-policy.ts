import { invalidParameter } from './context.js';
import type { LifecycleImageRecord } from '../../stores/ecr-store.js';

// ECR lifecycle policies: the grammar (validated as ECR does) and the evaluation, a pure
// function of the policy, the repository's images and the time. See docs/lifecycle.md.

export interface LifecycleRule {
  rulePriority: number;
  description?: string;
  selection: {
    tagStatus: 'tagged' | 'untagged' | 'any';
    tagPrefixList?: string[];
    tagPatternList?: string[];
    countType: 'imageCountMoreThan' | 'sinceImagePushed' | 'sinceImagePulled';
    countUnit?: 'days';
    countNumber: number;
  };
  action: { type: 'expire' };
}

export interface LifecyclePolicy {
  rules: LifecycleRule[];
}

/** What evaluation needs of an image (a manifest, as ECR counts them): the store's record. */
export type LifecycleImage = LifecycleImageRecord;

export interface LifecycleAction {
  digest: string;
  tags: string[];
  pushedAt: number;
  /** The rule that expires it (for a referrer: the rule that expires its subject). */
  rulePriority: number;
  /** True for a referrer that goes because the image it refers to goes. */
  followsSubject: boolean;
}

export const minPolicyChars = 100;
export const maxPolicyChars = 30_720;
const DAY = 86_400_000;

function fail(reason: string): never {
  throw invalidParameter('LifecyclePolicyText', `Lifecycle policy validation failure: ${reason}`);
}

/** Parses and validates a lifecycle policy text the way ECR does (rejecting what ECR rejects). */
export function parseLifecyclePolicy(text: string): LifecyclePolicy {
  if (text.length < minPolicyChars || text.length > maxPolicyChars) fail(`the policy text must be ${minPolicyChars} to ${maxPolicyChars} characters long, got ${text.length}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    fail(`the policy is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) fail('the policy must be a JSON object');
  const unknownTop = Object.keys(doc).filter((k) => k !== 'rules');
  if (unknownTop.length > 0) fail(`object has unknown fields: ${unknownTop.join(', ')}`);
  if (!Array.isArray(doc.rules) || doc.rules.length === 0) fail('"rules" must be a non-empty array');
  const rules = doc.rules.map((r, i) => parseRule(r, i));
  const priorities = new Set<number>();
  for (const rule of rules) {
    if (priorities.has(rule.rulePriority)) fail(`rulePriority ${rule.rulePriority} is used by more than one rule`);
    priorities.add(rule.rulePriority);
  }
  const highest = Math.max(...priorities);
  for (const rule of rules) {
    if (rule.selection.tagStatus === 'any' && rule.rulePriority !== highest) fail('a rule with tagStatus "any" must have the highest rulePriority');
  }
  return { rules: [...rules].sort((a, b) => a.rulePriority - b.rulePriority) };
}

function parseRule(raw: unknown, i: number): LifecycleRule {
  const at = `rules[${i}]`;
  if (!isObject(raw)) fail(`${at} must be an object`);
  const extra = Object.keys(raw).filter((k) => !['rulePriority', 'description', 'selection', 'action'].includes(k));
  if (extra.length > 0) fail(`${at} has unknown fields: ${extra.join(', ')}`);
  const { rulePriority, description, selection, action } = raw;
  if (!Number.isInteger(rulePriority) || (rulePriority as number) < 1) fail(`${at}.rulePriority must be an integer of at least 1`);
  if (description !== undefined && typeof description !== 'string') fail(`${at}.description must be a string`);
  if (!isObject(selection)) fail(`${at}.selection is required`);
  if (!isObject(action)) fail(`${at}.action is required`);
  const selExtra = Object.keys(selection).filter((k) => !['tagStatus', 'tagPrefixList', 'tagPatternList', 'countType', 'countUnit', 'countNumber', 'storageClass'].includes(k));
  if (selExtra.length > 0) fail(`${at}.selection has unknown fields: ${selExtra.join(', ')}`);

  const tagStatus = selection.tagStatus;
  if (tagStatus !== 'tagged' && tagStatus !== 'untagged' && tagStatus !== 'any') fail(`${at}.selection.tagStatus must be one of tagged, untagged, any`);
  const prefixes = stringList(selection.tagPrefixList, `${at}.selection.tagPrefixList`);
  const patterns = stringList(selection.tagPatternList, `${at}.selection.tagPatternList`);
  if (tagStatus === 'tagged') {
    if (!prefixes && !patterns) fail(`${at}: tagPrefixList or tagPatternList is required when tagStatus is tagged`);
    if (prefixes && patterns) fail(`${at}: tagPrefixList and tagPatternList cannot both be given`);
  } else if (prefixes || patterns) {
    fail(`${at}: tagPrefixList and tagPatternList are allowed only when tagStatus is tagged`);
  }
  for (const p of patterns ?? []) if ((p.match(/\*/g)?.length ?? 0) > 4) fail(`${at}.selection.tagPatternList: "${p.slice(0, 100)}" has more than 4 wildcards`);

  const countType = selection.countType;
  if (countType === 'sinceImageTransitioned' || selection.storageClass !== undefined) fail(`${at}: the archive storage class is not supported by this registry`);
  if (countType !== 'imageCountMoreThan' && countType !== 'sinceImagePushed' && countType !== 'sinceImagePulled') {
    fail(`${at}.selection.countType must be one of imageCountMoreThan, sinceImagePushed, sinceImagePulled, sinceImageTransitioned`);
  }
  if (countType === 'imageCountMoreThan') {
    if (selection.countUnit !== undefined) fail(`${at}: countUnit is not allowed with imageCountMoreThan`);
  } else if (selection.countUnit !== 'days') fail(`${at}: countUnit must be "days" with ${countType}`);
  if (!Number.isInteger(selection.countNumber) || (selection.countNumber as number) < 1) fail(`${at}.selection.countNumber must be an integer of at least 1`);

  if (action.type === 'transition') fail(`${at}: the transition action (archive storage class) is not supported by this registry`);
  if (action.type !== 'expire') fail(`${at}.action.type must be expire or transition`);
  const actExtra = Object.keys(action).filter((k) => k !== 'type');
  if (actExtra.length > 0) fail(`${at}.action has unknown fields: ${actExtra.join(', ')}`);

  return {
    rulePriority: rulePriority as number,
    ...(description !== undefined ? { description: description as string } : {}),
    selection: {
      tagStatus,
      ...(prefixes ? { tagPrefixList: prefixes } : {}),
      ...(patterns ? { tagPatternList: patterns } : {}),
      countType,
      ...(countType === 'imageCountMoreThan' ? {} : { countUnit: 'days' as const }),
      countNumber: selection.countNumber as number,
    },
    action: { type: 'expire' },
  };
}

function stringList(value: unknown, at: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v.length > 0)) fail(`${at} must be a non-empty list of non-empty strings`);
  return value as string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `*` matches any run of characters (none too); everything else is literal. */
export function wildcardMatcher(pattern: string): (tag: string) => boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (tag) => re.test(tag);
}

function selects(rule: LifecycleRule, matchers: ((tag: string) => boolean)[], image: LifecycleImage): boolean {
  const { tagStatus, tagPrefixList } = rule.selection;
  if (tagStatus === 'any') return true;
  if (tagStatus === 'untagged') return image.tags.length === 0;
  if (image.tags.length === 0) return false;
  // Every prefix (or pattern) of the list must match one of the image's tags (ECR's AND).
  if (tagPrefixList) return tagPrefixList.every((p) => image.tags.some((t) => t.startsWith(p)));
  return matchers.every((m) => image.tags.some(m));
}

/**
 * What a run of the policy does to these images now: each image is acted on by at most
 * one rule (the highest-priority rule whose selection matches it), oldest images first.
 * Then, index-aware: a manifest a kept index lists is kept, and referrers (subject) of an
 * expired image expire with it.
 */
export function evaluateLifecycle(policy: LifecyclePolicy, images: LifecycleImage[], now: number): LifecycleAction[] {
  // Newest first, as ECR orders by push time; ties by digest for a stable answer.
  const ordered = [...images].sort((a, b) => b.pushedAt - a.pushedAt || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const claimed = new Set<string>();
  const expire = new Map<string, number>();
  const following = new Set<string>();
  for (const rule of policy.rules) {
    const matchers = (rule.selection.tagPatternList ?? []).map(wildcardMatcher);
    const selected = ordered.filter((image) => selects(rule, matchers, image));
    const { countType, countNumber } = rule.selection;
    const cutoff = now - countNumber * DAY;
    selected.forEach((image, index) => {
      const hit =
        countType === 'imageCountMoreThan'
          ? index >= countNumber
          : countType === 'sinceImagePushed'
            ? image.pushedAt < cutoff
            : (image.lastPulledAt ?? image.pushedAt) < cutoff;
      // A rule counts every image it selects, but acts only on those no earlier rule selected.
      if (hit && !claimed.has(image.digest)) expire.set(image.digest, rule.rulePriority);
    });
    for (const image of selected) claimed.add(image.digest);
  }

  const byDigest = new Map(images.map((i) => [i.digest, i]));
  const referrers = new Map<string, string[]>();
  for (const image of images) {
    if (image.subjectDigest === null) continue;
    const list = referrers.get(image.subjectDigest);
    if (list) list.push(image.digest);
    else referrers.set(image.subjectDigest, [image.digest]);
  }
  // Manifests a kept index needs; never expired, not even as a referrer.
  const needed = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    // A kept index keeps what it lists.
    for (const image of images) {
      if (expire.has(image.digest)) continue;
      for (const child of image.children) {
        needed.add(child);
        if (expire.delete(child)) changed = true;
      }
    }
    // Referrers go with the image they refer to (signatures, SBOMs of an expired image).
    for (const digest of [...expire.keys()]) {
      for (const referrer of referrers.get(digest) ?? []) {
        if (!expire.has(referrer) && !needed.has(referrer)) {
          expire.set(referrer, expire.get(digest)!);
          following.add(referrer);
          changed = true;
        }
      }
    }
  }
  return [...expire].map(([digest, rulePriority]) => {
    const image = byDigest.get(digest)!;
    return { digest, tags: image.tags, pushedAt: image.pushedAt, rulePriority, followsSubject: following.has(digest) };
  });
}
