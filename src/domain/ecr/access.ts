import type { EcrStore } from '../../stores/ecr-store.js';
import { DomainError } from '../errors.js';
import { repositoryArn } from '../iam/arns.js';
import { anonymousPrincipal, authorize, type Decision } from '../iam/evaluate.js';
import type { Caller, IdentityService, RequestFacts } from '../iam/identity-service.js';
import { parsePolicy, type PolicyDocument } from '../iam/policy.js';

// Authorization of ECR actions, shared by the ECR API and /v2: the caller's identity
// policies (through the one evaluator), the repository policy and the registry policy of
// the target account, both read from the ECR store. Explicit Deny wins; within an account
// identity OR resource policy may allow; across accounts both must.

export interface EcrAccessCheck {
  /** `ecr:<Action>`. */
  action: string;
  /** The account whose registry is addressed. */
  registryId: string;
  /** Region of the resource ARN. */
  region: string;
  /** A repository name, `*` (every repository), or null for account-level actions (resource `*`). */
  repository: string | null;
}

export class EcrAccess {
  constructor(
    private readonly identity: IdentityService,
    private readonly store: EcrStore,
  ) {}

  /** The repository's policy, parsed; null when there is none (or the repository does not exist). */
  async repositoryPolicy(registryId: string, name: string): Promise<PolicyDocument | null> {
    const repo = await this.store.getRepository(registryId, name);
    return repo ? parseStored(await this.store.getRepositoryPolicy(repo.id)) : null;
  }

  async registryPolicy(registryId: string): Promise<PolicyDocument | null> {
    return parseStored(await this.store.getRegistryPolicy(registryId));
  }

  /** True when the account exists (is hosted here). */
  async accountExists(registryId: string): Promise<boolean> {
    return (await this.identity.store.getAccount(registryId)) !== null;
  }

  resource(check: EcrAccessCheck): string {
    return check.repository === null ? '*' : repositoryArn(check.region, check.registryId, check.repository);
  }

  /** The decision for a caller (null: anonymous). Unknown accounts have no policies, so only their own principals could pass, and there are none. */
  async decide(caller: Caller | null, check: EcrAccessCheck, facts: RequestFacts): Promise<Decision> {
    const resource = this.resource(check);
    const [repository, registryPolicy] = await Promise.all([
      check.repository !== null && check.repository !== '*' ? this.repositoryFacts(check.registryId, check.repository) : null,
      this.registryPolicy(check.registryId),
    ]);
    const resourcePolicies = [repository?.policy ?? null, registryPolicy];
    const tags = repository?.tagContext ?? {};
    if (!caller) {
      return authorize({
        principal: anonymousPrincipal(),
        action: check.action,
        resource,
        resourceAccount: check.registryId,
        resourcePolicies,
        context: { 'aws:SourceIp': facts.sourceIp, 'aws:SecureTransport': facts.secureTransport, ...tags },
      });
    }
    return this.identity.authorize(caller, check.action, resource, check.registryId, facts, resourcePolicies, tags);
  }

  /** A repository's policy and its resource tags as `aws:ResourceTag/<key>` condition keys. */
  private async repositoryFacts(registryId: string, name: string): Promise<{ policy: PolicyDocument | null; tagContext: Record<string, string> } | null> {
    const repo = await this.store.getRepository(registryId, name);
    if (!repo) return null;
    const [policyText, tags] = await Promise.all([this.store.getRepositoryPolicy(repo.id), this.store.listResourceTags(repo.id)]);
    return { policy: parseStored(policyText), tagContext: Object.fromEntries(tags.map((t) => [`aws:ResourceTag/${t.key}`, t.value])) };
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
    return parsePolicy(text, 'resource');
  } catch {
    // Policies are checked on the way in; one that no longer parses grants nothing.
    return null;
  }
}
