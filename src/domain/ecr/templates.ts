import type { CreationTemplateRecord, EcrRepository, RepositorySettings, ResourceTag } from '../../stores/ecr-store.js';
import { DomainError } from '../errors.js';
import { EcrCaller, EcrDeps, invalidParameter, pageOf, PageRequest, PageResult, tagMutabilitySettings } from './context.js';
import { parseLifecyclePolicy } from './lifecycle-policy.js';
import { encryptionSettings, maxResourceTags, resolveEncryption, resourceTags } from './repositories.js';

export interface TemplateInput {
  prefix: string;
  description?: string;
  encryptionConfiguration?: { encryptionType?: string; kmsKey?: string };
  resourceTags?: Array<{ Key?: string; Value?: string }>;
  imageTagMutability?: string;
  imageTagMutabilityExclusionFilters?: Array<{ filterType?: string; filter?: string }>;
  repositoryPolicy?: string;
  lifecyclePolicy?: string;
  appliedFor?: string[];
  customRoleArn?: string;
}

/** What a push to a missing repository would create (see planCreateOnPush). */
export interface CreateOnPushPlan {
  /** The template's stored fields ({} for defaults). */
  template: Record<string, any>;
  tags: ResourceTag[];
}

const prefixGrammar = /^(?:ROOT|(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*\/?)$/;

/** Repository creation templates: settings applied to repositories created for a prefix. */
export class EcrTemplates {
  private readonly now: () => number;

  constructor(private readonly deps: EcrDeps) {
    this.now = deps.clock ?? Date.now;
  }

  async create(caller: EcrCaller, input: TemplateInput) {
    checkPrefix(input.prefix);
    if (!input.appliedFor || input.appliedFor.length === 0) throw invalidParameter('appliedFor', 'Member must have length greater than or equal to 1');
    const now = this.now();
    const record: CreationTemplateRecord = { prefix: input.prefix, template: this.normalize(caller, input, {}), createdAt: now, updatedAt: now };
    if (!(await this.deps.ecr.createTemplate(caller.accountId, record))) {
      throw new DomainError('TemplateAlreadyExists', `A repository creation template with the prefix '${input.prefix}' already exists in the registry with id '${caller.accountId}'`);
    }
    return { registryId: caller.accountId, repositoryCreationTemplate: view(record) };
  }

  async update(caller: EcrCaller, input: TemplateInput) {
    checkPrefix(input.prefix);
    const existing = await this.deps.ecr.getTemplate(caller.accountId, input.prefix);
    if (!existing) throw notFound(caller, input.prefix);
    const record: CreationTemplateRecord = { ...existing, template: this.normalize(caller, input, existing.template), updatedAt: this.now() };
    if (!(await this.deps.ecr.updateTemplate(caller.accountId, record))) throw notFound(caller, input.prefix);
    return { registryId: caller.accountId, repositoryCreationTemplate: view(record) };
  }

  async delete(caller: EcrCaller, prefix: string) {
    checkPrefix(prefix);
    const record = await this.deps.ecr.deleteTemplate(caller.accountId, prefix);
    if (!record) throw notFound(caller, prefix);
    return { registryId: caller.accountId, repositoryCreationTemplate: view(record) };
  }

  async describe(caller: EcrCaller, prefixes: string[] | undefined, page: PageRequest<string>): Promise<PageResult<ReturnType<typeof view>, string>> {
    if (prefixes && prefixes.length > 0) {
      const items = [];
      for (const prefix of prefixes) {
        checkPrefix(prefix);
        const record = await this.deps.ecr.getTemplate(caller.accountId, prefix);
        if (record) items.push(view(record));
      }
      return { items, next: null };
    }
    const rows = await this.deps.ecr.listTemplates(caller.accountId, { limit: page.limit + 1, after: page.after });
    const result = pageOf(rows, page.limit, (r) => r.prefix);
    return { items: result.items.map(view), next: result.next };
  }

  /**
   * Creates a repository a push names, from the CREATE_ON_PUSH template with the longest
   * matching prefix (ROOT matches every name). Without one: defaults when `fallback` is
   * 'always', else null (the push is refused, as ECR refuses it).
   */
  async createOnPush(registryId: string, name: string, fallback: 'always' | 'template'): Promise<EcrRepository | null> {
    const plan = await this.planCreateOnPush(registryId, name, fallback);
    if (!plan) return null;
    const t = plan.template;
    const settings: RepositorySettings = {
      imageTagMutability: t.imageTagMutability ?? 'MUTABLE',
      imageTagMutabilityExclusionFilters: t.imageTagMutabilityExclusionFilters ?? [],
      scanOnPush: false,
      encryption: await resolveEncryption(this.deps, registryId, (t.encryptionConfiguration as RepositorySettings['encryption'] | undefined) ?? { encryptionType: 'AES256' }),
    };
    const created = await this.deps.ecr.createRepository(registryId, name, settings, plan.tags, this.now());
    if (!created) return this.deps.ecr.getRepository(registryId, name); // a concurrent push created it
    if (typeof t.repositoryPolicy === 'string') await this.deps.ecr.putRepositoryPolicy(created.id, t.repositoryPolicy);
    if (typeof t.lifecyclePolicy === 'string' && isValidLifecyclePolicy(t.lifecyclePolicy)) await this.deps.ecr.putLifecyclePolicy(created.id, t.lifecyclePolicy, this.now());
    return created;
  }

  /**
   * What a push to `name` would create: the settings of the CREATE_ON_PUSH template with the
   * longest matching prefix (ROOT matches every name) and the resource tags it adds, or
   * defaults when none matches and `fallback` is 'always'; null when the push is refused.
   * Authorization asks this before a push (creating needs ecr:CreateRepository, and
   * ecr:TagResource when there are tags), the creation itself follows it.
   */
  async planCreateOnPush(registryId: string, name: string, fallback: 'always' | 'template'): Promise<CreateOnPushPlan | null> {
    const candidates: CreationTemplateRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const rows = await this.deps.ecr.listTemplates(registryId, { limit: 500, after });
      candidates.push(...rows.filter((r) => ((r.template.appliedFor as string[] | undefined) ?? []).includes('CREATE_ON_PUSH') && prefixMatches(r.prefix, name)));
      if (rows.length < 500) break;
      after = rows[rows.length - 1]!.prefix;
    }
    const template = candidates.sort((a, b) => rank(b.prefix) - rank(a.prefix))[0];
    if (!template && fallback === 'template') return null;
    const t = (template?.template ?? {}) as Record<string, any>;
    const tags = ((t.resourceTags ?? []) as Array<{ Key: string; Value: string }>).map((x) => ({ key: x.Key, value: x.Value }));
    return { template: t, tags };
  }

  /** The stored template: given fields over the previous ones, each checked. */
  private normalize(caller: EcrCaller, input: TemplateInput, previous: Record<string, unknown>): Record<string, unknown> {
    const t: Record<string, unknown> = { ...previous };
    if (input.description !== undefined) t.description = input.description;
    if (input.encryptionConfiguration !== undefined || t.encryptionConfiguration === undefined) t.encryptionConfiguration = encryptionSettings(caller, input.encryptionConfiguration);
    if (input.resourceTags !== undefined) {
      const tags = resourceTags(input.resourceTags);
      if (tags.length > maxResourceTags) throw new DomainError('TooManyTags', `A template may carry at most ${maxResourceTags} resource tags`);
      t.resourceTags = tags.map((x) => ({ Key: x.key, Value: x.value }));
    }
    if (input.imageTagMutability !== undefined || input.imageTagMutabilityExclusionFilters !== undefined || t.imageTagMutability === undefined) {
      const m = tagMutabilitySettings(input, (t.imageTagMutability as 'MUTABLE' | undefined) ?? 'MUTABLE');
      t.imageTagMutability = m.imageTagMutability;
      t.imageTagMutabilityExclusionFilters = m.imageTagMutabilityExclusionFilters;
    }
    for (const [field, text] of [['repositoryPolicy', input.repositoryPolicy], ['lifecyclePolicy', input.lifecyclePolicy]] as const) {
      if (text === undefined) continue;
      try {
        JSON.parse(text);
      } catch {
        throw invalidParameter(field, `Invalid ${field} provided: not JSON`);
      }
      t[field] = text;
    }
    if (input.appliedFor !== undefined) t.appliedFor = [...new Set(input.appliedFor)];
    if (input.customRoleArn !== undefined) t.customRoleArn = input.customRoleArn;
    return t;
  }
}

