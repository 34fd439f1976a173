import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as Ecr from '@aws-sdk/client-ecr';
import { errorTable } from '../../src/domain/errors.js';
import { operations } from '../../src/edges/ecr/operations.js';

// The ECR edge's tables kept in step with the AWS SDK's model: every operation we answer
// is one the SDK can send, and every exception we name is one it knows (or a generic AWS one).

const genericAwsExceptions = ['UnknownOperationException', 'SerializationException', 'UnrecognizedClientException', 'AccessDeniedException', 'ThrottlingException', 'UnsupportedCommandException'];

test('every operation in the table is an ECR operation of the SDK', () => {
  const sdk = Ecr as unknown as Record<string, unknown>;
  for (const name of Object.keys(operations)) assert.equal(typeof sdk[`${name}Command`], 'function', `${name} is not an ECR operation`);
  assert.equal(Object.keys(operations).length, 38);
});

test('every ECR exception name in the error table is one the SDK models', () => {
  const sdk = Ecr as unknown as Record<string, unknown>;
  for (const [name, spec] of Object.entries(errorTable)) {
    assert.match(spec.ecr, /Exception$/, name);
    if (genericAwsExceptions.includes(spec.ecr)) continue;
    assert.equal(typeof sdk[spec.ecr], 'function', `${name}: ${spec.ecr} is not an ECR exception`);
  }
});
