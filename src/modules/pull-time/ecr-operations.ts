import type * as Ecr from '@aws-sdk/client-ecr';
import type { Operation } from '../../edges/ecr/operations.js';
import { decodeToken, defaultPageSize, encodeToken } from '../../edges/ecr/pagination.js';
import * as S from '../../edges/ecr/shapes.js';
import type { PullTimeExclusions } from './service.js';

// Register/Deregister/ListPullTimeUpdateExclusions, shaped as botocore's ecr model has them.

const principalArn = S.str({ max: 200, pattern: /^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)\/[\w+=,.@-]+(\/[\w+=,.@-]+)*$/ });
const isArn = (key: unknown): key is string => typeof key === 'string';

export function pullTimeOperations(exclusions: PullTimeExclusions): Record<string, Operation> {
  return {
    RegisterPullTimeUpdateExclusion: {
      input: S.struct({ principalArn }, ['principalArn']),
      handle: async (i: Ecr.RegisterPullTimeUpdateExclusionRequest, c): Promise<Ecr.RegisterPullTimeUpdateExclusionResponse> => exclusions.register(c.caller, i.principalArn!),
    },
    DeregisterPullTimeUpdateExclusion: {
      input: S.struct({ principalArn }, ['principalArn']),
      handle: async (i: Ecr.DeregisterPullTimeUpdateExclusionRequest, c): Promise<Ecr.DeregisterPullTimeUpdateExclusionResponse> => exclusions.deregister(c.caller, i.principalArn!),
    },
    ListPullTimeUpdateExclusions: {
      input: S.struct({ maxResults: S.maxResults, nextToken: S.nextToken }),
      handle: async (i: Ecr.ListPullTimeUpdateExclusionsRequest, c): Promise<Ecr.ListPullTimeUpdateExclusionsResponse> => {
        const after = decodeToken<string>(i.nextToken, 'ListPullTimeUpdateExclusions', c.caller.accountId, isArn);
        const page = await exclusions.list(c.caller, i.maxResults ?? defaultPageSize, after);
        return { pullTimeUpdateExclusions: page.items, ...(page.next === null ? {} : { nextToken: encodeToken('ListPullTimeUpdateExclusions', c.caller.accountId, page.next) }) };
      },
    },
  };
}
