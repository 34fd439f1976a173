import { invalidParameter } from './context.js';
import type { LifecycleImageRecord } from '../../stores/ecr-store.js';

// ECR lifecycle policies: the grammar (validated as ECR does, archive storage class
// included) and the evaluation, a pure function of the policy, the repository's images and
// the time. See docs/lifecycle.md.

export type StorageClass = 'standard' | 'archive';
export type CountType = 'imageCountMoreThan' | 'sinceImagePushed' | 'sinceImagePulled' | 'sinceImageTransitioned';

export interface LifecycleRule {
  rulePriority: number;
  description?: string;
  selection: {
    tagStatus: 'tagged' | 'untagged' | 'any';
    tagPrefixList?: string[];
    tagPatternList?: string[];
    /** Which images the rule looks at: standard (ACTIVE) or archived ones. */
    storageClass: StorageClass;
    countType: CountType;
    countUnit?: 'days';
    countNumber: number;
  };
  /** expire deletes; transition moves to the archive storage class. */
  action: { type: 'expire' } | { type: 'transition'; targetStorageClass: 'archive' };
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
  /** Expire (delete) or transition (archive). */
  type: 'expire' | 'transition';
  /** The image's storage class when evaluated. */
  storageClass: StorageClass;
  /** The rule that acts on it (for a referrer: the rule that acts on its subject). */
  rulePriority: number;
  /** True for a referrer that goes (or is archived) because the image it refers to does. */
  followsSubject: boolean;
}

