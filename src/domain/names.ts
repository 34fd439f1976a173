import { DomainError } from './errors.js';

// distribution-spec name grammar; ECR additionally limits names to 2-256 characters.
const repositoryNameGrammar = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
// distribution-spec tag grammar, with ECR's 300-character limit instead of 128.
const tagGrammar = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}$/;

export const repositoryNameLimits = { min: 2, max: 256 } as const;

export function validateRepositoryName(name: string): string {
  if (name.length < repositoryNameLimits.min || name.length > repositoryNameLimits.max || !repositoryNameGrammar.test(name)) {
    throw new DomainError('NameInvalid', `invalid repository name: ${name.slice(0, 300)}`);
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return tagGrammar.test(tag);
}

export function validateTag(tag: string): string {
  if (!isValidTag(tag)) throw new DomainError('TagInvalid', `invalid tag: ${tag.slice(0, 300)}`);
  return tag;
}
