import type { LifecycleImageRecord, LifecyclePolicyRecord, LifecyclePreviewResultRecord } from '../../stores/ecr-store.js';
import { DomainError, isDomainError } from '../errors.js';
import { ChangeTypes } from '../events/change.js';
import { serviceActor } from '../actor.js';
import { changeBy, type EcrCaller, type EcrDeps, pageOf, type PageRequest, type PageResult, requireRepository } from './context.js';
import { evaluateLifecycle, parseLifecyclePolicy, type LifecycleAction } from './lifecycle-policy.js';

// Lifecycle policies as ECR's API exposes them (Put/Get/Delete, Start/GetPreview) and the
// runs that apply them (scheduled job, `berth lifecycle run`). Evaluation is in
// lifecycle-policy.ts; a run expires images through the registry (the garbage collector
// frees their storage afterwards) and archives images by moving them to ARCHIVED. A
// preview is a background job (ECR's previews are asynchronous too).

export interface PreviewResult {
  imageTags: string[];
  imageDigest: string;
  imagePushedAt: Date;
  action: { type: 'EXPIRE' } | { type: 'TRANSITION'; targetStorageClass: 'ARCHIVE' };
  appliedRulePriority: number;
  /** The image's storage class when the preview ran. */
  storageClass: 'STANDARD' | 'ARCHIVE';
}

export interface PreviewView {
  registryId: string;
  repositoryName: string;
  lifecyclePolicyText: string;
  status: 'IN_PROGRESS' | 'COMPLETE' | 'EXPIRED' | 'FAILED';
  previewResults: PreviewResult[];
  /** Only once the preview is COMPLETE. */
  summary?: { expiringImageTotalCount: number; transitioningImageTotalCounts?: { targetStorageClass: 'ARCHIVE'; imageTotalCount: number }[] };
  next: string | null;
}

export interface LifecycleRunImage {
  imageDigest: string;
  imageTags: string[];
  appliedRulePriority: number;
}

export interface LifecycleRunReport {
  registryId: string;
  repositoryName: string;
  expired: LifecycleRunImage[];
  /** Images moved to the archive storage class. */
  transitioned: (LifecycleRunImage & { targetStorageClass: 'ARCHIVE' })[];
  /** Set when the stored policy no longer validates and the repository was skipped. */
  skipped?: string;
}

/** The durable job that computes a preview. */
export const previewJobKind = 'ecr.lifecycle-preview';
interface PreviewJob {
  repositoryId: number;
  createdAt: number;
}
/** A preview IN_PROGRESS longer than this has lost its job; a new one may replace it. */
const previewStaleMs = 3_600_000;

const pageSize = 1000;

export class EcrLifecycle {
  private readonly now: () => number;
  /** Test seam: runs before a preview job evaluates (tests hold previews IN_PROGRESS here). */
  beforePreview?: (repositoryId: number) => Promise<void>;

  private readonly region: string;

  constructor(private readonly deps: EcrDeps) {
    this.now = deps.clock ?? Date.now;
    this.region = deps.region ?? 'us-east-1';
  }

  async putPolicy(caller: EcrCaller, name: string, text: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    parseLifecyclePolicy(text);
    const now = this.now();
    await this.deps.ecr.putLifecyclePolicy(repo.id, text, now, changeBy(caller, now, ChangeTypes.policyChanged, name, { policy: 'lifecycle', action: 'set' }));
    return { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: text };
  }

  async getPolicy(caller: EcrCaller, name: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const policy = await this.deps.ecr.getLifecyclePolicy(repo.id);
    if (!policy) throw notFound(caller, name);
    return { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: policy.text, lastEvaluatedAt: new Date(policy.updatedAt) };
  }

  async deletePolicy(caller: EcrCaller, name: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const policy = await this.deps.ecr.deleteLifecyclePolicy(repo.id, (old) => (old === null ? null : changeBy(caller, this.now(), ChangeTypes.policyChanged, name, { policy: 'lifecycle', action: 'deleted' })));
    if (!policy) throw notFound(caller, name);
    return { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: policy.text, lastEvaluatedAt: new Date(policy.updatedAt) };
  }

