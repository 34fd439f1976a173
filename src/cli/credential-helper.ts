import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

// docker-credential-berth: a docker credential helper (get/store/erase/list), as
// docker-credential-ecr-login is for ECR. `get` turns the user's AWS credentials
// (AWS_ACCESS_KEY_ID/... env vars, else the AWS_PROFILE or default profile of the shared
// credentials file) into a registry login by calling GetAuthorizationToken on the Berth
// that serves the registry. The registry and the AWS API share one address, so the
// endpoint is the registry's own (https://, or http:// for loopback hosts), unless
// AWS_ENDPOINT_URL_ECR or AWS_ENDPOINT_URL names another.

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export function resolveCredentials(env: NodeJS.ProcessEnv = process.env): AwsCredentials {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
  }
  const file = env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), '.aws', 'credentials');
  const profile = env.AWS_PROFILE ?? 'default';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or create ${file}`);
  }
  const section = parseIni(text)[profile];
  if (!section?.aws_access_key_id || !section.aws_secret_access_key) throw new Error(`profile ${profile} in ${file} has no aws_access_key_id and aws_secret_access_key`);
  return { accessKeyId: section.aws_access_key_id, secretAccessKey: section.aws_secret_access_key, ...(section.aws_session_token ? { sessionToken: section.aws_session_token } : {}) };
}

function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(?:profile\s+)?([^\]]+)\]$/.exec(line);
    if (header) {
      current = out[header[1]!.trim()] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

export function endpointFor(serverUrl: string, env: NodeJS.ProcessEnv = process.env): URL {
  const explicit = env.AWS_ENDPOINT_URL_ECR ?? env.AWS_ENDPOINT_URL;
  if (explicit) return new URL(explicit);
  if (/^https?:\/\//.test(serverUrl)) return new URL(new URL(serverUrl).origin);
  const host = serverUrl.replace(/\/.*$/, '');
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
  return new URL(`${loopback ? 'http' : 'https'}://${host}`);
}

export async function getLogin(serverUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<{ ServerURL: string; Username: string; Secret: string }> {
  const login = await authorizationToken(endpointFor(serverUrl, env), resolveCredentials(env), env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1');
  return { ServerURL: serverUrl, Username: login.username, Secret: login.password };
}

/** GetAuthorizationToken at `endpoint`, signed with `credentials`: the registry login and when it expires. */
export async function authorizationToken(endpoint: URL, credentials: AwsCredentials, region: string): Promise<{ username: string; password: string; expiresAt: Date }> {
  const signer = new SignatureV4({ credentials, region, service: 'ecr', sha256: Hash.bind(null, 'sha256') });
  const body = '{}';
  const request = new HttpRequest({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
    path: '/',
    headers: { host: endpoint.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' },
    body,
  });
  const signed = await signer.sign(request);
  const res = await fetch(endpoint.origin + '/', { method: 'POST', headers: signed.headers as Record<string, string>, body });
  const text = await res.text();
  if (!res.ok) {
    // The AWS JSON error, when it is one: its name and message.
    const error = (() => {
      try {
        const e = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
        return e.__type ? `${e.__type.replace(/^.*#/, '')}: ${e.message ?? e.Message ?? ''}` : text;
      } catch {
        return text;
      }
    })();
    throw new Error(`GetAuthorizationToken at ${endpoint.origin} failed (${res.status}): ${error}`);
  }
  const data = (JSON.parse(text) as { authorizationData?: { authorizationToken?: string; expiresAt?: number }[] }).authorizationData?.[0];
  if (!data?.authorizationToken) throw new Error('GetAuthorizationToken returned no token');
  const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // expiresAt: epoch seconds (AWS JSON timestamps); ECR's tokens last 12 hours.
  const expiresAt = new Date(typeof data.expiresAt === 'number' ? data.expiresAt * 1000 : Date.now() + 12 * 3_600_000);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), expiresAt };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function main(): Promise<void> {
  const command = process.argv[2];
  switch (command) {
    case 'get': {
      const serverUrl = await readStdin();
      process.stdout.write(JSON.stringify(await getLogin(serverUrl)));
      return;
    }
    case 'store':
    case 'erase':
      // Logins are minted from AWS credentials on demand; there is nothing to keep.
      await readStdin();
      return;
    case 'list':
      process.stdout.write('{}');
      return;
    case 'version':
      process.stdout.write('docker-credential-berth 0.1.0\n');
      return;
    default:
      process.stderr.write('usage: docker-credential-berth get|store|erase|list|version\n');
      process.exit(1);
  }
}

if (process.argv[1] && /docker-credential-berth|credential-helper\.js$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    // Docker shows stdout of a failed helper to the user.
    process.stdout.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
