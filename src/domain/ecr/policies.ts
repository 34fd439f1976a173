import { DomainError } from '../errors.js';
import { parsePolicy, PolicyValidationError } from '../iam/policy.js';
import { EcrCaller, EcrDeps, invalidParameter, requireRepository } from './context.js';

export const maxPolicyChars = 10_240;

export const accountSettings: Record<string, { values: readonly string[]; default: string }> = {
  BASIC_SCAN_TYPE_VERSION: { values: ['AWS_NATIVE', 'CLAIR'], default: 'AWS_NATIVE' },
  REGISTRY_POLICY_SCOPE: { values: ['V1', 'V2'], default: 'V2' },
  BLOB_MOUNTING: { values: ['ENABLED', 'DISABLED'], default: 'DISABLED' },
};

/** Registry policy scope V1 allows only these actions. */
const v1RegistryActions = ['ecr:ReplicateImage', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'];

/**
 * Checks a policy document: JSON with statements the evaluator can read, within ECR's size
 * limit. Returns the actions it names. Refusals are worded exactly as ECR words them ("Invalid
 * repository policy provided", at 'PolicyText'), without a reason, as ECR gives none.
 * Statements may share a Sid, as ECR allows (IAM's own policies do not).
 */
function checkPolicy(text: string, kind: 'repository' | 'registry'): string[] {
  if (text.length > maxPolicyChars) throw invalidParameter('policyText', `Member must have length less than or equal to ${maxPolicyChars}`);
  const refuse = () => invalidParameter('PolicyText', `Invalid ${kind} policy provided`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw refuse();
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw refuse();
  const statements = (doc as { Statement?: unknown }).Statement;
  const list = Array.isArray(statements) ? statements : statements !== undefined ? [statements] : null;
  if (!list || list.length === 0) throw refuse();
  const actions: string[] = [];
  for (const s of list) {
    if (typeof s !== 'object' || s === null) throw refuse();
    const st = s as Record<string, unknown>;
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw refuse();
    const action = st.Action ?? st.NotAction;
    if (action === undefined) throw refuse();
    actions.push(...(Array.isArray(action) ? action : [action]).map(String));
  }
  // The evaluator's own parser as well: a policy it could not read would silently grant
  // (or deny) nothing once stored.
  try {
    parsePolicy(doc, 'resource', { maxLength: maxPolicyChars, duplicateSids: true });
  } catch (err) {
    if (err instanceof PolicyValidationError) throw refuse();
    throw err;
  }
  return actions;
}

/** Repository and registry policies (stored as text, checked as JSON) and account settings. */
export class EcrPolicies {
  constructor(private readonly deps: EcrDeps) {}

  async setRepositoryPolicy(caller: EcrCaller, name: string, text: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    checkPolicy(text, 'repository');
    await this.deps.ecr.putRepositoryPolicy(repo.id, text);
    return { registryId: caller.accountId, repositoryName: name, policyText: text };
  }

  async getRepositoryPolicy(caller: EcrCaller, name: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const text = await this.deps.ecr.getRepositoryPolicy(repo.id);
    if (text === null) throw notFound(caller, name);
    return { registryId: caller.accountId, repositoryName: name, policyText: text };
  }

  async deleteRepositoryPolicy(caller: EcrCaller, name: string) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const text = await this.deps.ecr.deleteRepositoryPolicy(repo.id);
    if (text === null) throw notFound(caller, name);
    return { registryId: caller.accountId, repositoryName: name, policyText: text };
  }

  async putRegistryPolicy(caller: EcrCaller, text: string) {
    const actions = checkPolicy(text, 'registry');
    if ((await this.getAccountSetting(caller, 'REGISTRY_POLICY_SCOPE')).value === 'V1') {
      const outside = actions.filter((a) => !v1RegistryActions.includes(a));
      if (outside.length > 0) throw invalidParameter('policyText', `Registry policy scope V1 allows only ${v1RegistryActions.join(', ')}; the policy names ${outside.join(', ')}`);
    }
    await this.deps.ecr.putRegistryPolicy(caller.accountId, text);
    return { registryId: caller.accountId, policyText: text };
  }

  async getRegistryPolicy(caller: EcrCaller) {
    const text = await this.deps.ecr.getRegistryPolicy(caller.accountId);
    if (text === null) throw registryNotFound(caller);
    return { registryId: caller.accountId, policyText: text };
  }

  async deleteRegistryPolicy(caller: EcrCaller) {
    const text = await this.deps.ecr.deleteRegistryPolicy(caller.accountId);
    if (text === null) throw registryNotFound(caller);
    return { registryId: caller.accountId, policyText: text };
  }

  async describeRegistry(caller: EcrCaller) {
    return { registryId: caller.accountId, replicationConfiguration: { rules: [] } };
  }

  async getAccountSetting(caller: EcrCaller, name: string) {
    const spec = settingSpec(name);
    return { name, value: (await this.deps.ecr.getAccountSetting(caller.accountId, name)) ?? spec.default };
  }

  async putAccountSetting(caller: EcrCaller, name: string, value: string) {
    const spec = settingSpec(name);
    if (!spec.values.includes(value)) throw new DomainError('Validation', `Invalid value '${value.slice(0, 100)}' for account setting ${name}; valid values are ${spec.values.join(', ')}`);
    await this.deps.ecr.putAccountSetting(caller.accountId, name, value);
    return { name, value };
  }
}

function settingSpec(name: string) {
  const spec = accountSettings[name];
  if (!spec) throw new DomainError('Validation', `Invalid account setting name '${name.slice(0, 100)}'; valid names are ${Object.keys(accountSettings).join(', ')}`);
  return spec;
}

function notFound(caller: EcrCaller, name: string) {
  return new DomainError('RepositoryPolicyNotFound', `Repository policy does not exist for the repository with name '${name}' in the registry with id '${caller.accountId}'`);
}

function registryNotFound(caller: EcrCaller) {
  return new DomainError('RegistryPolicyNotFound', `Registry policy does not exist in the registry with id '${caller.accountId}'`);
}
