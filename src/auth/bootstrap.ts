import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdentityService, NewCredentials } from '../domain/iam/identity-service.js';

// First start on an empty store: one account, an administrator with an access key, and
// the aws CLI's two files in the data folder so that
//   AWS_SHARED_CREDENTIALS_FILE=<data>/credentials AWS_CONFIG_FILE=<data>/config aws ...
// works at once. Secrets are random per install unless BERTH_BOOTSTRAP_* seed them.

export interface BootstrapResult extends NewCredentials {
  credentialsFile: string;
  configFile: string;
}

export async function bootstrapAdministrator(
  identity: IdentityService,
  options: { dataDir: string; accountId: string; region: string; accessKeyId?: string; secretAccessKey?: string },
): Promise<BootstrapResult | null> {
  const created = await identity.bootstrap({
    accountId: options.accountId,
    region: options.region,
    ...(options.accessKeyId ? { accessKeyId: options.accessKeyId } : {}),
    ...(options.secretAccessKey ? { secretAccessKey: options.secretAccessKey } : {}),
  });
  if (!created) return null;
  const credentialsFile = join(options.dataDir, 'credentials');
  await writePrivate(credentialsFile, `[default]\naws_access_key_id = ${created.accessKeyId}\naws_secret_access_key = ${created.secretAccessKey}\n`);
  return { ...created, credentialsFile, configFile: join(options.dataDir, 'config') };
}

/** The CLI config file, written once the server knows the address it listens on. */
export async function writeClientConfig(configFile: string, region: string, endpoint: string, caBundle?: string): Promise<void> {
  await writePrivate(configFile, `[default]\nregion = ${region}\nendpoint_url = ${endpoint}\n${caBundle ? `ca_bundle = ${caBundle}\n` : ''}`);
}

async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600); // mode applies only when the file is created
}
