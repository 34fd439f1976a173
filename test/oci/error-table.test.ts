import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as ecr from '@aws-sdk/client-ecr';
import { errorTable } from '../../src/domain/errors.js';

// Keeps src/domain/errors.ts, docs/errors.md and the protocols' own names in step.
// (Run from the project root, as scripts/run-tests.mjs does.)

interface DocRow {
  name: string;
  oci: string;
  status: number;
  ecr: string;
}

function documentedRows(): DocRow[] {
  const lines = readFileSync('docs/errors.md', 'utf8').split('\n');
  const header = lines.findIndex((l) => /^\|\s*Name\s*\|\s*OCI code\s*\|\s*HTTP status\s*\|\s*ECR exception\s*\|/.test(l));
  assert.ok(header >= 0, 'docs/errors.md has the error table');
  const rows: DocRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [name, oci, status, ecrName] = line.split('|').slice(1).map((c) => c.trim());
    rows.push({ name: name!, oci: oci!, status: Number(status), ecr: ecrName! });
  }
  return rows;
}

test('docs/errors.md lists every entry of the error table, in order, with the same codes', () => {
  const fromCode = Object.entries(errorTable).map(([name, spec]) => ({ name, oci: spec.oci, status: spec.status, ecr: spec.ecr }));
  assert.deepEqual(documentedRows(), fromCode);
});

// distribution-spec v1.1's error codes, plus the ones CNCF distribution adds and clients know.
const ociCodes = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  // distribution/registry/api/errcode and api/v2/errors.go
  'TAG_INVALID',
  'PAGINATION_NUMBER_INVALID',
  'RANGE_INVALID',
  'UNKNOWN',
]);

// Errors every AWS JSON service may answer with, and ECR Public's UnsupportedCommandException:
// not modelled in @aws-sdk/client-ecr, so not exported by it.
const awsCommonExceptions = new Set(['AccessDeniedException', 'ThrottlingException', 'UnrecognizedClientException', 'UnsupportedCommandException', 'UnknownOperationException', 'SerializationException']);

test('every entry uses a real OCI code, an error status, and an exception the ECR SDK knows', () => {
  for (const [name, spec] of Object.entries(errorTable)) {
    assert.ok(ociCodes.has(spec.oci), `${name}: ${spec.oci} is not a distribution error code`);
    assert.ok(spec.status >= 400 && spec.status <= 599, `${name}: status ${spec.status}`);
    assert.match(spec.ecr, /^[A-Z][A-Za-z]+Exception$/, `${name}: ${spec.ecr}`);
    const known = typeof (ecr as Record<string, unknown>)[spec.ecr] === 'function' || awsCommonExceptions.has(spec.ecr);
    assert.ok(known, `${name}: ${spec.ecr} is neither an ECR SDK exception nor a common AWS one`);
    assert.ok(spec.message.length > 0, `${name} has a message`);
  }
});
