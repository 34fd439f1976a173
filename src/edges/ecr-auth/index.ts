import type { RegistryTokens } from '../../auth/registry-token.js';
import type { IdentityService } from '../../domain/iam/identity-service.js';
import type { JsonService } from '../aws/query-edge.js';

// ECR's login operation, GetAuthorizationToken, on the AWS JSON 1.1 protocol. The rest of
// the ECR API joins this service table when it is built.

export function ecrAuthService(identity: IdentityService, tokens: RegistryTokens): JsonService {
  return {
    targetPrefix: 'AmazonEC2ContainerRegistry_V20150921',
    signingName: 'ecr',
    regional: true,
    operations: {
      async GetAuthorizationToken({ caller, facts, host, protocol }) {
        await identity.require(caller, 'ecr:GetAuthorizationToken', '*', facts);
        const issued = await tokens.issue(caller);
        return {
          authorizationData: [
            {
              authorizationToken: Buffer.from(`AWS:${issued.password}`).toString('base64'),
              // JSON 1.1 timestamps are epoch seconds.
              expiresAt: issued.expiresAt.getTime() / 1000,
              proxyEndpoint: `${protocol}://${host}`,
            },
          ],
        };
      },
    },
  };
}
