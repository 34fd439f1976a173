import type { Kysely } from 'kysely';
import { DomainError } from '../../domain/errors.js';
import type { EcrCaller } from '../../domain/ecr/context.js';
import { requireRepository } from '../../domain/ecr/context.js';
import type { EcrStore } from '../../stores/ecr-store.js';
import type { MetadataStore } from '../../stores/metadata-store.js';
import { isValidTag } from '../../domain/names.js';

// ECR managed signing's registry configuration (Put/Get/DeleteSigningConfiguration) and
// what it means for one image (DescribeImageSigningStatus): up to 10 rules, each a Signer
// signing profile ARN and 1-100 WILDCARD_MATCH repository filters (no filters: every
// repository). Deleting the configuration leaves the signatures already made in place.

export const NOTARY_SIGNATURE = 'application/vnd.cncf.notary.signature';
/** The annotation Berth puts on a signature manifest naming the profile that made it. */
export const PROFILE_ANNOTATION = 'com.amazonaws.signer.signingProfileArn';

export interface SigningRule {
  signingProfileArn: string;
  repositoryFilters?: Array<{ filter: string; filterType: 'WILDCARD_MATCH' }>;
}
export interface SigningConfiguration {
  rules: SigningRule[];
}

/** A WILDCARD_MATCH filter: `*` matches any run of characters (slashes included). */
export function filterMatches(filter: string, repository: string): boolean {
  const pattern = filter.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
  return new RegExp(`^${pattern}$`).test(repository);
}

export function ruleApplies(rule: SigningRule, repository: string): boolean {
  const filters = rule.repositoryFilters ?? [];
  return filters.length === 0 || filters.some((f) => filterMatches(f.filter, repository));
}

export class SigningConfigurations {
  constructor(
    private readonly db: Kysely<any>,
    private readonly ecr: EcrStore,
    private readonly meta: MetadataStore,
    private readonly now: () => number = Date.now,
  ) {}

  async put(caller: EcrCaller, configuration: SigningConfiguration): Promise<{ signingConfiguration: SigningConfiguration }> {
    const stored: SigningConfiguration = {
      rules: configuration.rules.map((r) => ({ signingProfileArn: r.signingProfileArn, ...(r.repositoryFilters ? { repositoryFilters: r.repositoryFilters.map((f) => ({ filter: f.filter, filterType: f.filterType })) } : {}) })),
    };
    const text = JSON.stringify(stored);
    const now = this.now();
    await this.db
      .insertInto('ecr_signing_configurations')
      .values({ registry_id: caller.accountId, configuration: text, updated_at: now })
      .onConflict((oc) => oc.column('registry_id').doUpdateSet({ configuration: text, updated_at: now }))
      .execute();
    return { signingConfiguration: stored };
  }

  async find(registryId: string): Promise<SigningConfiguration | null> {
    const row = (await this.db.selectFrom('ecr_signing_configurations').select('configuration').where('registry_id', '=', registryId).executeTakeFirst()) as { configuration: string } | undefined;
    return row ? (JSON.parse(row.configuration) as SigningConfiguration) : null;
  }

  async get(caller: EcrCaller): Promise<{ registryId: string; signingConfiguration: SigningConfiguration }> {
    const found = await this.find(caller.accountId);
    if (!found) throw notFound(caller);
    return { registryId: caller.accountId, signingConfiguration: found };
  }

  async delete(caller: EcrCaller): Promise<{ registryId: string; signingConfiguration: SigningConfiguration }> {
    const found = await this.find(caller.accountId);
    if (!found) throw notFound(caller);
    // Only the configuration goes; the signatures it made stay attached to their images.
    await this.db.deleteFrom('ecr_signing_configurations').where('registry_id', '=', caller.accountId).execute();
    return { registryId: caller.accountId, signingConfiguration: found };
  }

  /** One status per rule that applies to the repository: COMPLETE when a Notary signature by its profile is attached. */
  async imageStatus(caller: EcrCaller, repositoryName: string, imageId: { imageDigest?: string; imageTag?: string }) {
    const repo = await requireRepository(this.ecr, caller, repositoryName);
    const digest = await this.resolve(repo.id, repositoryName, caller, imageId);
    const configuration = await this.find(caller.accountId);
    const signatures = (await this.meta.listReferrers(repo.id, digest, NOTARY_SIGNATURE)).filter((r) => r.status === 'ACTIVE');
    const byProfile = new Set(signatures.map((s) => s.annotations?.[PROFILE_ANNOTATION]).filter((a): a is string => typeof a === 'string'));
    const rules = (configuration?.rules ?? []).filter((r) => ruleApplies(r, repositoryName));
    const profiles = [...new Set(rules.map((r) => r.signingProfileArn))];
    return {
      registryId: caller.accountId,
      repositoryName,
      imageId: { imageDigest: digest, ...(imageId.imageTag !== undefined ? { imageTag: imageId.imageTag } : {}) },
      signingStatuses: profiles.map((arn) =>
        byProfile.has(arn)
          ? { signingProfileArn: arn, status: 'COMPLETE' }
          : { signingProfileArn: arn, status: 'FAILED', failureCode: 'SignatureNotFound', failureReason: 'No Notary Project signature by this signing profile is attached to the image' },
      ),
    };
  }

  private async resolve(repositoryId: number, name: string, caller: EcrCaller, id: { imageDigest?: string; imageTag?: string }): Promise<string> {
    const missing = () => new DomainError('ImageNotFound', `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${name}' in the registry with id '${caller.accountId}'`);
    if (id.imageDigest === undefined && id.imageTag === undefined) throw new DomainError('InvalidParameter', "Invalid parameter at 'imageId' failed to satisfy constraint: 'Invalid request parameters: both tag and digest cannot be null'");
    if (id.imageTag !== undefined) {
      if (!isValidTag(id.imageTag)) throw missing();
      const digest = await this.meta.resolveTag(repositoryId, id.imageTag);
      if (!digest || (id.imageDigest !== undefined && digest !== id.imageDigest)) throw missing();
      return digest;
    }
    const found = await this.meta.statManifest(repositoryId, id.imageDigest!).catch(() => null);
    if (!found) throw missing();
    return found.digest;
  }
}

function notFound(caller: EcrCaller): DomainError {
  return new DomainError('SigningConfigurationNotFound', `The registry with id '${caller.accountId}' does not have a signing configuration`);
}
