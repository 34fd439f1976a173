import type * as Ecr from '@aws-sdk/client-ecr';
import type { Operation } from '../../edges/ecr/operations.js';
import * as S from '../../edges/ecr/shapes.js';
import type { SigningConfiguration, SigningConfigurations } from './configuration.js';

// Put/Get/DeleteSigningConfiguration and DescribeImageSigningStatus, shaped as botocore's
// ecr model has them (rules 0-10, filters 1-100 WILDCARD_MATCH, Signer profile ARNs).

const signingProfileArn = S.str({ max: 200, pattern: /^arn:aws(-[a-z]+)*:signer:[a-z0-9-]+:[0-9]{12}:\/signing-profiles\/[a-zA-Z0-9_]{2,}$/ });
const repositoryFilter = S.struct(
  { filter: S.str({ min: 1, max: 256, pattern: /^(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*\/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*$/ }), filterType: S.enm(['WILDCARD_MATCH']) },
  ['filter', 'filterType'],
);
const signingConfiguration = S.struct({ rules: S.list(S.struct({ signingProfileArn, repositoryFilters: S.list(repositoryFilter, 1, 100) }, ['signingProfileArn']), 0, 10) }, ['rules']);

export function signingOperations(configurations: SigningConfigurations): Record<string, Operation> {
  return {
    PutSigningConfiguration: {
      input: S.struct({ signingConfiguration }, ['signingConfiguration']),
      handle: async (i: Ecr.PutSigningConfigurationRequest, c): Promise<Ecr.PutSigningConfigurationResponse> => configurations.put(c.caller, i.signingConfiguration as SigningConfiguration),
    },
    GetSigningConfiguration: {
      input: S.struct({}),
      handle: async (_i: Ecr.GetSigningConfigurationRequest, c): Promise<Ecr.GetSigningConfigurationResponse> => configurations.get(c.caller),
    },
    DeleteSigningConfiguration: {
      input: S.struct({}),
      handle: async (_i: Ecr.DeleteSigningConfigurationRequest, c): Promise<Ecr.DeleteSigningConfigurationResponse> => configurations.delete(c.caller),
    },
    DescribeImageSigningStatus: {
      input: S.struct({ registryId: S.registryId, repositoryName: S.repositoryName, imageId: S.imageId }, ['repositoryName', 'imageId']),
      handle: async (i: Ecr.DescribeImageSigningStatusRequest, c) => (await configurations.imageStatus(c.caller, i.repositoryName!, i.imageId!)) as Ecr.DescribeImageSigningStatusResponse,
    },
  };
}
