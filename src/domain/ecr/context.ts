import type { EcrRepository, EcrStore, RepositorySettings } from '../../stores/ecr-store.js';
import type { MetadataStore } from '../../stores/metadata-store.js';
import { DomainError } from '../errors.js';
import type { JobQueue } from '../jobs.js';
import type { RegistryService } from '../registry-service.js';

/** Who is calling and where: the account (registry id), region and the host clients pull from. */
export interface EcrCaller {
  accountId: string;
  region: string;
  /** host[:port] of the registry, for repositoryUri. */
  registryHost: string;
  /** The IAM user or role (of a session) making the call, when known (pull time exclusions). */
  principalArn?: string;
}

export interface EcrDeps {
  registry: RegistryService;
  meta: MetadataStore;
  ecr: EcrStore;
  /** Whether a pull by this principal leaves lastRecordedPullTime alone (pull time update exclusions). */
  pullTimeExcluded?(registryId: string, principalArn: string | undefined): Promise<boolean>;
  /** Durable background work (previews, restores from the archive). */
  jobs: JobQueue;
  clock?: () => number;
  /**
   * Resolves a repository's kmsKey (key id, key ARN, alias name or alias ARN; alias/aws/ecr
   * made on first use) to the key's ARN, failing when the key cannot be used (Berth's KMS,
   * docs/encryption.md). Unset: kmsKey is recorded as given.
   */
  resolveKmsKey?: (accountId: string, kmsKey: string) => Promise<string>;
}

/** A page request over a keyset: up to `limit` items after `after`. */
export interface PageRequest<K> {
  limit: number;
  after?: K;
}

export interface PageResult<T, K> {
  items: T[];
  /** The key to continue after, when there are more. */
  next: K | null;
}

export function pageOf<T, K>(rows: T[], limit: number, key: (row: T) => K): PageResult<T, K> {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  return { items, next: key(items[items.length - 1]!) };
}

export function repositoryArn(caller: EcrCaller, name: string): string {
  return `arn:aws:ecr:${caller.region}:${caller.accountId}:repository/${name}`;
}

export async function requireRepository(ecr: EcrStore, caller: EcrCaller, name: string): Promise<EcrRepository> {
  const repo = await ecr.getRepository(caller.accountId, name);
  if (!repo) throw new DomainError('NameUnknown', `The repository with name '${name}' does not exist in the registry with id '${caller.accountId}'`);
  return repo;
}

export function invalidParameter(field: string, constraint: string): DomainError {
  return new DomainError('InvalidParameter', `Invalid parameter at '${field}' failed to satisfy constraint: '${constraint}'`);
}

export interface TagMutabilityInput {
  imageTagMutability?: string;
  imageTagMutabilityExclusionFilters?: Array<{ filterType?: string; filter?: string }>;
}

/** Checks the pairing of mutability mode and exclusion filters, as ECR does. */
export function tagMutabilitySettings(input: TagMutabilityInput, fallback: RepositorySettings['imageTagMutability'] = 'MUTABLE') {
  const mode = (input.imageTagMutability ?? fallback) as RepositorySettings['imageTagMutability'];
  const filters = (input.imageTagMutabilityExclusionFilters ?? []).map((f) => ({ filterType: 'WILDCARD' as const, filter: f.filter! }));
  const withExclusion = mode.endsWith('_WITH_EXCLUSION');
  if (withExclusion && filters.length === 0) {
    throw invalidParameter('imageTagMutabilityExclusionFilters', `must contain 1 to 5 filters when imageTagMutability is ${mode}`);
  }
  if (!withExclusion && filters.length > 0) {
    throw invalidParameter('imageTagMutabilityExclusionFilters', `may only be given with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION, not ${mode}`);
  }
  return { imageTagMutability: mode, imageTagMutabilityExclusionFilters: filters };
}
