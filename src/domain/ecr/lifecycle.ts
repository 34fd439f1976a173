import type { LifecycleImageRecord, LifecyclePolicyRecord } from '../../stores/ecr-store.js';
import { DomainError, isDomainError } from '../errors.js';
import { type EcrCaller, type EcrDeps, pageOf, type PageRequest, type PageResult, requireRepository } from './context.js';
import { evaluateLifecycle, parseLifecyclePolicy, type LifecycleAction } from './lifecycle-policy.js';

// Lifecycle policies as ECR's API exposes them (Put/Get/Delete, Start/GetPreview) and the
// runs that apply them (scheduled job, `berth lifecycle run`). Evaluation is in
// lifecycle-policy.ts; a run expires images through the registry, and the garbage
// collector frees their storage afterwards.

export interface PreviewResult {
  imageTags: string[];
  imageDigest: string;
  imagePushedAt: Date;
  action: { type: 'EXPIRE' };
  appliedRulePriority: number;
}

export interface LifecycleRunReport {
  registryId: string;
  repositoryName: string;
  expired: { imageDigest: string; imageTags: string[]; appliedRulePriority: number }[];
}

const pageSize = 1000;

export class EcrLifecycle {
  private readonly now: () => number;

  constructor(private readonly deps: EcrDeps) {
    this.now = deps.clock ?? Date.now;
  }

  async putPolicy(caller: EcrCaller, name: string, text: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    parseLifecyclePolicy(text);
    await this.deps.ecr.putLifecyclePolicy(repo.id, text, this.now());
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
    const policy = await this.deps.ecr.deleteLifecyclePolicy(repo.id);
    if (!policy) throw notFound(caller, name);
    return { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: policy.text, lastEvaluatedAt: new Date(policy.updatedAt) };
  }

  /** Evaluates now and stores the outcome; the preview is exactly what a run would expire. */
  async startPreview(caller: EcrCaller, name: string, text?: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    let policyText = text;
    if (policyText === undefined) {
      const stored = await this.deps.ecr.getLifecyclePolicy(repo.id);
      if (!stored) throw notFound(caller, name);
      policyText = stored.text;
    }
    const policy = parseLifecyclePolicy(policyText);
    const actions = evaluateLifecycle(policy, await this.images(repo.id), this.now());
    const results: PreviewResult[] = actions.map(toPreviewResult).sort((a, b) => (a.imageDigest < b.imageDigest ? -1 : 1));
    await this.deps.ecr.putLifecyclePreview(repo.id, { policyText, status: 'COMPLETE', results: JSON.stringify(results), createdAt: this.now() });
    return { registryId: caller.accountId, repositoryName: name, lifecyclePolicyText: policyText, status: 'COMPLETE' as const };
  }

  async getPreview(caller: EcrCaller, name: string, imageDigests: string[] | undefined, tagStatus: 'TAGGED' | 'UNTAGGED' | 'ANY' | undefined, page: PageRequest<string>) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const preview = await this.deps.ecr.getLifecyclePreview(repo.id);
    if (!preview) {
      throw new DomainError('LifecyclePolicyPreviewNotFound', `There is no lifecycle policy preview for the repository with name '${name}' in the registry with id '${caller.accountId}'`);
    }
    let results = (JSON.parse(preview.results) as (Omit<PreviewResult, 'imagePushedAt'> & { imagePushedAt: string })[]).map((r) => ({ ...r, imagePushedAt: new Date(r.imagePushedAt) }));
    const expiringImageTotalCount = results.length;
    if (imageDigests) results = results.filter((r) => imageDigests.includes(r.imageDigest));
    if (tagStatus === 'TAGGED') results = results.filter((r) => r.imageTags.length > 0);
    if (tagStatus === 'UNTAGGED') results = results.filter((r) => r.imageTags.length === 0);
    if (page.after !== undefined) results = results.filter((r) => r.imageDigest > page.after!);
    const paged: PageResult<PreviewResult, string> = pageOf(results.slice(0, page.limit + 1), page.limit, (r) => r.imageDigest);
    return {
      registryId: caller.accountId,
      repositoryName: name,
      lifecyclePolicyText: preview.policyText,
      status: preview.status,
      previewResults: paged.items,
      summary: { expiringImageTotalCount },
      next: paged.next,
    };
  }

  /**
   * Applies the policies (of one repository, or all), expiring images through the
   * registry. Idempotent: an image already gone is skipped. Storage is freed by the next
   * garbage collection.
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
    const report: LifecycleRunReport = { registryId: policy.registryId, repositoryName: policy.repositoryName, expired: [] };
    let parsed;
    try {
      parsed = parseLifecyclePolicy(policy.text);
    } catch {
      return report; // stored before validation tightened: skip rather than guess
    }
    const actions = evaluateLifecycle(parsed, await this.images(policy.repositoryId), this.now());
    // Referrers and indexes first, so nothing is left pointing at a deleted manifest.
    const order = (a: LifecycleAction) => (a.followsSubject ? 0 : 1);
    for (const action of [...actions].sort((a, b) => order(a) - order(b))) {
      if (!dryRun) {
        try {
          await this.deps.registry.deleteManifest(policy.registryId, policy.repositoryName, action.digest);
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

function toPreviewResult(action: LifecycleAction): PreviewResult {
  return { imageTags: action.tags, imageDigest: action.digest, imagePushedAt: new Date(action.pushedAt), action: { type: 'EXPIRE' }, appliedRulePriority: action.rulePriority };
}

function notFound(caller: EcrCaller, name: string) {
  return new DomainError('LifecyclePolicyNotFound', `Lifecycle policy does not exist for the repository with name '${name}' in the registry with id '${caller.accountId}'`);
}
