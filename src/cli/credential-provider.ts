import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { parseArgs } from 'node:util';
import { authorizationToken, endpointFor, type AwsCredentials } from './credential-helper.js';

// berth-credential-provider: a kubelet image credential provider (KEP-2133), as
// ecr-credential-provider is for ECR on EKS nodes. The kubelet runs it with a
// CredentialProviderRequest {image} on stdin and reads a CredentialProviderResponse from
// stdout: a registry login minted from the node's AWS credentials (the environment, else
// the shared credentials file's profile) by GetAuthorizationToken on Berth, cached by the
// kubelet for the registry until shortly before the token expires. docs/kubernetes.md.

const API_VERSIONS = ['credentialprovider.kubelet.k8s.io/v1', 'credentialprovider.kubelet.k8s.io/v1beta1', 'credentialprovider.kubelet.k8s.io/v1alpha1'];
/** The kubelet keeps the login this much less than the token lives, so a cached one never reaches a pull expired. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

export class ProviderInputError extends Error {}

export interface CredentialProviderResponse {
  apiVersion: string;
  kind: 'CredentialProviderResponse';
  cacheKeyType: 'Registry' | 'Image' | 'Global';
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

export function parseRequest(text: string): { apiVersion: string; image: string } {
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch (err) {
    throw new ProviderInputError(`the request on stdin is not JSON (${(err as Error).message}); the kubelet sends a CredentialProviderRequest`);
  }
  const r = (typeof request === 'object' && request !== null ? request : {}) as Record<string, unknown>;
  if (typeof r.apiVersion !== 'string' || !API_VERSIONS.includes(r.apiVersion)) {
    throw new ProviderInputError(`unsupported apiVersion ${JSON.stringify(r.apiVersion ?? null)}: expected ${API_VERSIONS[0]} (set apiVersion in the kubelet's CredentialProviderConfig)`);
  }
  if (r.kind !== 'CredentialProviderRequest') throw new ProviderInputError(`unsupported kind ${JSON.stringify(r.kind ?? null)}: expected CredentialProviderRequest`);
  if (typeof r.image !== 'string' || r.image === '') throw new ProviderInputError('the CredentialProviderRequest names no image');
  return { apiVersion: r.apiVersion, image: r.image };
}

/** The registry host of an image reference (`host[:port]/repo[:tag|@digest]`). */
export function registryOf(image: string): string {
  const first = image.split('/')[0]!;
  if (!image.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    throw new ProviderInputError(`image ${image} names no registry host (Berth's images are <host>[:port]/<repository>)`);
  }
  return first;
}

/** A Go time.Duration string ("11h55m0s"), the form the kubelet parses. */
export function goDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

async function nodeCredentials(profile: string | undefined): Promise<AwsCredentials> {
  try {
    return await fromEnv()();
  } catch {
    // No AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: the shared files (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE).
  }
  try {
    return await fromIni(profile ? { profile } : {})();
  } catch (err) {
    throw new Error(`no AWS credentials for the node: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in AWS_SHARED_CREDENTIALS_FILE (${(err as Error).message})`);
  }
}

export async function respond(
  requestText: string,
  options: { endpoint?: string; region?: string; profile?: string; env?: NodeJS.ProcessEnv; now?: () => number },
): Promise<CredentialProviderResponse> {
  const env = options.env ?? process.env;
  const { apiVersion, image } = parseRequest(requestText);
  const registry = registryOf(image);
  const endpoint = options.endpoint ? new URL(options.endpoint) : endpointFor(registry, env);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const login = await authorizationToken(endpoint, await nodeCredentials(options.profile ?? env.AWS_PROFILE), region);
  const now = (options.now ?? Date.now)();
  const lifetime = login.expiresAt.getTime() - now;
  return {
    apiVersion,
    kind: 'CredentialProviderResponse',
    // One login serves every repository of the registry (and every account it hosts).
    cacheKeyType: 'Registry',
    cacheDuration: goDuration(lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 2)),
    auth: { [registry]: { username: login.username, password: login.password } },
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const USAGE = 'usage: berth-credential-provider [--endpoint <url>] [--region <region>] [--profile <name>]  (CredentialProviderRequest on stdin)';

async function main(): Promise<void> {
  let values: { endpoint?: string; region?: string; profile?: string; help?: boolean };
  try {
    values = parseArgs({ options: { endpoint: { type: 'string' }, region: { type: 'string' }, profile: { type: 'string' }, help: { type: 'boolean' } } }).values;
  } catch (err) {
    throw new ProviderInputError(`${(err as Error).message}; ${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const endpoint = values.endpoint ?? process.env.BERTH_ENDPOINT;
  const response = await respond(await readStdin(), {
    ...(endpoint ? { endpoint } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values.profile ? { profile: values.profile } : {}),
  });
  process.stdout.write(`${JSON.stringify(response)}\n`);
}

if (process.argv[1] && /berth-credential-provider|credential-provider\.js$/.test(process.argv[1])) {
  main().catch((err: unknown) => {
    // The kubelet logs the plugin's stderr; one line, never a stack.
    process.stderr.write(`berth-credential-provider: ${(err as Error).message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(1);
  });
}
