import type { EcrRepository, ResourceTag, RepositorySettings } from '../../stores/ecr-store.js';
import { DomainError } from '../errors.js';
import { EcrCaller, type EcrDeps, invalidParameter, pageOf, PageRequest, PageResult, repositoryArn, requireRepository, tagMutabilitySettings } from './context.js';

export const maxResourceTags = 50;

export interface RepositoryView {
  repositoryArn: string;
  registryId: string;
  repositoryName: string;
  repositoryUri: string;
  createdAt: Date;
  imageTagMutability: RepositorySettings['imageTagMutability'];
  imageTagMutabilityExclusionFilters?: RepositorySettings['imageTagMutabilityExclusionFilters'];
  imageScanningConfiguration: { scanOnPush: boolean };
  encryptionConfiguration: { encryptionType: RepositorySettings['encryption']['encryptionType']; kmsKey?: string };
}

export interface CreateRepositoryInput {
  repositoryName: string;
  tags?: Array<{ Key?: string; Value?: string }>;
  imageTagMutability?: string;
  imageTagMutabilityExclusionFilters?: Array<{ filterType?: string; filter?: string }>;
  imageScanningConfiguration?: { scanOnPush?: boolean };
  encryptionConfiguration?: { encryptionType?: string; kmsKey?: string };
}

/** Repositories and their settings and resource tags (the ECR API's view). */
export class EcrRepositories {
  private readonly now: () => number;

  constructor(private readonly deps: EcrDeps) {
    this.now = deps.clock ?? Date.now;
  }

  view(caller: EcrCaller, repo: EcrRepository): RepositoryView {
    const s = repo.settings;
    return {
      repositoryArn: repositoryArn(caller, repo.name),
      registryId: repo.registryId,
      repositoryName: repo.name,
      repositoryUri: `${caller.registryHost}/${repo.name}`,
      createdAt: new Date(repo.createdAt),
      imageTagMutability: s.imageTagMutability,
      ...(s.imageTagMutabilityExclusionFilters.length > 0 ? { imageTagMutabilityExclusionFilters: s.imageTagMutabilityExclusionFilters } : {}),
      imageScanningConfiguration: { scanOnPush: s.scanOnPush },
      encryptionConfiguration: { ...s.encryption },
    };
  }

  async create(caller: EcrCaller, input: CreateRepositoryInput): Promise<RepositoryView> {
    const settings: RepositorySettings = {
      ...tagMutabilitySettings(input),
      scanOnPush: input.imageScanningConfiguration?.scanOnPush ?? false,
      encryption: await resolveEncryption(this.deps, caller.accountId, encryptionSettings(caller, input.encryptionConfiguration)),
    };
    const tags = resourceTags(input.tags ?? []);
    if (tags.length > maxResourceTags) throw new DomainError('TooManyTags', `A repository may have at most ${maxResourceTags} tags; ${tags.length} were given`);
    const repo = await this.deps.ecr.createRepository(caller.accountId, input.repositoryName, settings, tags, this.now());
    if (!repo) throw new DomainError('RepositoryAlreadyExists', `The repository with name '${input.repositoryName}' already exists in the registry with id '${caller.accountId}'`);
    return this.view(caller, repo);
  }

  /** By names (each must exist), or a page of all repositories in name order. */
  async describe(caller: EcrCaller, names: string[] | undefined, page: PageRequest<string>): Promise<PageResult<RepositoryView, string>> {
    if (names && names.length > 0) {
      const items: RepositoryView[] = [];
      for (const name of names) items.push(this.view(caller, await requireRepository(this.deps.ecr, caller, name)));
      return { items, next: null };
    }
    const rows = await this.deps.ecr.listRepositories(caller.accountId, { limit: page.limit + 1, after: page.after });
    const result = pageOf(rows, page.limit, (r) => r.name);
    return { items: result.items.map((r) => this.view(caller, r)), next: result.next };
  }

