import { CreateBucketCommand, HeadBucketCommand, ListObjectsV2Command, S3Client, S3ServiceException, type BucketLocationConstraint } from '@aws-sdk/client-s3';

// Building the S3 client from settings plus the usual AWS sources, and turning the
// engine's terse answers at start-up (a bare 403 to HEAD, a refused connection) into
// errors an operator can act on.

export interface S3Settings {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending in '/'). */
  prefix?: string;
  /** Else AWS_REGION / the shared config file / AWS_DEFAULT_REGION; else us-east-1. */
  region?: string;
  /** Else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / the shared config file; else AWS. */
  endpoint?: string;
  /** Default: true when an endpoint is configured (self-hosted engines), else false. */
  forcePathStyle?: boolean;
  /** Create the bucket when it does not exist. */
  createBucket?: boolean;
  /**
   * 'when_required' for engines that refuse the SDK's default streaming checksums
   * (Ceph 16: 411 MissingContentLength); else the SDK's own setting applies.
   */
  checksums?: 'when_required' | 'when_supported';
  /** Explicit keys (tests); otherwise the SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export class S3StorageError extends Error {
  override readonly name = 'S3StorageError';
}

export function configuredEndpoint(settings: S3Settings, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return settings.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
}

export async function createS3Client(settings: S3Settings): Promise<S3Client> {
  const endpoint = configuredEndpoint(settings);
  const checksum = settings.checksums === 'when_required' ? 'WHEN_REQUIRED' : settings.checksums === 'when_supported' ? 'WHEN_SUPPORTED' : undefined;
  return new S3Client({
    region: settings.region ?? (await defaultRegion()),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? endpoint !== undefined,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    ...(checksum ? { requestChecksumCalculation: checksum, responseChecksumValidation: checksum } : {}),
    requestHandler: {
      connectionTimeout: 5_000,
      // Every streaming pull holds a socket until its client has read the blob.
      httpAgent: { keepAlive: true, maxSockets: 256 },
      httpsAgent: { keepAlive: true, maxSockets: 256 },
    },
  });
}

/**
 * Counts the requests the client sends, by operation ('ListObjectsV2', 'PutObject' ...):
 * one map update per request, cheap enough to stay on (it feeds a metric).
 */
export function countRequests(client: S3Client, counts: Map<string, number>): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const operation = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      counts.set(operation, (counts.get(operation) ?? 0) + 1);
      return next(args);
    },
    // Innermost step: once per HTTP attempt (retries count), never for a presigned URL.
    { step: 'deserialize', name: 'berthCountRequests', override: true },
  );
}

/** The region from the SDK's own sources (AWS_REGION, the shared config file), else AWS_DEFAULT_REGION, else us-east-1 (what S3-compatible engines expect). */
async function defaultRegion(): Promise<string> {
  const probe = new S3Client({});
  try {
    return await probe.config.region();
  } catch {
    return process.env.AWS_DEFAULT_REGION || 'us-east-1';
  } finally {
    probe.destroy();
  }
}

/** Checks that the bucket is reachable with these credentials; creates it when missing and allowed. */
export async function ensureBucket(client: S3Client, settings: S3Settings): Promise<void> {
  const where = `S3 bucket "${settings.bucket}" at ${configuredEndpoint(settings) ?? 'AWS'}`;
  try {
    await client.send(new HeadBucketCommand({ Bucket: settings.bucket }));
    return;
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404) {
      if (!settings.createBucket) throw new S3StorageError(`${where} does not exist; create it, or allow Berth to (storage.createBucket: true)`);
    } else if (status === 403 || status === 400 || status === 301) {
      // HEAD answers carry no error code: ask again with a request whose answer does.
      throw await explainRefusal(client, settings, where, err);
    } else {
      throw describe(where, err);
    }
  }
  try {
    const region = await client.config.region();
    await client.send(
      new CreateBucketCommand({
        Bucket: settings.bucket,
        ...(region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } } : {}),
      }),
    );
  } catch (err) {
    // Another node may have created it a moment ago.
    const code = errorCode(err);
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw describe(`creating ${where}`, err);
  }
}

async function explainRefusal(client: S3Client, settings: S3Settings, where: string, headError: unknown): Promise<S3StorageError> {
  try {
    await client.send(new ListObjectsV2Command({ Bucket: settings.bucket, MaxKeys: 1 }));
    return describe(where, headError);
  } catch (err) {
    return describe(where, err);
  }
}

function describe(where: string, err: unknown): S3StorageError {
  const code = errorCode(err);
  const raw = (err as Error)?.message ?? String(err);
  // Engines often send no message with a HEAD or a refusal: the SDK then says 'UnknownError'.
  const message = raw && raw !== code && raw !== 'UnknownError' ? ` ${raw}` : '';
  const hint =
    code === 'SignatureDoesNotMatch'
      ? ': the secret key is wrong (check AWS_SECRET_ACCESS_KEY or the credentials in use)'
      : code === 'InvalidAccessKeyId'
        ? ': the access key is unknown to the engine (check AWS_ACCESS_KEY_ID)'
        : code === 'AccessDenied'
          ? ': the credentials are not allowed to use this bucket'
          : code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'TimeoutError'
            ? ': the endpoint cannot be reached (check the endpoint setting or AWS_ENDPOINT_URL_S3)'
            : '';
  return new S3StorageError(`${where}: ${code ?? 'error'}${message}${hint}`, { cause: err });
}

export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

export function errorCode(err: unknown): string | undefined {
  if (err instanceof S3ServiceException) return err.name;
  const e = err as { code?: string; name?: string } | undefined;
  return e?.code ?? e?.name;
}
