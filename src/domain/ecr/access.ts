import type { EcrStore, ResourceTag } from '../../stores/ecr-store.js';
import { DomainError } from '../errors.js';
import { repositoryArn } from '../iam/arns.js';
import { AuthCache, NO_AUTH_CACHE } from '../iam/auth-cache.js';
import { anonymousPrincipal, authorize, type Decision } from '../iam/evaluate.js';
import type { Caller, IdentityService, RequestFacts } from '../iam/identity-service.js';
import { parsePolicy, type PolicyDocument } from '../iam/policy.js';

// Authorization of ECR actions, shared by the ECR API and /v2: the caller's identity
// policies (through the one evaluator), the repository policy and the registry policy of
// the target account, both read from the ECR store, and the repository's tags as
// condition keys. Explicit Deny wins; within an account identity OR resource policy may
// allow; across accounts both must. Resource ARNs carry the one configured region.

export interface EcrAccessCheck {
  /** `ecr:<Action>`. */
  action: string;
  /** The account whose registry is addressed. */
  registryId: string;
  /** A repository name, `*` (every repository), or null for account-level actions (resource `*`). */
  repository: string | null;
  /** Condition keys of the request itself (aws:RequestTag/<key>, aws:TagKeys), beside the repository's facts. */
  requestContext?: Record<string, string | string[]>;
}

/** What a push to a repository that does not exist would create; null: such a push is refused (NAME_UNKNOWN). */
export type CreateOnPushPlanner = (registryId: string, name: string) => Promise<{ tags: ResourceTag[] } | null>;

export interface EcrAccessOptions {
  /** The region of every resource ARN (config `region`). */
  region: string;
  /** How /v2 pushes create repositories (creation templates); without it a push creates an untagged repository. */
  createOnPush?: CreateOnPushPlanner;
  /** Repository facts, registry policies and accounts kept between requests (iam/auth-cache.ts). */
  cache?: AuthCache;
}

/** The condition keys a repository fills: its resource tags as aws:ResourceTag/<key> and ecr:ResourceTag/<key>. */
export function repositoryConditionKeys(tags: ResourceTag[]): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const t of tags) {
    keys[`aws:ResourceTag/${t.key}`] = t.value;
    keys[`ecr:ResourceTag/${t.key}`] = t.value;
  }
  return keys;
}

/** The condition keys of a request that sets tags (CreateRepository with tags, TagResource). */
export function requestTagConditionKeys(tags: ResourceTag[]): Record<string, string | string[]> {
  const keys: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((t) => t.key) };
  for (const t of tags) keys[`aws:RequestTag/${t.key}`] = t.value;
  return keys;
}

export class EcrAccess {
  readonly region: string;
  private readonly createOnPush: CreateOnPushPlanner;

  constructor(
    private readonly identity: IdentityService,
    private readonly store: EcrStore,
    options: EcrAccessOptions,
  ) {
    this.region = options.region;
    this.createOnPush = options.createOnPush ?? (async () => ({ tags: [] }));
    this.cache = options.cache ?? NO_AUTH_CACHE;
  }

  private readonly cache: AuthCache;

  registryPolicy(registryId: string): Promise<PolicyDocument | null> {
    return this.cache.get('registryPolicy', registryId, async () => parseStored(await this.store.getRegistryPolicy(registryId)));
  }

  /** True when the account exists (is hosted here). */
  accountExists(registryId: string): Promise<boolean> {
    return this.cache.get('account', registryId, async () => (await this.identity.store.getAccount(registryId)) !== null, (exists) => exists);
  }

  resource(check: EcrAccessCheck): string {
    return check.repository === null ? '*' : repositoryArn(this.region, check.registryId, check.repository);
  }

