import type { JsonOperation, JsonService } from '../../edges/aws/query-edge.js';
import { KmsError } from './errors.js';
import { aliasArn, keyArn, type KeyService, type KmsCaller } from './key-service.js';
import type { KeyRow } from './store.js';

// The KMS API subset on Berth's AWS endpoint: AWS JSON 1.1, X-Amz-Target TrentService.*,
// signing name kms (botocore's kms/2014-11-01 model). Blobs travel base64, dates as epoch
// seconds, as on AWS.

const seconds = (ms: number) => ms / 1000;

function keyMetadata(k: KeyRow) {
  return {
    AWSAccountId: k.accountId,
    KeyId: k.id,
    Arn: keyArn(k),
    CreationDate: seconds(k.createdAt),
    Enabled: k.state === 'Enabled',
    Description: k.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: k.state,
    ...(k.deletionAt !== null ? { DeletionDate: seconds(k.deletionAt) } : {}),
    Origin: 'AWS_KMS',
    KeyManager: k.keyManager,
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
    ...(k.pendingWindowDays !== null ? { PendingDeletionWindowInDays: k.pendingWindowDays } : {}),
    CurrentKeyMaterialId: k.currentMaterial,
  };
}

function str(input: Record<string, unknown>, name: string, required: true): string;
function str(input: Record<string, unknown>, name: string, required?: false): string | undefined;
function str(input: Record<string, unknown>, name: string, required = false): string | undefined {
  const v = input[name];
  if (v === undefined || v === null) {
    if (required) throw new KmsError('ValidationException', `1 validation error detected: Value null at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof v !== 'string') throw new KmsError('ValidationException', `${name} must be a string`);
  return v;
}

function int(input: Record<string, unknown>, name: string): number | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new KmsError('ValidationException', `${name} must be an integer`);
  return v;
}

function blob(input: Record<string, unknown>, name: string, max: number): Buffer {
  const v = str(input, name, true);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new KmsError('ValidationException', `${name} is not base64`);
  const bytes = Buffer.from(v, 'base64');
  if (bytes.length < 1 || bytes.length > max) throw new KmsError('ValidationException', `1 validation error detected: Value at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must have length between 1 and ${max}`);
  return bytes;
}

function context(input: Record<string, unknown>, name: string): Record<string, string> | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new KmsError('ValidationException', `${name} must map strings to strings`);
  return v as Record<string, string>;
}

function algorithm(input: Record<string, unknown>, name: string): void {
  const v = str(input, name);
  if (v !== undefined && v !== 'SYMMETRIC_DEFAULT') throw new KmsError('InvalidKeyUsageException', `${name} ${v} is not valid for a SYMMETRIC_DEFAULT key`);
}

function tags(input: Record<string, unknown>, name: string, required = false): { key: string; value: string }[] {
  const v = input[name];
  if (v === undefined || v === null) {
    if (required) throw new KmsError('ValidationException', `${name} must not be null`);
    return [];
  }
  if (!Array.isArray(v)) throw new KmsError('ValidationException', `${name} must be a list`);
  return v.map((t: { TagKey?: unknown; TagValue?: unknown }) => {
    if (typeof t?.TagKey !== 'string' || typeof t?.TagValue !== 'string') throw new KmsError('ValidationException', 'each tag needs TagKey and TagValue strings');
    return { key: t.TagKey, value: t.TagValue };
  });
}

function limit(input: Record<string, unknown>, max = 1000): number {
  const v = int(input, 'Limit') ?? 100;
  if (v < 1 || v > max) throw new KmsError('ValidationException', `Limit must be between 1 and ${max}`);
  return v;
}

function marker(input: Record<string, unknown>): string | null {
  const v = str(input, 'Marker');
  if (v === undefined) return null;
  const decoded = Buffer.from(v, 'base64url').toString('utf8');
  if (!/^[0-9a-f-]{36}$/.test(decoded)) throw new KmsError('InvalidMarkerException', 'The request was rejected because the marker that specifies where pagination should next begin is not valid.');
  return decoded;
}

/** Pages an in-memory list (aliases, tags, rotations: short) by position. */
function pageList<T>(items: T[], input: Record<string, unknown>): { page: T[]; next: Record<string, unknown> } {
  const size = limit(input);
  let start = 0;
  const m = str(input, 'Marker');
  if (m !== undefined) {
    start = Number(Buffer.from(m, 'base64url').toString('utf8').replace(/^p/, ''));
    if (!Number.isInteger(start) || start < 0) throw new KmsError('InvalidMarkerException', 'The request was rejected because the marker that specifies where pagination should next begin is not valid.');
  }
  const page = items.slice(start, start + size);
  const more = start + size < items.length;
  return { page, next: more ? { NextMarker: Buffer.from(`p${start + size}`).toString('base64url'), Truncated: true } : { Truncated: false } };
}

export function kmsService(keys: KeyService, region: string): JsonService {
  const op = (fn: (c: KmsCaller, input: Record<string, unknown>) => Promise<unknown>): JsonOperation => async ({ caller, input, facts }) => fn({ caller, facts, region }, input);
  return {
    targetPrefix: 'TrentService',
    signingName: 'kms',
    regional: true,
    operations: {
      CreateKey: op(async (c, input) => {
        const key = await keys.createKey(c, {
          ...(str(input, 'Description') !== undefined ? { description: str(input, 'Description')! } : {}),
          ...(str(input, 'Policy') !== undefined ? { policy: str(input, 'Policy')! } : {}),
          ...(str(input, 'KeyUsage') !== undefined ? { keyUsage: str(input, 'KeyUsage')! } : {}),
          ...((str(input, 'KeySpec') ?? str(input, 'CustomerMasterKeySpec')) !== undefined ? { keySpec: (str(input, 'KeySpec') ?? str(input, 'CustomerMasterKeySpec'))! } : {}),
          tags: tags(input, 'Tags'),
        });
        if (str(input, 'Origin') !== undefined && input.Origin !== 'AWS_KMS') throw new KmsError('UnsupportedOperationException', `Origin ${String(input.Origin)} is not supported here`);
        return { KeyMetadata: keyMetadata(key) };
      }),
      DescribeKey: op(async (c, input) => ({ KeyMetadata: keyMetadata(await keys.describeKey(c, str(input, 'KeyId', true))) })),
      ListKeys: op(async (c, input) => {
        const { keys: rows, next } = await keys.listKeys(c, limit(input), marker(input));
        return { Keys: rows.map((k) => ({ KeyId: k.id, KeyArn: keyArn(k) })), Truncated: next !== null, ...(next ? { NextMarker: Buffer.from(next).toString('base64url') } : {}) };
      }),
      EnableKey: op(async (c, input) => {
        await keys.enableKey(c, str(input, 'KeyId', true));
        return {};
      }),
      DisableKey: op(async (c, input) => {
        await keys.disableKey(c, str(input, 'KeyId', true));
        return {};
      }),
      ScheduleKeyDeletion: op(async (c, input) => {
        const key = await keys.scheduleKeyDeletion(c, str(input, 'KeyId', true), int(input, 'PendingWindowInDays'));
        return { KeyId: keyArn(key), DeletionDate: seconds(key.deletionAt!), KeyState: key.state, PendingWindowInDays: key.pendingWindowDays };
      }),
      CancelKeyDeletion: op(async (c, input) => ({ KeyId: keyArn(await keys.cancelKeyDeletion(c, str(input, 'KeyId', true))) })),
      EnableKeyRotation: op(async (c, input) => {
        await keys.enableKeyRotation(c, str(input, 'KeyId', true), int(input, 'RotationPeriodInDays'));
        return {};
      }),
      DisableKeyRotation: op(async (c, input) => {
        await keys.disableKeyRotation(c, str(input, 'KeyId', true));
        return {};
      }),
      GetKeyRotationStatus: op(async (c, input) => {
        const key = await keys.getKeyRotationStatus(c, str(input, 'KeyId', true));
        return {
          KeyRotationEnabled: key.rotationEnabled,
          KeyId: keyArn(key),
          ...(key.rotationPeriodDays !== null ? { RotationPeriodInDays: key.rotationPeriodDays } : {}),
          ...(key.nextRotationAt !== null ? { NextRotationDate: seconds(key.nextRotationAt) } : {}),
        };
      }),
      RotateKeyOnDemand: op(async (c, input) => ({ KeyId: keyArn(await keys.rotateKeyOnDemand(c, str(input, 'KeyId', true))) })),
      ListKeyRotations: op(async (c, input) => {
        const { key, rotations } = await keys.listKeyRotations(c, str(input, 'KeyId', true));
        const { page, next } = pageList(rotations, input);
        return { Rotations: page.map((m) => ({ KeyId: keyArn(key), KeyMaterialId: m.materialId, RotationDate: seconds(m.createdAt), RotationType: m.rotationType, KeyMaterialState: m.materialId === key.currentMaterial ? 'CURRENT' : 'NON_CURRENT' })), ...next };
      }),
      Encrypt: op(async (c, input) => {
        algorithm(input, 'EncryptionAlgorithm');
        const { key, ciphertext } = await keys.encrypt(c, str(input, 'KeyId', true), blob(input, 'Plaintext', 4096), context(input, 'EncryptionContext'));
        return { CiphertextBlob: ciphertext.toString('base64'), KeyId: keyArn(key), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }),
      Decrypt: op(async (c, input) => {
        algorithm(input, 'EncryptionAlgorithm');
        const { key, plaintext, materialId } = await keys.decrypt(c, blob(input, 'CiphertextBlob', 6144), context(input, 'EncryptionContext'), str(input, 'KeyId'));
        return { KeyId: keyArn(key), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', KeyMaterialId: materialId };
      }),
      ReEncrypt: op(async (c, input) => {
        algorithm(input, 'SourceEncryptionAlgorithm');
        algorithm(input, 'DestinationEncryptionAlgorithm');
        const r = await keys.reEncrypt(c, blob(input, 'CiphertextBlob', 6144), context(input, 'SourceEncryptionContext'), str(input, 'SourceKeyId'), str(input, 'DestinationKeyId', true), context(input, 'DestinationEncryptionContext'));
        return {
          CiphertextBlob: r.ciphertext.toString('base64'),
          SourceKeyId: keyArn(r.source),
          KeyId: keyArn(r.destination),
          SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          SourceKeyMaterialId: r.sourceMaterialId,
          DestinationKeyMaterialId: r.destination.currentMaterial,
        };
      }),
      GenerateDataKey: op(async (c, input) => dataKey(keys, c, input, true)),
      GenerateDataKeyWithoutPlaintext: op(async (c, input) => dataKey(keys, c, input, false)),
      GetKeyPolicy: op(async (c, input) => {
        policyName(input);
        return { Policy: await keys.getKeyPolicy(c, str(input, 'KeyId', true)), PolicyName: 'default' };
      }),
      PutKeyPolicy: op(async (c, input) => {
        policyName(input);
        await keys.putKeyPolicy(c, str(input, 'KeyId', true), str(input, 'Policy', true));
        return {};
      }),
      TagResource: op(async (c, input) => {
        await keys.tagResource(c, str(input, 'KeyId', true), tags(input, 'Tags', true));
        return {};
      }),
      UntagResource: op(async (c, input) => {
        const keysToRemove = input.TagKeys;
        if (!Array.isArray(keysToRemove) || keysToRemove.some((k) => typeof k !== 'string')) throw new KmsError('ValidationException', 'TagKeys must be a list of strings');
        await keys.untagResource(c, str(input, 'KeyId', true), keysToRemove as string[]);
        return {};
      }),
      ListResourceTags: op(async (c, input) => {
        const { page, next } = pageList(await keys.listResourceTags(c, str(input, 'KeyId', true)), input);
        return { Tags: page.map((t) => ({ TagKey: t.key, TagValue: t.value })), ...next };
      }),
      CreateAlias: op(async (c, input) => {
        await keys.createAlias(c, str(input, 'AliasName', true), str(input, 'TargetKeyId', true));
        return {};
      }),
      UpdateAlias: op(async (c, input) => {
        await keys.updateAlias(c, str(input, 'AliasName', true), str(input, 'TargetKeyId', true));
        return {};
      }),
      DeleteAlias: op(async (c, input) => {
        await keys.deleteAlias(c, str(input, 'AliasName', true));
        return {};
      }),
      ListAliases: op(async (c, input) => {
        const rows = await keys.listAliases(c, str(input, 'KeyId'));
        const { page, next } = pageList(rows, input);
        return {
          Aliases: page.map((a) => ({ AliasName: a.name, AliasArn: aliasArn(a.region, a.accountId, a.name), TargetKeyId: a.keyId, CreationDate: seconds(a.createdAt), LastUpdatedDate: seconds(a.updatedAt) })),
          ...next,
        };
      }),
    },
  };
}

function policyName(input: Record<string, unknown>): void {
  const name = str(input, 'PolicyName');
  if (name !== undefined && name !== 'default') throw new KmsError('NotFoundException', `No such policy ${name}: a key has one policy, named default`);
}

async function dataKey(keys: KeyService, c: KmsCaller, input: Record<string, unknown>, withPlaintext: boolean) {
  const spec = str(input, 'KeySpec');
  const count = int(input, 'NumberOfBytes');
  if (spec !== undefined && count !== undefined) throw new KmsError('ValidationException', 'Give KeySpec or NumberOfBytes, not both');
  if (spec !== undefined && spec !== 'AES_256' && spec !== 'AES_128') throw new KmsError('ValidationException', `KeySpec must be AES_256 or AES_128`);
  if (count !== undefined && (count < 1 || count > 1024)) throw new KmsError('ValidationException', 'NumberOfBytes must be between 1 and 1024');
  if (spec === undefined && count === undefined) throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
  const bytes = count ?? (spec === 'AES_128' ? 16 : 32);
  const r = await keys.generateDataKey(c, str(input, 'KeyId', true), bytes, context(input, 'EncryptionContext'), withPlaintext);
  return { CiphertextBlob: r.ciphertext.toString('base64'), ...(withPlaintext ? { Plaintext: r.plaintext.toString('base64') } : {}), KeyId: keyArn(r.key), KeyMaterialId: r.key.currentMaterial };
}
