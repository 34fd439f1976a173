import type { JobRunner } from '../jobs.js';
import type { EcrDeps } from './context.js';
import { EcrImages, restoreJobKind } from './images.js';
import { DownloadTokens, EcrLayers } from './layers.js';
import { EcrLifecycle, previewJobKind } from './lifecycle.js';
import { EcrPolicies } from './policies.js';
import { EcrRepositories } from './repositories.js';
import { EcrTemplates } from './templates.js';

export type { EcrCaller, EcrDeps } from './context.js';

/** The ECR API's domain services, over the same registry the /v2 API uses. */
export interface EcrServices {
  repositories: EcrRepositories;
  images: EcrImages;
  layers: EcrLayers;
  lifecycle: EcrLifecycle;
  policies: EcrPolicies;
  templates: EcrTemplates;
}

export function createEcrServices(deps: EcrDeps, options: { downloadUrlTtlMs: number; downloadUrlSecret?: string; restoreDelayMs?: number }): EcrServices {
  return {
    repositories: new EcrRepositories(deps),
    images: new EcrImages(deps, options.restoreDelayMs ?? 0),
    layers: new EcrLayers(deps, new DownloadTokens(options.downloadUrlSecret), options.downloadUrlTtlMs),
    lifecycle: new EcrLifecycle(deps),
    policies: new EcrPolicies(deps),
    templates: new EcrTemplates(deps),
  };
}

/** The background jobs the ECR services hand work to: lifecycle previews, restores from the archive. */
export function registerEcrJobs(jobs: JobRunner, ecr: EcrServices): void {
  jobs.register(previewJobKind, ({ job }) => ecr.lifecycle.runPreviewJob(job.payload));
  jobs.register(restoreJobKind, ({ job }) => ecr.images.finishRestore(job.payload));
}
