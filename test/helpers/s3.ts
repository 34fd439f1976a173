import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3BlobStore } from '../../src/stores/blob/s3-blob-store.js';
import type { S3Settings } from '../../src/stores/blob/s3-client.js';
import { inCI } from './tools.js';

// Tests use the S3 engine named by S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY and S3_REGION
// (what ../shared/services/ceph-rgw/start.sh prints). Without them S3 tests are skipped,
// except under CI=true, where that is a failure. S3_CHECKSUMS defaults to when_required,
// which Ceph 16 needs. Every fixture works under a fresh key prefix and removes it.

export interface S3TestEnv {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  checksums: 'when_required' | 'when_supported';
}

export const testBucket = process.env.S3_TEST_BUCKET ?? 'berth-test';

export function s3TestEnv(): S3TestEnv | null {
  const { S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_CHECKSUMS } = process.env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY || !S3_SECRET_KEY) return null;
  return {
    endpoint: S3_ENDPOINT,
    accessKeyId: S3_ACCESS_KEY,
    secretAccessKey: S3_SECRET_KEY,
    region: S3_REGION || 'us-east-1',
    checksums: S3_CHECKSUMS === 'when_supported' ? 'when_supported' : 'when_required',
  };
}

const missing = 'S3 is not configured: set S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION (eval "$(bash ../shared/services/ceph-rgw/start.sh)")';

/** True when an S3 engine is configured; otherwise skips the test (fails it under CI=true). */
export function requireS3(t: TestContext): boolean {
  if (s3TestEnv()) return true;
  if (inCI) throw new Error(missing);
  t.skip(missing);
  return false;
}

/** Settings for the test bucket under a fresh prefix. */
export function s3TestSettings(overrides: Partial<S3Settings> = {}): S3Settings {
  const env = s3TestEnv();
  if (!env) throw new Error(missing);
  return {
    bucket: testBucket,
    prefix: `test-${randomBytes(6).toString('hex')}/`,
    endpoint: env.endpoint,
    region: env.region,
    createBucket: true,
    checksums: env.checksums,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    ...overrides,
  };
}

/** A plain SDK client on the test engine, for looking behind the store's back. */
export function rawS3Client(): S3Client {
  const env = s3TestEnv();
  if (!env) throw new Error(missing);
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
    requestChecksumCalculation: env.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: env.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  });
}

/** Every key under a prefix and every multipart upload still open there. */
export async function leftovers(client: S3Client, bucket: string, prefix: string): Promise<{ keys: string[]; multipart: { key: string; uploadId: string }[] }> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const multipart: { key: string; uploadId: string }[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
    for (const u of page.Uploads ?? []) multipart.push({ key: u.Key!, uploadId: u.UploadId! });
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (KeyMarker);
  return { keys, multipart };
}

/** Removes everything under a prefix (objects and open multipart uploads); with dropBucket, the bucket too. */
export async function removePrefix(bucket: string, prefix: string, dropBucket = false): Promise<void> {
  const client = rawS3Client();
  try {
    const { keys, multipart } = await leftovers(client, bucket, prefix);
    for (const u of multipart) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }));
    for (let i = 0; i < keys.length; i += 1000) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
    if (dropBucket) await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

export interface S3StoreFixture {
  store: S3BlobStore;
  settings: S3Settings;
  cleanup(): Promise<void>;
}

/** An S3BlobStore on the test bucket under a fresh prefix; cleanup closes it and removes the prefix. */
export async function openTestS3Store(overrides: Partial<S3Settings> = {}, options: Parameters<typeof S3BlobStore.open>[1] = {}): Promise<S3StoreFixture> {
  const settings = s3TestSettings(overrides);
  const store = await S3BlobStore.open(settings, options);
  return {
    store,
    settings,
    async cleanup() {
      await store.close();
      await removePrefix(settings.bucket, store.prefix);
    },
  };
}