  /**
   * Validates the policy and starts the preview as a background job (status IN_PROGRESS);
   * GetLifecyclePolicyPreview shows the outcome once the job completes. The preview is
   * exactly what a run at that moment would do.
   */
  async startPreview(caller: EcrCaller, name: string, text?: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    let policyText = text;
    if (policyText === undefined) {
      const stored = await this.deps.ecr.getLifecyclePolicy(repo.id);
      if (!stored) throw notFound(caller, name);
      policyText = stored.text;
    }
    parseLifecyclePolicy(policyText);
    const createdAt = this.now();
    if (!(await this.deps.ecr.beginLifecyclePreview(repo.id, policyText, createdAt, createdAt - previewStaleMs))) {
      throw new DomainError('LifecyclePolicyPreviewInProgress', `Previous lifecycle policy preview request has not completed for the repository with name '${name}' in the registry with id '${caller.accountId}'. Please try again later.`);
    }
    try {
      await this.deps.jobs.enqueue(previewJobKind, { repositoryId: repo.id, createdAt } satisfies PreviewJob);
    } catch (err) {
      // Without its job the preview would stay IN_PROGRESS and block the next one.
      await this.deps.ecr.finishLifecyclePreview(repo.id, createdAt, 'FAILED', []).catch(() => {});
      throw err;
    }
    return { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: policyText, status: 'IN_PROGRESS' as const };
  }

  /** The preview job: evaluates the policy the preview was started with, over the images now. */
  async runPreviewJob(payload: unknown): Promise<void> {
    const { repositoryId, createdAt } = payload as PreviewJob;
    await this.beforePreview?.(repositoryId);
    const preview = await this.deps.ecr.getLifecyclePreview(repositoryId);
    if (!preview || preview.status !== 'IN_PROGRESS' || preview.createdAt !== createdAt) return; // replaced, or the repository is gone
    let actions: LifecycleAction[];
    try {
      actions = evaluateLifecycle(parseLifecyclePolicy(preview.policyText), await this.images(repositoryId), this.now());
    } catch (err) {
      if (!isDomainError(err, 'InvalidParameter')) throw err; // the store failed: the job is retried
      await this.deps.ecr.finishLifecyclePreview(repositoryId, createdAt, 'FAILED', []);
      return;
    }
    // Sorted in place (digest order suits the store's index) and mapped one at a time as
    // the store writes them: no second array of every result.
    actions.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    await this.deps.ecr.finishLifecyclePreview(repositoryId, createdAt, 'COMPLETE', resultRecords(actions));
  }