export const minPolicyChars = 100;
export const maxPolicyChars = 30_720;
/** ECR keeps archived images at least 90 days: no rule may expire them sooner. */
export const minArchiveDays = 90;
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
  // Rules of one storage class see only that class's images, so "any" comes last within it.
  for (const storageClass of ['standard', 'archive'] as const) {
    const ofClass = rules.filter((r) => r.selection.storageClass === storageClass);
    if (ofClass.length === 0) continue;
    const highest = Math.max(...ofClass.map((r) => r.rulePriority));
    for (const rule of ofClass) {
      if (rule.selection.tagStatus === 'any' && rule.rulePriority !== highest) {
        fail(`a rule with tagStatus "any" must have the highest rulePriority among the rules selecting the ${storageClass} storage class`);
      }
    }
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
  if (countType !== 'imageCountMoreThan' && countType !== 'sinceImagePushed' && countType !== 'sinceImagePulled' && countType !== 'sinceImageTransitioned') {
    fail(`${at}.selection.countType must be one of imageCountMoreThan, sinceImagePushed, sinceImagePulled, sinceImageTransitioned`);
  }
  if (countType === 'imageCountMoreThan') {
    if (selection.countUnit !== undefined) fail(`${at}: countUnit is not allowed with imageCountMoreThan`);
  } else if (selection.countUnit !== 'days') fail(`${at}: countUnit must be "days" with ${countType}`);
  if (!Number.isInteger(selection.countNumber) || (selection.countNumber as number) < 1) fail(`${at}.selection.countNumber must be an integer of at least 1`);

  // Storage classes, as ECR documents them: sinceImageTransitioned looks at archived images
  // (and must say so), every other count type at standard ones (the default).
  const storageClass = selection.storageClass;
  if (storageClass !== undefined && storageClass !== 'standard' && storageClass !== 'archive') fail(`${at}.selection.storageClass must be standard or archive`);
  if (countType === 'sinceImageTransitioned') {
    if (storageClass === undefined) fail(`${at}: storageClass is required with countType sinceImageTransitioned`);
    if (storageClass !== 'archive') fail(`${at}: storageClass must be archive with countType sinceImageTransitioned`);
  } else if (storageClass === 'archive') {
    fail(`${at}: storageClass archive is allowed only with countType sinceImageTransitioned`);
  }

  const type = action.type;
  if (type !== 'expire' && type !== 'transition') fail(`${at}.action.type must be expire or transition`);
  const actExtra = Object.keys(action).filter((k) => k !== 'type' && k !== 'targetStorageClass');
  if (actExtra.length > 0) fail(`${at}.action has unknown fields: ${actExtra.join(', ')}`);
  if (type === 'transition') {
    if (action.targetStorageClass === undefined) fail(`${at}.action.targetStorageClass is required when action.type is transition`);
    if (action.targetStorageClass !== 'archive') fail(`${at}.action.targetStorageClass must be archive`);
    if (countType === 'sinceImageTransitioned') fail(`${at}: archived images (sinceImageTransitioned) can only expire`);
  } else {
    if (action.targetStorageClass !== undefined) fail(`${at}.action.targetStorageClass is allowed only when action.type is transition`);
    // ECR: pull history drives archiving only; deleting unused images takes two rules.
    if (countType === 'sinceImagePulled') fail(`${at}: sinceImagePulled rules can only transition images to archive (action.type transition)`);
    if (countType === 'sinceImageTransitioned' && (selection.countNumber as number) < minArchiveDays) {
      fail(`${at}: archived images are kept at least ${minArchiveDays} days; countNumber must be at least ${minArchiveDays} with sinceImageTransitioned`);
    }
  }

  return {
    rulePriority: rulePriority as number,
    ...(description !== undefined ? { description: description as string } : {}),
    selection: {
      tagStatus,
      ...(prefixes ? { tagPrefixList: prefixes } : {}),
      ...(patterns ? { tagPatternList: patterns } : {}),
      storageClass: countType === 'sinceImageTransitioned' ? 'archive' : 'standard',
      countType,
      ...(countType === 'imageCountMoreThan' ? {} : { countUnit: 'days' as const }),
      countNumber: selection.countNumber as number,
    },
    action: type === 'transition' ? { type, targetStorageClass: 'archive' } : { type },
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

/** The images a rule of this storage class looks at: ACTIVE or ARCHIVED (never ones being restored). */
function ofStorageClass(image: LifecycleImage, storageClass: StorageClass): boolean {
  return image.status === (storageClass === 'archive' ? 'ARCHIVED' : 'ACTIVE');
}

/** A restored image counts from its restore, as ECR does (last_activated_at over pushed_at_time). */
function ageFrom(image: LifecycleImage): number {
  return Math.max(image.pushedAt, image.lastActivatedAt ?? 0);
}

interface Decision {
  type: 'expire' | 'transition';
  rulePriority: number;
  followsSubject: boolean;
}

/**
 * What a run of the policy does to these images now: each image is acted on by at most
 * one rule (the highest-priority rule of its storage class whose selection matches it),
 * oldest images first. Then, index- and referrer-aware: a manifest a kept index lists is
 * not expired, one an index that stays active lists is not archived, and referrers
 * (subject) of an image expire or are archived with it.
 */
export function evaluateLifecycle(policy: LifecyclePolicy, images: LifecycleImage[], now: number): LifecycleAction[] {
  const decided = new Map<string, Decision>();
  const claimed = new Set<string>();
  for (const rule of policy.rules) {
    const { storageClass, countType, countNumber } = rule.selection;
    const matchers = (rule.selection.tagPatternList ?? []).map(wildcardMatcher);
    // Newest first (by push or restore time; archived images by archive time), as ECR
    // orders them; ties by digest for a stable answer.
    const key = storageClass === 'archive' ? (i: LifecycleImage) => i.lastArchivedAt ?? i.pushedAt : ageFrom;
    const selected = images
      .filter((image) => ofStorageClass(image, storageClass) && selects(rule, matchers, image))
      .sort((a, b) => key(b) - key(a) || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    const cutoff = now - countNumber * DAY;
    selected.forEach((image, index) => {
      const hit =
        countType === 'imageCountMoreThan'
          ? index >= countNumber
          : countType === 'sinceImagePushed'
            ? ageFrom(image) < cutoff
            : countType === 'sinceImagePulled'
              ? // Never pulled: the push; restored and not pulled since: the restore.
                Math.max(image.lastPulledAt ?? image.pushedAt, image.lastActivatedAt ?? 0) < cutoff
              : (image.lastArchivedAt ?? image.pushedAt) < cutoff;
      // A rule counts every image it selects, but acts only on those no earlier rule selected.
      if (hit && !claimed.has(image.digest)) decided.set(image.digest, { type: rule.action.type, rulePriority: rule.rulePriority, followsSubject: false });
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
  // Manifests a kept index lists are never expired; those an index that stays pullable
  // lists are never archived (the index would be left unpullable).
  const kept = new Set<string>();
  const keptActive = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const image of images) {
      const decision = decided.get(image.digest);
      if (decision?.type === 'expire') continue;
      const staysActive = image.status !== 'ARCHIVED' && decision?.type !== 'transition';
      for (const child of image.children) {
        kept.add(child);
        if (staysActive) keptActive.add(child);
        const childDecision = decided.get(child);
        if (childDecision && (childDecision.type === 'expire' || staysActive)) {
          decided.delete(child);
          changed = true;
        }
      }
    }
    // Referrers (signatures, SBOMs) follow the image they refer to: expired with it,
    // archived with it. Expiry wins over archiving.
    for (const [digest, decision] of [...decided]) {
      for (const referrer of referrers.get(digest) ?? []) {
        const own = decided.get(referrer);
        if (decision.type === 'expire') {
          if (own?.type !== 'expire' && !kept.has(referrer)) {
            decided.set(referrer, { type: 'expire', rulePriority: decision.rulePriority, followsSubject: true });
            changed = true;
          }
        } else if (!own && byDigest.get(referrer)!.status === 'ACTIVE' && !keptActive.has(referrer)) {
          decided.set(referrer, { type: 'transition', rulePriority: decision.rulePriority, followsSubject: true });
          changed = true;
        }
      }
    }
  }
  return [...decided].map(([digest, decision]) => {
    const image = byDigest.get(digest)!;
    return {
      digest,
      tags: image.tags,
      pushedAt: image.pushedAt,
      type: decision.type,
      storageClass: image.status === 'ARCHIVED' ? ('archive' as const) : ('standard' as const),
      rulePriority: decision.rulePriority,
      followsSubject: decision.followsSubject,
    };
  });
}
