import { sql, type Kysely } from 'kysely';
import { DomainError } from '../../domain/errors.js';
import type { EcrCaller } from '../../domain/ecr/context.js';

// Pull time update exclusions: up to 100 IAM principals (users and roles) per registry
// whose pulls leave lastRecordedPullTime as it was (ECR's Register/Deregister/
// ListPullTimeUpdateExclusions). A role session pulls as its role.

export const maxExclusions = 100;
/** How long a registry's list is trusted in memory on the pull path (a change here clears it at once). */
const cacheMs = 10_000;

export class PullTimeExclusions {
  private readonly cache = new Map<string, { at: number; arns: Set<string> }>();

  constructor(
    private readonly db: Kysely<any>,
    private readonly now: () => number = Date.now,
  ) {}

  async register(caller: EcrCaller, principalArn: string): Promise<{ principalArn: string; createdAt: Date }> {
    const registryId = caller.accountId;
    const createdAt = this.now();
    const result = await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('ecr_pull_time_exclusions').select('principal_arn').where('registry_id', '=', registryId).where('principal_arn', '=', principalArn).executeTakeFirst();
      if (existing) return 'exists' as const;
      const { count } = (await trx
        .selectFrom('ecr_pull_time_exclusions')
        .select(sql<number>`count(*)`.as('count'))
        .where('registry_id', '=', registryId)
        .executeTakeFirstOrThrow()) as { count: number | string };
      if (Number(count) >= maxExclusions) return 'full' as const;
      await trx.insertInto('ecr_pull_time_exclusions').values({ registry_id: registryId, principal_arn: principalArn, created_at: createdAt }).execute();
      return 'ok' as const;
    });
    if (result === 'exists') throw new DomainError('ExclusionAlreadyExists', `The principal '${principalArn}' is already in the pull time update exclusion list of the registry with id '${registryId}'`);
    if (result === 'full') throw new DomainError('LimitExceeded', `The pull time update exclusion list of the registry with id '${registryId}' already holds the maximum of ${maxExclusions} principals`);
    this.cache.delete(registryId);
    return { principalArn, createdAt: new Date(createdAt) };
  }

  async deregister(caller: EcrCaller, principalArn: string): Promise<{ principalArn: string }> {
    const result = await this.db.deleteFrom('ecr_pull_time_exclusions').where('registry_id', '=', caller.accountId).where('principal_arn', '=', principalArn).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) {
      throw new DomainError('ExclusionNotFound', `The principal '${principalArn}' is not in the pull time update exclusion list of the registry with id '${caller.accountId}'`);
    }
    this.cache.delete(caller.accountId);
    return { principalArn };
  }

  /** One page, in ARN order; `after` is the last ARN of the previous page. */
  async list(caller: EcrCaller, limit: number, after: string | undefined): Promise<{ items: string[]; next: string | null }> {
    let q = this.db.selectFrom('ecr_pull_time_exclusions').select('principal_arn').where('registry_id', '=', caller.accountId);
    if (after !== undefined) q = q.where('principal_arn', '>', after);
    const rows = (await q.orderBy('principal_arn').limit(limit + 1).execute()) as Array<{ principal_arn: string }>;
    const items = rows.slice(0, limit).map((r) => r.principal_arn);
    return { items, next: rows.length > limit ? items[items.length - 1]! : null };
  }

  /** Whether a pull by this principal (its IAM user or role ARN) leaves the pull time alone. */
  async excludes(registryId: string, principalArn: string | null | undefined): Promise<boolean> {
    if (!principalArn) return false;
    let entry = this.cache.get(registryId);
    if (!entry || this.now() - entry.at > cacheMs) {
      const rows = (await this.db.selectFrom('ecr_pull_time_exclusions').select('principal_arn').where('registry_id', '=', registryId).execute()) as Array<{ principal_arn: string }>;
      entry = { at: this.now(), arns: new Set(rows.map((r) => r.principal_arn)) };
      this.cache.set(registryId, entry);
    }
    return entry.arns.has(principalArn);
  }
}
