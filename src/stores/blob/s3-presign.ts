import type { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

// Presigned GetObject URLs without @aws-sdk/s3-request-presigner (not installed): the
// command runs through the client's own middleware up to signing, so the URL has the
// client's endpoint, path style and key encoding; a SigV4 query signature with
// UNSIGNED-PAYLOAD replaces the Authorization header, as the presigner package does.

export async function presignGetObject(client: S3Client, command: GetObjectCommand, expiresIn: number): Promise<string> {
  const signer = new SignatureV4({
    service: 's3',
    region: client.config.region,
    credentials: client.config.credentials,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
    applyChecksum: false,
  });
  const intercept = () => async (args: { request: unknown }) => {
    if (!HttpRequest.isInstance(args.request)) throw new Error('cannot presign: the S3 request was not built');
    const request = args.request;
    // Per-attempt and checksum headers would have to be sent by the client: leave them out.
    for (const name of Object.keys(request.headers)) {
      if (/^(amz-sdk-|x-amz-user-agent$|x-amz-checksum-mode$)/i.test(name)) delete request.headers[name];
    }
    request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    request.headers.host = `${request.hostname}${request.port ? `:${request.port}` : ''}`;
    const presigned = await signer.presign(request, { expiresIn });
    return { response: {}, output: { $metadata: { httpStatusCode: 200 }, presigned } };
  };
  const stack = client.middlewareStack.clone();
  stack.addRelativeTo(intercept as never, { name: 'berthPresignIntercept', relation: 'before', toMiddleware: 'httpSigningMiddleware', override: true });
  const handler = command.resolveMiddleware(stack as never, client.config, {});
  const { output } = (await handler({ input: command.input })) as unknown as { output: { presigned: HttpRequest } };
  return formatUrl(output.presigned);
}

function formatUrl(request: HttpRequest): string {
  const query = Object.entries(request.query ?? {})
    .flatMap(([key, value]) => (Array.isArray(value) ? value.map((v) => [key, v]) : [[key, value]]))
    .map(([key, value]) => (value === null || value === undefined ? escape(key!) : `${escape(key!)}=${escape(value)}`))
    .join('&');
  const port = request.port ? `:${request.port}` : '';
  return `${request.protocol}//${request.hostname}${port}${request.path}${query ? `?${query}` : ''}`;
}

function escape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
