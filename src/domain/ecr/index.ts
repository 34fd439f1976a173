import type { EcrDeps } from './context.js';
import { EcrImages } from './images.js';
import { DownloadTokens, EcrLayers } from './layers.js';
import { EcrLifecycle } from './lifecycle.js';
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

export function createEcrServices(deps: EcrDeps, options: { downloadUrlTtlMs: number; downloadUrlSecret?: string }): EcrServices {
  return {
    repositories: new EcrRepositories(deps),
    images: new EcrImages(deps),
    layers: new EcrLayers(deps, new DownloadTokens(options.downloadUrlSecret), options.downloadUrlTtlMs),
    lifecycle: new EcrLifecycle(deps),
    policies: new EcrPolicies(deps),
    templates: new EcrTemplates(deps),
  };
}
