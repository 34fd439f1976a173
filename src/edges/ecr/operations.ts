import type * as Ecr from '@aws-sdk/client-ecr';
import { DomainError } from '../../domain/errors.js';
import type { EcrCaller, EcrServices } from '../../domain/ecr/index.js';
import type { ImageIdRecord, ImageStatusFilter, TagStatus } from '../../stores/ecr-store.js';
import { decodeToken, defaultPageSize, encodeToken } from './pagination.js';
import * as S from './shapes.js';

// Every ECR operation Berth answers, keyed by its X-Amz-Target name: the request shape it
// is validated against and the handler. Request and response types come from the AWS SDK,
// so they cannot drift from what clients send and expect.

export interface OperationContext {
  ecr: EcrServices;
  caller: EcrCaller;
  /** The URL under which Berth serves a layer download token. */
  downloadUrl(token: string): string;
}

export interface Operation<I = any, O = any> {
  input: S.Shape;
  handle(input: I, ctx: OperationContext): Promise<O>;
}

function op<I, O>(input: S.Shape, handle: (input: I, ctx: OperationContext) => Promise<O>): Operation<I, O> {
  return { input, handle };
}

/**
 * maxResults and nextToken as a keyset page; `scope` ties the token to the request, and
 * `isKey` checks the key's shape (tokens are not signed: a forged key must not reach SQL).
 */
function paging<K>(operation: string, scope: string, input: { maxResults?: number; nextToken?: string }, isKey: (key: unknown) => key is K) {
  return { limit: input.maxResults ?? defaultPageSize, after: decodeToken<K>(input.nextToken, operation, scope, isKey) };
}

const isString = (key: unknown): key is string => typeof key === 'string';
const isOffset = (key: unknown): key is number => Number.isSafeInteger(key) && (key as number) >= 0;
const isImageId = (key: unknown): key is ImageIdRecord =>
  typeof key === 'object' && key !== null && typeof (key as ImageIdRecord).digest === 'string' && ((key as ImageIdRecord).tag === null || typeof (key as ImageIdRecord).tag === 'string');

function token<K>(operation: string, scope: string, next: K | null): { nextToken?: string } {
  return next === null ? {} : { nextToken: encodeToken(operation, scope, next) };
}

function notWithIds(field: string, input: { maxResults?: number; nextToken?: string }): void {
  if (input.maxResults !== undefined || input.nextToken !== undefined) {
    throw new DomainError('InvalidParameter', `Invalid parameter at 'maxResults' failed to satisfy constraint: 'maxResults and nextToken cannot be used together with ${field}'`);
  }
}

const repo = { registryId: S.registryId, repositoryName: S.repositoryName };
const repoRequired = ['repositoryName'];
const templateMembers = {
  prefix: S.templatePrefix,
  description: S.str({ max: 256 }),
  encryptionConfiguration: S.encryption,
  resourceTags: S.resourceTags,
  imageTagMutability: S.mutability,
  imageTagMutabilityExclusionFilters: S.exclusionFilters,
  repositoryPolicy: S.policyText,
  lifecyclePolicy: S.str({ max: 30720 }),
  appliedFor: S.appliedFor,
  customRoleArn: S.str({ max: 2048 }),
};

