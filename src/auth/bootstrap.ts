import { access, chmod, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdentityService, NewCredentials } from '../domain/iam/identity-service.js';

// First start on an empty store: one account, an administrator with an access key, and
// the aws CLI's two files in the data folder so that
//   AWS_SHARED_CREDENTIALS_FILE=<data>/credentials AWS_CONFIG_FILE=<data>/config aws ...
// works at once. Secrets are random per install unless BERTH_BOOTSTRAP_* seed them.
// Both files are written together, before the server listens: a first start that then
// fails (the port is taken) leaves a data folder the README's next command works with.

export interface BootstrapResult extends NewCredentials {
  credentialsFile: string;
  configFile: string;
}

export async function bootstrapAdministrator(
  identity: IdentityService,
  options: { dataDir: string; accountId: string; region: string; accessKeyId?: string; secretAccessKey?: string; endpoint?: string; caBundle?: string },
): Promise<BootstrapResult | null> {
  const created = await identity.bootstrap({
    accountId: options.accountId,
    region: options.region,
    ...(options.accessKeyId ? { accessKeyId: options.accessKeyId } : {}),
    ...(options.secretAccessKey ? { secretAccessKey: options.secretAccessKey } : {}),
  });
  if (!created) return null;
  const { credentialsFile, configFile } = clientFiles(options.dataDir);
  await writeClientConfig(configFile, options.region, options.endpoint, options.caBundle);
  await writePrivate(credentialsFile, `[default]\naws_access_key_id = ${created.accessKeyId}\naws_secret_access_key = ${created.secretAccessKey}\n`);
  return { ...created, credentialsFile, configFile };
}

export function clientFiles(dataDir: string): { credentialsFile: string; configFile: string } {
  return { credentialsFile: join(dataDir, 'credentials'), configFile: join(dataDir, 'config') };
}

/**
 * The config file to (re)write once the server knows its address: the one a first start
 * just wrote, or a missing one beside an existing credentials file (a data folder from a
 * Berth that wrote `config` only after it listened, and failed to listen).
 */
export async function clientConfigToWrite(dataDir: string, bootstrap: BootstrapResult | null): Promise<string | null> {
  if (bootstrap) return bootstrap.configFile;
  const { credentialsFile, configFile } = clientFiles(dataDir);
  return (await exists(credentialsFile)) && !(await exists(configFile)) ? configFile : null;
}

/** The CLI config file; without an endpoint (the port is not known yet) only the region. */
export async function writeClientConfig(configFile: string, region: string, endpoint?: string, caBundle?: string): Promise<void> {
  await writePrivate(configFile, `[default]\nregion = ${region}\n${endpoint ? `endpoint_url = ${endpoint}\n` : ''}${caBundle ? `ca_bundle = ${caBundle}\n` : ''}`);
}

/** Where a client on this machine reaches a server configured to listen on host:port (null: port 0, not known yet). */
export function localEndpoint(host: string, port: number, scheme: 'http' | 'https' = 'http'): string | undefined {
  if (port === 0) return undefined;
  const name = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${name}:${port}`;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Mode 0600, whole or not at all: written beside, then renamed into place. */
async function writePrivate(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await chmod(temporary, 0o600); // mode applies only when the file is created
  await rename(temporary, path);
}