  /** The decision for a caller (null: anonymous). Unknown accounts have no policies, so only their own principals could pass, and there are none. */
  async decide(caller: Caller | null, check: EcrAccessCheck, facts: RequestFacts): Promise<Decision> {
    const resource = this.resource(check);
    const [repository, registryPolicy] = await Promise.all([
      check.repository !== null && check.repository !== '*' ? this.repositoryFacts(check.registryId, check.repository) : null,
      this.registryPolicy(check.registryId),
    ]);
    const resourcePolicies = [repository?.policy ?? null, registryPolicy];
    const context = { ...(repository?.conditionKeys ?? {}), ...(check.requestContext ?? {}) };
    if (!caller) {
      return authorize({
        principal: anonymousPrincipal(),
        action: check.action,
        resource,
        resourceAccount: check.registryId,
        resourcePolicies,
        context: { 'aws:SourceIp': facts.sourceIp, 'aws:SecureTransport': facts.secureTransport, ...context },
      });
    }
    return this.identity.authorize(caller, check.action, resource, check.registryId, facts, resourcePolicies, context);
  }

  /**
   * The one place a repository's facts for authorization are read (ECR API and /v2 alike):
   * its policy and its resource tags as condition keys; null when it does not exist.
   */
  repositoryFacts(registryId: string, name: string): Promise<{ policy: PolicyDocument | null; conditionKeys: Record<string, string> } | null> {
    // A missing repository is not kept: creating it need not reach every node at once.
    return this.cache.get('repository', `${registryId}/${name}`, () => this.loadRepositoryFacts(registryId, name), (facts) => facts !== null);
  }

  private async loadRepositoryFacts(registryId: string, name: string): Promise<{ policy: PolicyDocument | null; conditionKeys: Record<string, string> } | null> {
    const repo = await this.store.getRepository(registryId, name);
    if (!repo) return null;
    const [policyText, tags] = await Promise.all([this.store.getRepositoryPolicy(repo.id), this.store.listResourceTags(repo.id)]);
    return { policy: parseStored(policyText), conditionKeys: repositoryConditionKeys(tags) };
  }

  /**
   * The checks a push to `name` adds when it would create the repository, as ECR's
   * create-on-push does: ecr:CreateRepository, and ecr:TagResource when the creation
   * template adds resource tags (both with the tags as aws:RequestTag/<key> and
   * aws:TagKeys). None when the repository exists or the push would be refused anyway.
   */
  async createOnPushChecks(registryId: string, name: string): Promise<EcrAccessCheck[]> {
    if (await this.store.getRepository(registryId, name)) return [];
    const plan = await this.createOnPush(registryId, name);
    if (!plan) return [];
    const requestContext = plan.tags.length > 0 ? requestTagConditionKeys(plan.tags) : {};
    const checks: EcrAccessCheck[] = [{ action: 'ecr:CreateRepository', registryId, repository: name, requestContext }];
    if (plan.tags.length > 0) checks.push({ action: 'ecr:TagResource', registryId, repository: name, requestContext });
    return checks;
  }

  /** Throws AccessDeniedException (ECR's message) unless the caller may. */
  async require(caller: Caller, check: EcrAccessCheck, facts: RequestFacts): Promise<void> {
    if (check.registryId !== caller.accountId && !(await this.accountExists(check.registryId))) {
      // As with an account that exists but shares nothing: no resource policy allows it.
      throw new DomainError('Denied', deniedMessage(caller, check.action, this.resource(check), { allowed: false, reason: 'cross-account-resource-policy-missing' }));
    }
    const decision = await this.decide(caller, check, facts);
    if (!decision.allowed) throw new DomainError('Denied', deniedMessage(caller, check.action, this.resource(check), decision));
  }
}

/** AWS's AccessDenied wording: who, what, on which resource, and which kind of policy is missing. */
export function deniedMessage(caller: Caller, action: string, resource: string, decision: Decision): string {
  const why =
    decision.reason === 'explicit-deny'
      ? 'with an explicit deny in a resource-based or identity-based policy'
      : decision.reason === 'cross-account-resource-policy-missing'
        ? `because no resource-based policy allows the ${action} action`
        : `because no identity-based policy allows the ${action} action`;
  return `User: ${caller.principal.arn} is not authorized to perform: ${action} on resource: ${resource} ${why}`;
}

function parseStored(text: string | null): PolicyDocument | null {
  if (text === null) return null;
  try {
    return parsePolicy(text, 'resource', { duplicateSids: true });
  } catch {
    // Policies are checked on the way in; one that no longer parses grants nothing.
    return null;
  }
}
