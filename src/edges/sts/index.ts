import type { IdentityService } from '../../domain/iam/identity-service.js';
import { intParam, type QueryService } from '../aws/query-edge.js';

// STS over the query protocol: GetCallerIdentity and AssumeRole.

export function stsService(identity: IdentityService): QueryService {
  return {
    name: 'sts',
    namespace: 'https://sts.amazonaws.com/doc/2011-06-15/',
    operations: {
      // Needs no permission, as in AWS: anyone may ask who they are.
      async GetCallerIdentity({ caller }) {
        return { Arn: caller.principal.arn, UserId: caller.principal.userId, Account: caller.accountId };
      },
      async AssumeRole({ caller, params, facts }) {
        const durationSeconds = intParam(params, 'DurationSeconds');
        const creds = await identity.assumeRole(
          caller,
          {
            ...(params.RoleArn !== undefined ? { roleArn: params.RoleArn } : {}),
            ...(params.RoleSessionName !== undefined ? { roleSessionName: params.RoleSessionName } : {}),
            ...(durationSeconds !== undefined ? { durationSeconds } : {}),
            ...(params.Policy !== undefined ? { policy: params.Policy } : {}),
          },
          facts,
        );
        return {
          Credentials: { AccessKeyId: creds.accessKeyId, SecretAccessKey: creds.secretAccessKey, SessionToken: creds.sessionToken, Expiration: creds.expiration },
          AssumedRoleUser: { AssumedRoleId: creds.assumedRoleId, Arn: creds.arn },
          ...(params.Policy !== undefined ? { PackedPolicySize: Math.min(100, Math.ceil((params.Policy.length * 100) / 2048)) } : {}),
        };
      },
    },
  };
}
