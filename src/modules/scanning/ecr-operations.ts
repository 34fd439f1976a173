import type * as Ecr from '@aws-sdk/client-ecr';
import type { Operation } from '../../edges/ecr/operations.js';
import { decodeToken, defaultPageSize, encodeToken } from '../../edges/ecr/pagination.js';
import * as S from '../../edges/ecr/shapes.js';
import type { EcrServices } from '../../domain/ecr/index.js';
import type { ScanningService } from './service.js';

// The ECR scanning operations, as botocore's ecr model shapes them.

const repo = { registryId: S.registryId, repositoryName: S.repositoryName };
const filter = S.struct({ filter: S.str({ min: 1, max: 255 }), filterType: S.enm(['WILDCARD']) }, ['filter', 'filterType']);
const rule = S.struct({ scanFrequency: S.enm(['SCAN_ON_PUSH', 'CONTINUOUS_SCAN', 'MANUAL']), repositoryFilters: S.list(filter, 0, 100) }, ['scanFrequency', 'repositoryFilters']);
const isOffset = (key: unknown): key is number => Number.isSafeInteger(key) && (key as number) >= 0;

/** `serviceOf` finds the app's scanning service from the operation's context (one table serves every app in a process). */
export function scanningOperations(serviceOf: (ecr: EcrServices) => ScanningService): Record<string, Operation> {
  return {
    PutRegistryScanningConfiguration: {
      input: S.struct({ scanType: S.enm(['BASIC', 'ENHANCED']), rules: S.list(rule, 0, 2) }),
      handle: async (i: Ecr.PutRegistryScanningConfigurationRequest, c) => serviceOf(c.ecr).putRegistryConfig(c.caller, i.scanType, i.rules as unknown[] | undefined),
    },
    GetRegistryScanningConfiguration: {
      input: S.struct({}),
      handle: async (_i: Ecr.GetRegistryScanningConfigurationRequest, c) => serviceOf(c.ecr).getRegistryConfig(c.caller),
    },
    BatchGetRepositoryScanningConfiguration: {
      input: S.struct({ repositoryNames: S.list(S.repositoryName, 1, 25) }, ['repositoryNames']),
      handle: async (i: Ecr.BatchGetRepositoryScanningConfigurationRequest, c) => serviceOf(c.ecr).batchGetRepositoryConfig(c.caller, i.repositoryNames!),
    },
    StartImageScan: {
      input: S.struct({ ...repo, imageId: S.imageId }, ['repositoryName', 'imageId']),
      handle: async (i: Ecr.StartImageScanRequest, c) => serviceOf(c.ecr).startImageScan(c.caller, i.repositoryName!, i.imageId!),
    },
    DescribeImageScanFindings: {
      input: S.struct({ ...repo, imageId: S.imageId, nextToken: S.nextToken, maxResults: S.maxResults }, ['repositoryName', 'imageId']),
      handle: async (i: Ecr.DescribeImageScanFindingsRequest, c) => {
        const scope = `${i.repositoryName}|${i.imageId?.imageDigest ?? ''}|${i.imageId?.imageTag ?? ''}`;
        const offset = decodeToken(i.nextToken, 'DescribeImageScanFindings', scope, isOffset) ?? 0;
        const { next, ...result } = await serviceOf(c.ecr).describeFindings(c.caller, i.repositoryName!, i.imageId!, { limit: i.maxResults ?? defaultPageSize, offset });
        return { ...result, ...(next !== null && next !== undefined ? { nextToken: encodeToken('DescribeImageScanFindings', scope, next) } : {}) };
      },
    },
  };
}