  async getPreview(caller: EcrCaller, name: string, imageDigests: string[] | undefined, tagStatus: 'TAGGED' | 'UNTAGGED' | 'ANY' | undefined, page: PageRequest<string>): Promise<PreviewView> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    // One more than the page, to know whether another follows.
    const found = await this.deps.ecr.getLifecyclePreviewPage(repo.id, { digests: imageDigests, tagStatus: tagStatus ?? 'ANY' }, { limit: page.limit + 1, after: page.after });
    if (!found) {
      throw new DomainError('LifecyclePolicyPreviewNotFound', `There is no lifecycle policy preview for the repository with name '${name}' in the registry with id '${caller.accountId}'`);
    }
    const { preview, summary } = found;
    const head = { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: preview.policyText, status: preview.status };
    if (preview.status !== 'COMPLETE' || !summary) return { ...head, previewResults: [], next: null };
    const paged: PageResult<LifecyclePreviewResultRecord, string> = pageOf(found.results, page.limit, (r) => r.digest);
    return {
      ...head,
      previewResults: paged.items.map(toPreviewResult),
      // ECR shows the transition counts only when something transitions.
      summary: {
        expiringImageTotalCount: summary.expiring,
        ...(summary.transitioning.length > 0 ? { transitioningImageTotalCounts: summary.transitioning.map((t) => ({ targetStorageClass: t.targetStorageClass, imageTotalCount: t.count })) } : {}),
      },
      next: paged.next,
    };
  }

  /**
   * Applies the policies (of one repository, or all): archives images and expires images
   * through the registry. Idempotent: an image already gone (or already archived) is
   * skipped. Storage of expired images is freed by the next garbage collection.
   */
  async run(options: { registryId?: string; repositoryName?: string; dryRun?: boolean; signal?: AbortSignal; onRepository?: (report: LifecycleRunReport) => void } = {}): Promise<LifecycleRunReport[]> {
    const reports: LifecycleRunReport[] = [];
    const policies: LifecyclePolicyRecord[] = [];
    if (options.repositoryName !== undefined) {
      const repo = await this.deps.meta.getRepository(options.registryId ?? '000000000000', options.repositoryName);
      if (!repo) throw new DomainError('NameUnknown', `The repository with name '${options.repositoryName}' does not exist`);
      const policy = await this.deps.ecr.getLifecyclePolicy(repo.id);
      if (!policy) throw new DomainError('LifecyclePolicyNotFound', `Lifecycle policy does not exist for the repository with name '${options.repositoryName}'`);
      policies.push(policy);
    }
    const each = async (policy: LifecyclePolicyRecord) => {
      const report = await this.runOne(policy, options.dryRun ?? false);
      reports.push(report);
      options.onRepository?.(report);
    };
    if (policies.length > 0) await each(policies[0]!);
    else {
      let after: number | undefined;
      for (;;) {
        const batch = await this.deps.ecr.listLifecyclePolicies({ limit: 100, after });
        for (const policy of batch) {
          if (options.signal?.aborted) return reports;
          await each(policy);
        }
        if (batch.length < 100) break;
        after = batch[batch.length - 1]!.repositoryId;
      }
    }
    return reports;
  }

  private async runOne(policy: LifecyclePolicyRecord, dryRun: boolean): Promise<LifecycleRunReport> {
    const report: LifecycleRunReport = { registryId: policy.registryId, repositoryName: policy.repositoryName, expired: [], transitioned: [] };
    let parsed;
    try {
      parsed = parseLifecyclePolicy(policy.text);
    } catch (err) {
      // Stored before validation tightened: skip rather than guess, and say so.
      report.skipped = err instanceof Error ? err.message : String(err);
      return report;
    }
    const images = await this.images(policy.repositoryId);
    const actions = evaluateLifecycle(parsed, images, this.now());
    // Archive first, indexes before the manifests they list, so that a run cut short never
    // leaves a pullable index listing an archived manifest.
    const indexes = new Set(images.filter((i) => i.children.length > 0).map((i) => i.digest));
    const transitions = actions.filter((a) => a.type === 'transition').sort((a, b) => Number(indexes.has(b.digest)) - Number(indexes.has(a.digest)));
    const now = this.now();
    // Each run acts as the lifecycle service, with a request id of its own.
    const lifecycleActor = serviceActor('lifecycle');
    const archived = (digests: string[]) => (digests.length === 0 ? null : { actor: lifecycleActor, now, events: [{ type: ChangeTypes.imageArchived, registryId: policy.registryId, region: this.region, repository: policy.repositoryName, detail: { digests, reason: 'lifecycle' } }] });
    const moved = new Set(dryRun ? transitions.map((a) => a.digest) : await this.deps.ecr.transitionImages(policy.repositoryId, transitions.map((a) => a.digest), 'ACTIVE', 'ARCHIVED', now, archived));
    for (const action of transitions) {
      if (moved.has(action.digest)) report.transitioned.push({ imageDigest: action.digest, imageTags: action.tags, appliedRulePriority: action.rulePriority, targetStorageClass: 'ARCHIVE' });
    }
    // Referrers and indexes first, so nothing is left pointing at a deleted manifest.
    const order = (a: LifecycleAction) => (a.followsSubject ? 0 : 1);
    for (const action of actions.filter((a) => a.type === 'expire').sort((a, b) => order(a) - order(b))) {
      if (!dryRun) {
        try {
          await this.deps.registry.deleteManifest(policy.registryId, policy.repositoryName, action.digest, lifecycleActor, 'lifecycle');
        } catch (err) {
          if (!isDomainError(err, 'ManifestUnknown')) throw err;
          continue;
        }
      }
      report.expired.push({ imageDigest: action.digest, imageTags: action.tags, appliedRulePriority: action.rulePriority });
    }
    return report;
  }

  /** Every image of the repository, paged from the store (summaries only, no manifest bytes). */
  private async images(repositoryId: number): Promise<LifecycleImageRecord[]> {
    const all: LifecycleImageRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.deps.ecr.listLifecycleImages(repositoryId, { limit: pageSize, after });
      all.push(...page);
      if (page.length < pageSize) return all;
      after = page[page.length - 1]!.digest;
    }
  }
}

function* resultRecords(actions: LifecycleAction[]): Generator<LifecyclePreviewResultRecord> {
  for (const action of actions) yield toResultRecord(action);
}

function toResultRecord(action: LifecycleAction): LifecyclePreviewResultRecord {
  return {
    digest: action.digest,
    tags: action.tags,
    pushedAt: action.pushedAt,
    action: action.type === 'transition' ? 'TRANSITION' : 'EXPIRE',
    targetStorageClass: action.type === 'transition' ? 'ARCHIVE' : null,
    rulePriority: action.rulePriority,
    storageClass: action.storageClass === 'archive' ? 'ARCHIVE' : 'STANDARD',
  };
}

function toPreviewResult(r: LifecyclePreviewResultRecord): PreviewResult {
  return {
    imageTags: r.tags,
    imageDigest: r.digest,
    imagePushedAt: new Date(r.pushedAt),
    action: r.action === 'TRANSITION' ? { type: 'TRANSITION', targetStorageClass: r.targetStorageClass ?? 'ARCHIVE' } : { type: 'EXPIRE' },
    appliedRulePriority: r.rulePriority,
    storageClass: r.storageClass,
  };
}

function notFound(caller: EcrCaller, name: string) {
  return new DomainError('LifecyclePolicyNotFound', `Lifecycle policy does not exist for the repository with name '${name}' in the registry with id '${caller.accountId}'`);
}