  async delete(caller: EcrCaller, name: string, force: boolean): Promise<RepositoryView> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const outcome = await this.deps.ecr.deleteRepository(repo.id, force);
    if (outcome === 'not-empty') {
      throw new DomainError('RepositoryNotEmpty', `The repository with name '${name}' in registry with id '${caller.accountId}' cannot be deleted because it still contains images`);
    }
    if (outcome === 'missing') await requireRepository(this.deps.ecr, caller, name);
    return this.view(caller, repo);
  }

  async putTagMutability(caller: EcrCaller, name: string, input: { imageTagMutability?: string; imageTagMutabilityExclusionFilters?: Array<{ filterType?: string; filter?: string }> }) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const mutability = tagMutabilitySettings(input);
    await this.deps.ecr.putRepositorySettings(repo.id, { ...repo.settings, ...mutability });
    return {
      registryId: caller.accountId,
      repositoryName: name,
      imageTagMutability: mutability.imageTagMutability,
      ...(mutability.imageTagMutabilityExclusionFilters.length > 0 ? { imageTagMutabilityExclusionFilters: mutability.imageTagMutabilityExclusionFilters } : {}),
    };
  }

  async putScanningConfiguration(caller: EcrCaller, name: string, scanOnPush: boolean) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    await this.deps.ecr.putRepositorySettings(repo.id, { ...repo.settings, scanOnPush });
    return { registryId: caller.accountId, repositoryName: name, imageScanningConfiguration: { scanOnPush } };
  }

  // ---- resource tags (addressed by ARN) ----

  async listTags(caller: EcrCaller, arn: string): Promise<Array<{ Key: string; Value: string }>> {
    const repo = await this.repositoryByArn(caller, arn);
    return (await this.deps.ecr.listResourceTags(repo.id)).map((t) => ({ Key: t.key, Value: t.value }));
  }

  async tag(caller: EcrCaller, arn: string, tags: Array<{ Key?: string; Value?: string }>): Promise<void> {
    const repo = await this.repositoryByArn(caller, arn);
    const parsed = resourceTags(tags);
    if (!(await this.deps.ecr.putResourceTags(repo.id, parsed, maxResourceTags))) {
      throw new DomainError('TooManyTags', `A repository may have at most ${maxResourceTags} tags`);
    }
  }

  async untag(caller: EcrCaller, arn: string, keys: string[]): Promise<void> {
    const repo = await this.repositoryByArn(caller, arn);
    for (const key of keys) checkTagKey(key);
    await this.deps.ecr.deleteResourceTags(repo.id, keys);
  }

  private async repositoryByArn(caller: EcrCaller, arn: string): Promise<EcrRepository> {
    const m = /^arn:aws[a-z-]*:ecr:([a-z0-9-]+):(\d{12}):repository\/(.+)$/.exec(arn);
    if (!m) throw invalidParameter('resourceArn', 'Invalid ARN'); // ECR's words
    const [, , account, name] = m as unknown as [string, string, string, string];
    if (account !== caller.accountId) throw new DomainError('NameUnknown', `The repository with name '${name}' does not exist in the registry with id '${account}'`);
    return requireRepository(this.deps.ecr, caller, name);
  }
}

function checkTagKey(key: string): void {
  if (key.length < 1 || key.length > 128) throw new DomainError('InvalidTagParameter', `Tag keys must be 1 to 128 characters long, got ${key.length}`);
  if (key.toLowerCase().startsWith('aws:')) throw new DomainError('InvalidTagParameter', `Tag keys may not start with the reserved prefix 'aws:': '${key}'`);
  if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(key)) throw new DomainError('InvalidTagParameter', `Tag key '${key.slice(0, 128)}' contains characters that are not allowed`);
}

/** Validates resource tags (Key/Value, ECR's lengths, no reserved prefix, no duplicates). */
export function resourceTags(tags: Array<{ Key?: string; Value?: string }>): ResourceTag[] {
  const seen = new Set<string>();
  return tags.map((t) => {
    if (t.Key === undefined) throw new DomainError('InvalidTagParameter', 'Every tag needs a Key');
    checkTagKey(t.Key);
    const value = t.Value ?? '';
    if (value.length > 256) throw new DomainError('InvalidTagParameter', `Tag values may be at most 256 characters long; the value of '${t.Key}' has ${value.length}`);
    if (seen.has(t.Key)) throw new DomainError('InvalidTagParameter', `Tag key '${t.Key}' is given more than once`);
    seen.add(t.Key);
    return { key: t.Key, value };
  });
}

/** KMS and KMS_DSSE settings name the key by its ARN once resolved (DescribeRepositories reports it). */
export async function resolveEncryption(deps: EcrDeps, accountId: string, encryption: RepositorySettings['encryption']): Promise<RepositorySettings['encryption']> {
  if (encryption.encryptionType === 'AES256' || !encryption.kmsKey || !deps.resolveKmsKey) return encryption;
  try {
    return { encryptionType: encryption.encryptionType, kmsKey: await deps.resolveKmsKey(accountId, encryption.kmsKey) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && (err as { awsJsonError?: boolean }).awsJsonError) {
      throw new DomainError('KmsKeyUnusable', `KMS key ${encryption.kmsKey} cannot be used: ${code}: ${(err as Error).message}`, { kmsError: code });
    }
    throw err;
  }
}

export function encryptionSettings(caller: EcrCaller, input: { encryptionType?: string; kmsKey?: string } | undefined): RepositorySettings['encryption'] {
  const type = (input?.encryptionType ?? 'AES256') as RepositorySettings['encryption']['encryptionType'];
  if (type === 'AES256') {
    if (input?.kmsKey !== undefined) throw invalidParameter('encryptionConfiguration.kmsKey', 'kmsKey may only be given with encryptionType KMS or KMS_DSSE');
    return { encryptionType: 'AES256' };
  }
  // Recorded only: Berth's own storage encryption applies whatever is recorded here.
  return { encryptionType: type, kmsKey: input?.kmsKey ?? `arn:aws:kms:${caller.region}:${caller.accountId}:alias/aws/ecr` };
}