export const operations: Record<string, Operation> = {
  // ---- repositories ----
  CreateRepository: op<Ecr.CreateRepositoryRequest, Ecr.CreateRepositoryResponse>(
    S.struct(
      {
        ...repo,
        tags: S.resourceTags,
        imageTagMutability: S.mutability,
        imageTagMutabilityExclusionFilters: S.exclusionFilters,
        imageScanningConfiguration: S.struct({ scanOnPush: S.bool }),
        encryptionConfiguration: S.encryption,
      },
      repoRequired,
    ),
    async (i, c) => ({ repository: await c.ecr.repositories.create(c.caller, { ...i, repositoryName: i.repositoryName! }) }),
  ),
  DescribeRepositories: op<Ecr.DescribeRepositoriesRequest, Ecr.DescribeRepositoriesResponse>(
    S.struct({ registryId: S.registryId, repositoryNames: S.list(S.repositoryName, 1, 100), maxResults: S.maxResults, nextToken: S.nextToken }),
    async (i, c) => {
      if (i.repositoryNames) notWithIds('repositoryNames', i);
      const page = paging('DescribeRepositories', '', i, isString);
      const result = await c.ecr.repositories.describe(c.caller, i.repositoryNames, page);
      return { repositories: result.items, ...token('DescribeRepositories', '', result.next) };
    },
  ),
  DeleteRepository: op<Ecr.DeleteRepositoryRequest, Ecr.DeleteRepositoryResponse>(S.struct({ ...repo, force: S.bool }, repoRequired), async (i, c) => ({
    repository: await c.ecr.repositories.delete(c.caller, i.repositoryName!, i.force ?? false),
  })),
  PutImageTagMutability: op<Ecr.PutImageTagMutabilityRequest, Ecr.PutImageTagMutabilityResponse>(
    S.struct({ ...repo, imageTagMutability: S.mutability, imageTagMutabilityExclusionFilters: S.exclusionFilters }, ['repositoryName', 'imageTagMutability']),
    async (i, c) => c.ecr.repositories.putTagMutability(c.caller, i.repositoryName!, i),
  ),
  PutImageScanningConfiguration: op<Ecr.PutImageScanningConfigurationRequest, Ecr.PutImageScanningConfigurationResponse>(
    S.struct({ ...repo, imageScanningConfiguration: S.struct({ scanOnPush: S.bool }) }, ['repositoryName', 'imageScanningConfiguration']),
    async (i, c) => c.ecr.repositories.putScanningConfiguration(c.caller, i.repositoryName!, i.imageScanningConfiguration?.scanOnPush ?? false),
  ),
  TagResource: op<Ecr.TagResourceRequest, Ecr.TagResourceResponse>(S.struct({ resourceArn: S.str(), tags: S.resourceTags }, ['resourceArn', 'tags']), async (i, c) => {
    await c.ecr.repositories.tag(c.caller, i.resourceArn!, i.tags!);
    return {};
  }),
  UntagResource: op<Ecr.UntagResourceRequest, Ecr.UntagResourceResponse>(S.struct({ resourceArn: S.str(), tagKeys: S.list(S.str()) }, ['resourceArn', 'tagKeys']), async (i, c) => {
    await c.ecr.repositories.untag(c.caller, i.resourceArn!, i.tagKeys!);
    return {};
  }),
  ListTagsForResource: op<Ecr.ListTagsForResourceRequest, Ecr.ListTagsForResourceResponse>(S.struct({ resourceArn: S.str() }, ['resourceArn']), async (i, c) => ({
    tags: await c.ecr.repositories.listTags(c.caller, i.resourceArn!),
  })),

  // ---- images ----
  DescribeImages: op<Ecr.DescribeImagesRequest, Ecr.DescribeImagesResponse>(
    S.struct({ ...repo, imageIds: S.imageIds, nextToken: S.nextToken, maxResults: S.maxResults, filter: S.struct({ tagStatus: S.tagStatus, imageStatus: S.imageStatusFilter }) }, repoRequired),
    async (i, c) => {
      if (i.imageIds) notWithIds('imageIds', i);
      const tagStatus = (i.filter?.tagStatus ?? 'ANY') as TagStatus;
      // ECR lists ACTIVE images unless the filter asks for others.
      const imageStatus = (i.filter?.imageStatus ?? 'ACTIVE') as ImageStatusFilter;
      const scope = `${i.repositoryName}|${tagStatus}|${imageStatus}`;
      const result = await c.ecr.images.describe(c.caller, i.repositoryName!, i.imageIds, tagStatus, paging('DescribeImages', scope, i, isString), imageStatus);
      return { imageDetails: result.items, ...token('DescribeImages', scope, result.next) };
    },
  ),
  ListImages: op<Ecr.ListImagesRequest, Ecr.ListImagesResponse>(
    S.struct({ ...repo, nextToken: S.nextToken, maxResults: S.maxResults, filter: S.struct({ tagStatus: S.tagStatus, imageStatus: S.imageStatusFilter }) }, repoRequired),
    async (i, c) => {
      const tagStatus = (i.filter?.tagStatus ?? 'ANY') as TagStatus;
      const imageStatus = (i.filter?.imageStatus ?? 'ACTIVE') as ImageStatusFilter;
      const scope = `${i.repositoryName}|${tagStatus}|${imageStatus}`;
      const result = await c.ecr.images.list(c.caller, i.repositoryName!, tagStatus, paging('ListImages', scope, i, isImageId), imageStatus);
      return { imageIds: result.items, ...token('ListImages', scope, result.next) };
    },
  ),
  UpdateImageStorageClass: op<Ecr.UpdateImageStorageClassRequest, Ecr.UpdateImageStorageClassResponse>(
    S.struct({ ...repo, imageId: S.imageId, targetStorageClass: S.enm(['STANDARD', 'ARCHIVE']) }, ['repositoryName', 'imageId', 'targetStorageClass']),
    async (i, c) => c.ecr.images.updateStorageClass(c.caller, i.repositoryName!, i.imageId!, i.targetStorageClass as 'STANDARD' | 'ARCHIVE'),
  ),
  BatchGetImage: op<Ecr.BatchGetImageRequest, Ecr.BatchGetImageResponse>(
    S.struct({ ...repo, imageIds: S.imageIds, acceptedMediaTypes: S.list(S.str({ min: 1, max: 255 }), 1, 100) }, ['repositoryName', 'imageIds']),
    async (i, c) => c.ecr.images.batchGet(c.caller, i.repositoryName!, i.imageIds!, i.acceptedMediaTypes),
  ),
  BatchDeleteImage: op<Ecr.BatchDeleteImageRequest, Ecr.BatchDeleteImageResponse>(S.struct({ ...repo, imageIds: S.imageIds }, ['repositoryName', 'imageIds']), async (i, c) =>
    c.ecr.images.batchDelete(c.caller, i.repositoryName!, i.imageIds!),
  ),
  PutImage: op<Ecr.PutImageRequest, Ecr.PutImageResponse>(
    S.struct(
      { ...repo, imageManifest: S.str({ min: 1, max: 4 * 1024 * 1024 }), imageManifestMediaType: S.str(), imageTag: S.imageTag, imageDigest: S.imageDigest },
      ['repositoryName', 'imageManifest'],
    ),
    async (i, c) => ({
      image: await c.ecr.images.put(c.caller, i.repositoryName!, { imageManifest: i.imageManifest!, imageManifestMediaType: i.imageManifestMediaType, imageTag: i.imageTag, imageDigest: i.imageDigest }),
    }),
  ),
  ListImageReferrers: op<Ecr.ListImageReferrersRequest, Ecr.ListImageReferrersResponse>(
    S.struct(
      {
        ...repo,
        subjectId: S.struct({ imageDigest: S.imageDigest }, ['imageDigest']),
        filter: S.struct({ artifactTypes: S.list(S.str({ min: 1, max: 255 }), 1, 5), artifactStatus: S.imageStatusFilter }),
        nextToken: S.nextToken,
        maxResults: S.maxResults,
      },
      ['repositoryName', 'subjectId'],
    ),
    async (i, c) => {
      const artifactStatus = (i.filter?.artifactStatus ?? 'ACTIVE') as ImageStatusFilter;
      const scope = `${i.repositoryName}|${i.subjectId!.imageDigest}|${(i.filter?.artifactTypes ?? []).join(',')}|${artifactStatus}`;
      const result = await c.ecr.images.referrers(c.caller, i.repositoryName!, i.subjectId!.imageDigest!, i.filter?.artifactTypes, paging('ListImageReferrers', scope, i, isOffset), artifactStatus);
      return { referrers: result.items, ...token('ListImageReferrers', scope, result.next) };
    },
  ),

  // ---- layers ----
  BatchCheckLayerAvailability: op<Ecr.BatchCheckLayerAvailabilityRequest, Ecr.BatchCheckLayerAvailabilityResponse>(
    S.struct({ ...repo, layerDigests: S.list(S.str({ max: 1000 }), 1, 100) }, ['repositoryName', 'layerDigests']),
    async (i, c) => c.ecr.layers.checkAvailability(c.caller, i.repositoryName!, i.layerDigests!),
  ),
  InitiateLayerUpload: op<Ecr.InitiateLayerUploadRequest, Ecr.InitiateLayerUploadResponse>(S.struct(repo, repoRequired), async (i, c) =>
    c.ecr.layers.initiate(c.caller, i.repositoryName!),
  ),
  UploadLayerPart: op<Ecr.UploadLayerPartRequest, Ecr.UploadLayerPartResponse>(
    S.struct({ ...repo, uploadId: S.uploadId, partFirstByte: S.int(0), partLastByte: S.int(0), layerPartBlob: S.blob }, ['repositoryName', 'uploadId', 'partFirstByte', 'partLastByte', 'layerPartBlob']),
    async (i, c) => c.ecr.layers.uploadPart(c.caller, i.repositoryName!, i.uploadId!, i.partFirstByte!, i.partLastByte!, i.layerPartBlob as Buffer),
  ),
  CompleteLayerUpload: op<Ecr.CompleteLayerUploadRequest, Ecr.CompleteLayerUploadResponse>(
    S.struct({ ...repo, uploadId: S.uploadId, layerDigests: S.list(S.layerDigest, 1, 100) }, ['repositoryName', 'uploadId', 'layerDigests']),
    async (i, c) => c.ecr.layers.complete(c.caller, i.repositoryName!, i.uploadId!, i.layerDigests!),
  ),
  GetDownloadUrlForLayer: op<Ecr.GetDownloadUrlForLayerRequest, Ecr.GetDownloadUrlForLayerResponse>(
    S.struct({ ...repo, layerDigest: S.layerDigest }, ['repositoryName', 'layerDigest']),
    async (i, c) => {
      const { token: t, layerDigest } = await c.ecr.layers.downloadToken(c.caller, i.repositoryName!, i.layerDigest!);
      return { downloadUrl: c.downloadUrl(t), layerDigest };
    },
  ),

  // ---- policies and settings ----
  // ---- lifecycle policies ----
  PutLifecyclePolicy: op<Ecr.PutLifecyclePolicyRequest, Ecr.PutLifecyclePolicyResponse>(
    S.struct({ ...repo, lifecyclePolicyText: S.str({ max: 30720 }) }, ['repositoryName', 'lifecyclePolicyText']),
    async (i, c) => c.ecr.lifecycle.putPolicy(c.caller, i.repositoryName!, i.lifecyclePolicyText!),
  ),
  GetLifecyclePolicy: op<Ecr.GetLifecyclePolicyRequest, Ecr.GetLifecyclePolicyResponse>(S.struct(repo, repoRequired), async (i, c) =>
    c.ecr.lifecycle.getPolicy(c.caller, i.repositoryName!),
  ),
  DeleteLifecyclePolicy: op<Ecr.DeleteLifecyclePolicyRequest, Ecr.DeleteLifecyclePolicyResponse>(S.struct(repo, repoRequired), async (i, c) =>
    c.ecr.lifecycle.deletePolicy(c.caller, i.repositoryName!),
  ),
  StartLifecyclePolicyPreview: op<Ecr.StartLifecyclePolicyPreviewRequest, Ecr.StartLifecyclePolicyPreviewResponse>(
    S.struct({ ...repo, lifecyclePolicyText: S.str({ max: 30720 }) }, repoRequired),
    async (i, c) => c.ecr.lifecycle.startPreview(c.caller, i.repositoryName!, i.lifecyclePolicyText),
  ),
  GetLifecyclePolicyPreview: op<Ecr.GetLifecyclePolicyPreviewRequest, Ecr.GetLifecyclePolicyPreviewResponse>(
    S.struct({ ...repo, imageIds: S.imageIds, nextToken: S.nextToken, maxResults: S.maxResults, filter: S.struct({ tagStatus: S.tagStatus }) }, repoRequired),
    async (i, c) => {
      if (i.imageIds) notWithIds('imageIds', i);
      const scope = `${i.repositoryName}|${i.filter?.tagStatus ?? 'ANY'}`;
      const digests = i.imageIds?.map((id) => id.imageDigest).filter((d): d is string => d !== undefined);
      const { next, ...result } = await c.ecr.lifecycle.getPreview(
        c.caller,
        i.repositoryName!,
        digests,
        i.filter?.tagStatus as 'TAGGED' | 'UNTAGGED' | 'ANY' | undefined,
        paging('GetLifecyclePolicyPreview', scope, i, isString),
      );
      return { ...result, ...token('GetLifecyclePolicyPreview', scope, next) } as Ecr.GetLifecyclePolicyPreviewResponse;
    },
  ),
  SetRepositoryPolicy: op<Ecr.SetRepositoryPolicyRequest, Ecr.SetRepositoryPolicyResponse>(
    S.struct({ ...repo, policyText: S.policyText, force: S.bool }, ['repositoryName', 'policyText']),
    async (i, c) => c.ecr.policies.setRepositoryPolicy(c.caller, i.repositoryName!, i.policyText!),
  ),
  GetRepositoryPolicy: op<Ecr.GetRepositoryPolicyRequest, Ecr.GetRepositoryPolicyResponse>(S.struct(repo, repoRequired), async (i, c) =>
    c.ecr.policies.getRepositoryPolicy(c.caller, i.repositoryName!),
  ),
  DeleteRepositoryPolicy: op<Ecr.DeleteRepositoryPolicyRequest, Ecr.DeleteRepositoryPolicyResponse>(S.struct(repo, repoRequired), async (i, c) =>
    c.ecr.policies.deleteRepositoryPolicy(c.caller, i.repositoryName!),
  ),
  PutRegistryPolicy: op<Ecr.PutRegistryPolicyRequest, Ecr.PutRegistryPolicyResponse>(S.struct({ policyText: S.policyText }, ['policyText']), async (i, c) =>
    c.ecr.policies.putRegistryPolicy(c.caller, i.policyText!),
  ),
  GetRegistryPolicy: op<Ecr.GetRegistryPolicyRequest, Ecr.GetRegistryPolicyResponse>(S.struct({}), async (_i, c) => c.ecr.policies.getRegistryPolicy(c.caller)),
  DeleteRegistryPolicy: op<Ecr.DeleteRegistryPolicyRequest, Ecr.DeleteRegistryPolicyResponse>(S.struct({}), async (_i, c) => c.ecr.policies.deleteRegistryPolicy(c.caller)),
  DescribeRegistry: op<Ecr.DescribeRegistryRequest, Ecr.DescribeRegistryResponse>(S.struct({}), async (_i, c) => c.ecr.policies.describeRegistry(c.caller)),
  GetAccountSetting: op<Ecr.GetAccountSettingRequest, Ecr.GetAccountSettingResponse>(S.struct({ name: S.str({ min: 1, max: 64 }) }, ['name']), async (i, c) =>
    c.ecr.policies.getAccountSetting(c.caller, i.name!),
  ),
  PutAccountSetting: op<Ecr.PutAccountSettingRequest, Ecr.PutAccountSettingResponse>(
    S.struct({ name: S.str({ min: 1, max: 64 }), value: S.str({ min: 1, max: 64 }) }, ['name', 'value']),
    async (i, c) => c.ecr.policies.putAccountSetting(c.caller, i.name!, i.value!),
  ),

  // ---- repository creation templates ----
  CreateRepositoryCreationTemplate: op<Ecr.CreateRepositoryCreationTemplateRequest, Ecr.CreateRepositoryCreationTemplateResponse>(
    S.struct(templateMembers, ['prefix', 'appliedFor']),
    async (i, c) => c.ecr.templates.create(c.caller, { ...i, prefix: i.prefix! }) as Promise<Ecr.CreateRepositoryCreationTemplateResponse>,
  ),
  UpdateRepositoryCreationTemplate: op<Ecr.UpdateRepositoryCreationTemplateRequest, Ecr.UpdateRepositoryCreationTemplateResponse>(
    S.struct(templateMembers, ['prefix']),
    async (i, c) => c.ecr.templates.update(c.caller, { ...i, prefix: i.prefix! }) as Promise<Ecr.UpdateRepositoryCreationTemplateResponse>,
  ),
  DeleteRepositoryCreationTemplate: op<Ecr.DeleteRepositoryCreationTemplateRequest, Ecr.DeleteRepositoryCreationTemplateResponse>(
    S.struct({ prefix: S.templatePrefix }, ['prefix']),
    async (i, c) => c.ecr.templates.delete(c.caller, i.prefix!) as Promise<Ecr.DeleteRepositoryCreationTemplateResponse>,
  ),
  DescribeRepositoryCreationTemplates: op<Ecr.DescribeRepositoryCreationTemplatesRequest, Ecr.DescribeRepositoryCreationTemplatesResponse>(
    S.struct({ prefixes: S.list(S.templatePrefix, 1, 100), nextToken: S.nextToken, maxResults: S.maxResults }),
    async (i, c) => {
      if (i.prefixes) notWithIds('prefixes', i);
      const result = await c.ecr.templates.describe(c.caller, i.prefixes, paging('DescribeRepositoryCreationTemplates', '', i, isString));
      return {
        registryId: c.caller.accountId,
        repositoryCreationTemplates: result.items as Ecr.RepositoryCreationTemplate[],
        ...token('DescribeRepositoryCreationTemplates', '', result.next),
      };
    },
  ),
};

