import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

// Client side of the operator endpoints (src/edges/operator/routes.ts): POSTs to the
// running server, signed with SigV4 by the operator's AWS credentials, shows progress
// lines as they stream in, returns the final result.

export interface OperatorCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface OperatorCallOptions {
  url: string;
  path: string;
  query?: Record<string, string | undefined>;
  credentials: OperatorCredentials;
  onProgress?: (line: Record<string, unknown>) => void;
}

export class OperatorError extends Error {}

/**
 * The standard AWS credential sources, as the AWS SDKs and CLI read them: with a profile
 * (--profile or AWS_PROFILE) that profile of the shared credentials and config files
 * (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE); otherwise AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else the default profile. Instance and
 * container roles are left out: they hold AWS's credentials, never Berth's.
 */
export async function operatorCredentials(profile?: string): Promise<OperatorCredentials> {
  const { fromEnv } = await import('@aws-sdk/credential-provider-env');
  const { fromIni } = await import('@aws-sdk/credential-provider-ini');
  const chosen = profile ?? process.env.AWS_PROFILE;
  const sources = chosen ? [fromIni({ profile: chosen })] : [fromEnv(), fromIni()];
  const problems: string[] = [];
  for (const source of sources) {
    try {
      const c = await source();
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  throw new OperatorError(
    (chosen ? `no usable credentials in profile ${chosen} (${problems.join('; ')})` : 'no AWS credentials found') +
      ': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE ' +
      "(the administrator's key is in <data-dir>/credentials: AWS_SHARED_CREDENTIALS_FILE=<data-dir>/credentials)",
  );
}

export async function callOperator(options: OperatorCallOptions): Promise<Record<string, unknown>> {
  const target = new URL(options.path, options.url);
  for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) target.searchParams.set(key, value);
  let res: Response;
  try {
    res = await fetch(target, { method: 'POST', headers: await signedHeaders(target, options.credentials) });
  } catch (err) {
    throw new OperatorError(`cannot reach the server at ${options.url} (${(err as Error).cause ?? (err as Error).message}); is \`berth serve\` running?`);
  }
  if (res.status !== 200 || !res.body) throw new OperatorError(refusal(target.pathname, res.status, await res.text()));
  let buffered = '';
  let result: Record<string, unknown> | null = null;
  const decoder = new TextDecoder();
  const handle = (text: string) => {
    if (!text.trim()) return;
    const line = JSON.parse(text) as Record<string, unknown>;
    if (line.type === 'progress') options.onProgress?.(line);
    else if (line.type === 'error') throw new OperatorError(String(line.message));
    else if (line.type === 'result') result = line;
  };
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  }
  handle(buffered);
  if (!result) throw new OperatorError('the server ended the answer without a result');
  return result;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** SigV4 headers for a body-less POST to the operator endpoint (signing name `berth`). */
export async function signedHeaders(target: URL, credentials: OperatorCredentials, service = 'berth'): Promise<Record<string, string>> {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const signer = new SignatureV4({ credentials, region, service, sha256: Hash.bind(null, 'sha256') });
  const request = new HttpRequest({
    method: 'POST',
    protocol: target.protocol,
    hostname: target.hostname,
    ...(target.port ? { port: Number(target.port) } : {}),
    path: target.pathname,
    query: Object.fromEntries(target.searchParams),
    headers: { host: target.host },
  });
  return (await signer.sign(request)).headers as Record<string, string>;
}

/** The server's refusal as one readable line: `{"error","message"}` bodies are unpacked. */
function refusal(path: string, status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof parsed.message === 'string') {
      const hint = status === 403 && parsed.error === 'AccessDenied' ? ' (the caller needs an IAM policy allowing it; see docs/identity.md)' : '';
      return `the server refused ${path} (${status} ${String(parsed.error ?? '')}): ${parsed.message}${hint}`;
    }
  } catch {
    // not JSON: show it as it came
  }
  return `${path} answered ${status}: ${body}`;
}
