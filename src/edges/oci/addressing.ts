// Which account's registry a /v2 request addresses. ECR tells registries apart by host
// name; Berth also accepts a path form for setups where every client reaches it by one
// host name:
//
// 1. Host `<account>.dkr.ecr.<region>.<domain>` (any region and domain): that account. The
//    path is used as it is, so every repository name works, exactly as with ECR.
// 2. Otherwise a first path component of exactly 12 digits followed by a repository name
//    (`/v2/123456789012/team/app/manifests/v1`): account 123456789012, repository
//    `team/app`. The rule is purely syntactic (it does not depend on which accounts
//    exist), so the meaning of an address never changes: a repository of the default
//    account whose name itself starts with a 12-digit component is reached as
//    `/v2/<default-account>/<name>` (or by host form), never by its bare name.
// 3. Otherwise the configured default registry (`registryId`).

export interface RegistryAddress {
  registryId: string;
  /** The path with the account component removed: what the /v2 routes match. */
  path: string;
  /** `/v2/` or `/v2/<account>/`: what URLs handed back to the client start with. */
  base: string;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.[^:]+(?::\d+)?$/i;
const ACCOUNT_PATH = /^\/v2\/(\d{12})(\/.*)$/;
/** What follows a repository name in a /v2 path (or the catalog). */
const REPOSITORY_ROUTE = /^\/(_catalog$|.+\/(blobs|manifests|tags|referrers)\/)/;

export function accountFromHost(host: string | undefined): string | null {
  return host ? (ECR_HOST.exec(host.trim())?.[1] ?? null) : null;
}

export function resolveRegistryAddress(host: string | undefined, path: string, defaultRegistryId: string): RegistryAddress {
  const fromHost = accountFromHost(host);
  if (fromHost) return { registryId: fromHost, path, base: '/v2/' };
  const m = ACCOUNT_PATH.exec(path);
  if (m && REPOSITORY_ROUTE.test(m[2]!)) return { registryId: m[1]!, path: `/v2${m[2]}`, base: `/v2/${m[1]}/` };
  return { registryId: defaultRegistryId, path, base: '/v2/' };
}

/**
 * The source repository of a cross-repository mount (`from`), read by the same rule, in
 * the addressed registry; null when it names another registry (no mount then: the client
 * uploads the blob instead, as the distribution spec allows).
 */
export function mountSource(from: string, address: Pick<RegistryAddress, 'registryId'>, host: string | undefined, defaultRegistryId: string): string | null {
  if (accountFromHost(host)) return from;
  const m = /^(\d{12})\/(.+)$/.exec(from);
  const registryId = m ? m[1]! : defaultRegistryId;
  if (registryId !== address.registryId) return null;
  return m ? m[2]! : from;
}

/**
 * host[:port] under which clients reach `registryId`'s repositories on /v2 (ECR's
 * repositoryUri prefix): the host itself for the default registry or a host form naming
 * it, another account's host form, else the path form `host/<account>`.
 */
export function registryHostFor(host: string, registryId: string, defaultRegistryId: string): string {
  const named = accountFromHost(host);
  if (named) return named === registryId ? host : `${registryId}${host.slice(named.length)}`;
  return registryId === defaultRegistryId ? host : `${host}/${registryId}`;
}