function prefixMatches(prefix: string, name: string): boolean {
  if (prefix === 'ROOT') return true;
  return name.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

function rank(prefix: string): number {
  return prefix === 'ROOT' ? 0 : prefix.length;
}

function checkPrefix(prefix: string): void {
  if (prefix.length < 1 || prefix.length > 256 || !prefixGrammar.test(prefix)) {
    throw invalidParameter('prefix', `must be ROOT or a repository name prefix matching ${prefixGrammar.source}, got '${prefix.slice(0, 300)}'`);
  }
}

function view(record: CreationTemplateRecord) {
  const t = record.template as Record<string, any>;
  const filters = (t.imageTagMutabilityExclusionFilters as unknown[] | undefined) ?? [];
  return {
    prefix: record.prefix,
    ...(t.description !== undefined ? { description: t.description as string } : {}),
    encryptionConfiguration: t.encryptionConfiguration,
    resourceTags: (t.resourceTags ?? []) as Array<{ Key: string; Value: string }>,
    imageTagMutability: t.imageTagMutability,
    ...(filters.length > 0 ? { imageTagMutabilityExclusionFilters: filters } : {}),
    ...(t.repositoryPolicy !== undefined ? { repositoryPolicy: t.repositoryPolicy as string } : {}),
    ...(t.lifecyclePolicy !== undefined ? { lifecyclePolicy: t.lifecyclePolicy as string } : {}),
    appliedFor: (t.appliedFor ?? []) as string[],
    ...(t.customRoleArn !== undefined ? { customRoleArn: t.customRoleArn as string } : {}),
    createdAt: new Date(record.createdAt),
    updatedAt: new Date(record.updatedAt),
  };
}

function notFound(caller: EcrCaller, prefix: string) {
  return new DomainError('TemplateNotFound', `The repository creation template with the prefix '${prefix}' does not exist in the registry with id '${caller.accountId}'`);
}

/** A template's lifecycle policy is applied only when it passes the policy grammar (templates check JSON only). */
function isValidLifecyclePolicy(text: string): boolean {
  try {
    parseLifecyclePolicy(text);
    return true;
  } catch {
    return false;
  }
}
