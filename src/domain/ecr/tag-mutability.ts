import type { RepositorySettings } from '../../stores/ecr-store.js';

// Whether a tag may be moved once it exists, under a repository's mutability settings.
// Used inside the metadata transaction that moves tags, so every push path obeys it.

function wildcard(filter: string): RegExp {
  const escaped = filter.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

export function tagIsImmutable(settings: Pick<RepositorySettings, 'imageTagMutability' | 'imageTagMutabilityExclusionFilters'>, tag: string): boolean {
  const excluded = () => settings.imageTagMutabilityExclusionFilters.some((f) => wildcard(f.filter).test(tag));
  switch (settings.imageTagMutability) {
    case 'MUTABLE':
      return false;
    case 'IMMUTABLE':
      return true;
    case 'IMMUTABLE_WITH_EXCLUSION':
      return !excluded();
    case 'MUTABLE_WITH_EXCLUSION':
      return excluded();
  }
}
