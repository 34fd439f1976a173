import { DomainError } from '../../domain/errors.js';

// Request shapes of the ECR operations as data, with ECR's limits, and one validator that
// checks a parsed AWS JSON 1.1 body against them. Missing members, wrong types, lengths
// and ranges fail with ValidationException (AWS's "1 validation error detected" wording);
// pattern and enum violations with InvalidParameterException, as ECR answers them.

export type Shape =
  | { kind: 'string'; min?: number; max?: number; pattern?: RegExp; enum?: readonly string[] }
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'boolean' }
  | { kind: 'blob' }
  | { kind: 'list'; member: Shape; min?: number; max?: number }
  | { kind: 'structure'; members: Record<string, Shape>; required?: readonly string[] };

export const str = (o: { min?: number; max?: number; pattern?: RegExp } = {}): Shape => ({ kind: 'string', ...o });
export const enm = (values: readonly string[]): Shape => ({ kind: 'string', enum: values });
export const int = (min?: number, max?: number): Shape => ({ kind: 'integer', min, max });
export const bool: Shape = { kind: 'boolean' };
export const blob: Shape = { kind: 'blob' };
export const list = (member: Shape, min?: number, max?: number): Shape => ({ kind: 'list', member, min, max });
export const struct = (members: Record<string, Shape>, required: readonly string[] = []): Shape => ({ kind: 'structure', members, required });

function validationError(value: unknown, path: string, constraint: string): DomainError {
  const shown = value === null || value === undefined ? 'null' : `'${String(typeof value === 'object' ? JSON.stringify(value) : value).slice(0, 100)}'`;
  return new DomainError('Validation', `1 validation error detected: Value ${shown} at '${path}' failed to satisfy constraint: ${constraint}`);
}

/** Checks `value` against `shape`; returns it with blobs decoded to Buffers. */
export function validate(value: unknown, shape: Shape, path: string): unknown {
  switch (shape.kind) {
    case 'string': {
      if (typeof value !== 'string') throw validationError(value, path, 'Member must be a string');
      // ECR checks enums itself and answers InvalidParameterException, as it does patterns.
      if (shape.enum && !shape.enum.includes(value)) {
        throw new DomainError('InvalidParameter', `Invalid parameter at '${path}' failed to satisfy constraint: 'Member must satisfy enum value set: [${shape.enum.join(', ')}]'`);
      }
      if (shape.min !== undefined && value.length < shape.min) throw validationError(value, path, `Member must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value.length > shape.max) throw validationError(value, path, `Member must have length less than or equal to ${shape.max}`);
      if (shape.pattern && !shape.pattern.test(value)) {
        throw new DomainError('InvalidParameter', `Invalid parameter at '${path}' failed to satisfy constraint: 'must satisfy regular expression '${shape.pattern.source}''`);
      }
      return value;
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw validationError(value, path, 'Member must be an integer');
      if (shape.min !== undefined && value < shape.min) throw validationError(value, path, `Member must have value greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) throw validationError(value, path, `Member must have value less than or equal to ${shape.max}`);
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw validationError(value, path, 'Member must be a boolean');
      return value;
    case 'blob': {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw validationError('(blob)', path, 'Member must be base64-encoded bytes');
      return Buffer.from(value, 'base64');
    }
    case 'list': {
      if (!Array.isArray(value)) throw validationError(value, path, 'Member must be a list');
      if (shape.min !== undefined && value.length < shape.min) throw validationError(`${value.length} items`, path, `Member must have length greater than or equal to ${shape.min}`);
      if (shape.max !== undefined && value.length > shape.max) throw validationError(`${value.length} items`, path, `Member must have length less than or equal to ${shape.max}`);
      return value.map((v, i) => validate(v, shape.member, `${path}.${i + 1}.member`));
    }
    case 'structure': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw validationError(value, path || '(body)', 'Member must be a structure');
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const name of shape.required ?? []) {
        if (input[name] === undefined || input[name] === null) throw validationError(null, join(path, name), 'Member must not be null');
      }
      for (const [name, member] of Object.entries(shape.members)) {
        const v = input[name];
        if (v === undefined || v === null) continue;
        out[name] = validate(v, member, join(path, name));
      }
      return out; // members the model does not know are dropped, as AWS services ignore them
    }
  }
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

// ---- ECR's common members ----

export const registryId = str({ pattern: /^[0-9]{12}$/ });
export const repositoryName = str({ min: 2, max: 256, pattern: /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/ });
export const imageTag = str({ min: 1, max: 300 });
export const imageDigest = str();
export const imageId = struct({ imageDigest, imageTag });
export const imageIds = list(imageId, 1, 100);
export const maxResults = int(1, 1000);
export const nextToken = str();
export const tagStatus = enm(['TAGGED', 'UNTAGGED', 'ANY']);
export const imageStatusFilter = enm(['ACTIVE', 'ARCHIVED', 'ACTIVATING', 'ANY']);
export const resourceTag = struct({ Key: str(), Value: str() }, ['Key', 'Value']);
export const resourceTags = list(resourceTag);
export const mutability = enm(['MUTABLE', 'IMMUTABLE', 'IMMUTABLE_WITH_EXCLUSION', 'MUTABLE_WITH_EXCLUSION']);
export const exclusionFilters = list(struct({ filterType: enm(['WILDCARD']), filter: str({ min: 1, max: 128, pattern: /^[0-9a-zA-Z._*-]{1,128}$/ }) }, ['filterType', 'filter']), 1, 5);
export const encryption = struct({ encryptionType: enm(['AES256', 'KMS', 'KMS_DSSE']), kmsKey: str({ min: 1, max: 2048 }) }, ['encryptionType']);
export const layerDigest = str({ pattern: /^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$/ });
export const uploadId = str({ pattern: /^[a-fA-F0-9-]+$/ });
export const policyText = str({ min: 0, max: 10240 });
export const templatePrefix = str({ min: 1, max: 256 });
export const appliedFor = list(enm(['REPLICATION', 'PULL_THROUGH_CACHE', 'CREATE_ON_PUSH']), 1, 3);
