import { randomBytes } from 'node:crypto';
import { IamError } from '../../domain/iam/errors.js';
import type { IdentityService } from '../../domain/iam/identity-service.js';
import type { AccountRecord } from '../../stores/identity-store.js';
import type { JsonService } from '../aws/query-edge.js';

// Creating further accounts speaks AWS Organizations' API (JSON 1.1), so that
// `aws organizations create-account --endpoint-url ...` works. Accounts are created at
// once; the request id carries the account id, so DescribeCreateAccountStatus needs no
// state of its own.

const statusOf = (account: AccountRecord, id: string) => ({
  Id: id,
  AccountName: account.name,
  State: 'SUCCEEDED',
  RequestedTimestamp: account.createdAt / 1000,
  CompletedTimestamp: account.createdAt / 1000,
  AccountId: account.id,
});

export function organizationsService(identity: IdentityService): JsonService {
  return {
    targetPrefix: 'AWSOrganizationsV20161128',
    signingName: 'organizations',
    operations: {
      async CreateAccount({ caller, input, facts }) {
        const { account } = await identity.createMemberAccount(
          caller,
          {
            ...(typeof input.AccountName === 'string' ? { accountName: input.AccountName } : {}),
            ...(typeof input.Email === 'string' ? { email: input.Email } : {}),
            ...(typeof input.RoleName === 'string' ? { roleName: input.RoleName } : {}),
          },
          facts,
        );
        return { CreateAccountStatus: statusOf(account, `car-${account.id}${randomBytes(4).toString('hex')}`) };
      },
      async DescribeCreateAccountStatus({ caller, input, facts }) {
        const id = typeof input.CreateAccountRequestId === 'string' ? input.CreateAccountRequestId : '';
        const m = /^car-(\d{12})[0-9a-f]{8}$/.exec(id);
        const accounts = await identity.listMemberAccounts(caller, facts);
        const account = m ? accounts.find((a) => a.id === m[1]) : undefined;
        if (!account) throw new IamError('NoSuchEntity', `CreateAccountStatus ${id} not found`);
        return { CreateAccountStatus: statusOf(account, id) };
      },
      async ListAccounts({ caller, facts }) {
        const accounts = await identity.listMemberAccounts(caller, facts);
        return {
          Accounts: accounts.map((a) => ({ Id: a.id, Arn: `arn:aws:organizations::${caller.accountId}:account/${a.id}`, Name: a.name, Status: 'ACTIVE', JoinedMethod: 'CREATED', JoinedTimestamp: a.createdAt / 1000 })),
        };
      },
    },
  };
}