/** What an operation acts on, for authorization: repositories of a registry, or the account (resource `*`). */
export interface OperationTarget {
  /** The registry addressed when the request does not name one in registryId (a resource ARN's account). */
  registryId?: string;
  /** Repository names; `*` for every repository; null for account-level actions. */
  repositories: string[] | null;
}

const repositoryArnPattern = /^arn:aws[a-z-]*:ecr:[a-z0-9-]+:(\d{12}):repository\/(.+)$/;

/**
 * The resource each operation is authorized against, as ECR's IAM reference lists them:
 * the named repository for repository and image actions, every repository for a listing
 * DescribeRepositories, the ARN's repository for tagging, `*` for registry-level actions
 * (registry policy, settings, templates, DescribeRegistry).
 */
export function operationTarget(name: string, input: Record<string, unknown>): OperationTarget {
  if (name === 'DescribeRepositories') {
    const names = input.repositoryNames as string[] | undefined;
    return { repositories: names && names.length ? names : ['*'] };
  }
  if (name === 'TagResource' || name === 'UntagResource' || name === 'ListTagsForResource') {
    const m = repositoryArnPattern.exec(String(input.resourceArn ?? ''));
    // A malformed ARN is refused by the operation itself, after authorization of its own account.
    return m ? { registryId: m[1]!, repositories: [m[2]!] } : { repositories: null };
  }
  if (typeof input.repositoryName === 'string') return { repositories: [input.repositoryName] };
  return { repositories: null };
}
