import { Command, Option } from 'commander';
import { openStores } from '../app.js';
import { bootstrapAdministrator, localEndpoint } from '../auth/bootstrap.js';
import { AesGcmSecretCipher, loadServerKey } from '../auth/secret-box.js';
import { loadConfig, type BerthConfig } from '../config/config.js';
import { accountRootArn, userArn } from '../domain/iam/arns.js';
import { IamError } from '../domain/iam/errors.js';
import { IdentityService, type Caller } from '../domain/iam/identity-service.js';
import { SqlIdentityStore } from '../stores/metadata/sql-identity-store.js';
import { SqlMetadataStore } from '../stores/metadata/sql-metadata-store.js';

// `berth admin`: the common identity tasks for operators without the aws CLI. It works on
// the data folder (or PostgreSQL database) directly, as the account's root: whoever can
// read the data folder already holds every secret in it. The server may be running.

interface AdminFlags {
  config?: string;
  dataDir?: string;
  metadata?: string;
  account?: string;
}

async function withIdentity<T>(flags: AdminFlags, body: (identity: IdentityService, config: BerthConfig, root: () => Caller) => Promise<T>): Promise<T> {
  const bootstrapEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BERTH_BOOTSTRAP_')));
  const config = loadConfig({ ...(flags.config ? { config: flags.config } : {}), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}), ...(flags.metadata ? { metadata: flags.metadata } : {}), logLevel: 'silent' }, bootstrapEnv);
  const { blobs, meta } = await openStores(config);
  try {
    if (!(meta instanceof SqlMetadataStore)) throw new Error('the identity store needs the SQL metadata store');
    const identity = new IdentityService({ store: new SqlIdentityStore(meta.db, new AesGcmSecretCipher(await loadServerKey(config.dataDir, config.serverKey))), defaultRegion: config.region });
    const created = await bootstrapAdministrator(identity, {
      dataDir: config.dataDir,
      accountId: config.bootstrap.accountId ?? config.registryId,
      region: config.region,
      ...(config.bootstrap.accessKeyId ? { accessKeyId: config.bootstrap.accessKeyId } : {}),
      ...(config.bootstrap.secretAccessKey ? { secretAccessKey: config.bootstrap.secretAccessKey } : {}),
      endpoint: localEndpoint(config.host, config.port),
    });
    if (created) process.stdout.write(`Created account ${created.accountId} with administrator ${created.userName} (${created.accessKeyId}); credentials saved to ${created.credentialsFile}\n`);
    const accounts = await identity.store.listAccounts();
    const account = flags.account ?? accounts.find((a) => a.name === 'management')?.id ?? config.registryId;
    if (!accounts.some((a) => a.id === account)) throw new IamError('NoSuchEntity', `there is no account ${account} (see berth admin list-accounts)`);
    const root = (): Caller => ({
      principal: { kind: 'root', account, arn: accountRootArn(account), principalArn: accountRootArn(account) },
      accountId: account,
      owner: { kind: 'user', id: `root:${account}` },
      accessKeyId: 'berth-admin',
      sessionPolicy: null,
    });
    return await body(identity, config, root);
  } finally {
    await meta.close();
    await blobs.close();
  }
}

const facts = { sourceIp: '127.0.0.1', secureTransport: true };

function common(cmd: Command): Command {
  return cmd
    .addOption(new Option('--config <file>', 'JSON config file').env('BERTH_CONFIG'))
    .addOption(new Option('--data-dir <dir>', 'data folder (default ./data)').env('BERTH_DATA_DIR'))
    .addOption(new Option('--metadata <sqlite-path|postgres-url>', 'metadata store').env('BERTH_METADATA'))
    .option('--account <id>', 'account (default: the registry id)');
}

export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('manage accounts, users and access keys (works on the data folder directly)');

  common(admin.command('create-user <name>').description('create an IAM user'))
    .option('--policy-arn <arn...>', 'managed policies to attach, e.g. arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser')
    .option('--access-key', 'also create an access key and print it')
    .action(async (name: string, flags: AdminFlags & { policyArn?: string[]; accessKey?: boolean }) => {
      await withIdentity(flags, async (identity, config, root) => {
        const caller = root();
        const user = await identity.createUser(caller, { userName: name }, facts);
        process.stdout.write(`${userArn(user.accountId, user.name, user.path)}\n`);
        for (const arn of flags.policyArn ?? []) await identity.attachPolicy(caller, 'user', name, arn, facts);
        if (flags.accessKey) {
          const key = await identity.createAccessKey(caller, name, facts);
          process.stdout.write(`aws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`);
        }
      });
    });

  common(admin.command('create-access-key <user>').description('create an access key for a user and print it once'))
    .action(async (user: string, flags: AdminFlags) => {
      await withIdentity(flags, async (identity, config, root) => {
        const key = await identity.createAccessKey(root(), user, facts);
        process.stdout.write(`aws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`);
      });
    });

  common(admin.command('delete-user <name>').description("delete a user with its access keys and policies (IAM's DeleteUser wants them gone first)"))
    .action(async (name: string, flags: AdminFlags) => {
      await withIdentity(flags, async (identity, config, root) => {
        const caller = root();
        for (const key of await identity.listAccessKeys(caller, name, facts)) await identity.deleteAccessKey(caller, name, key.accessKeyId, facts);
        for (const policy of await identity.listAttachedPolicies(caller, 'user', name, facts)) await identity.detachPolicy(caller, 'user', name, policy.policyArn, facts);
        for (const policyName of await identity.listInlinePolicies(caller, 'user', name, facts)) await identity.deleteInlinePolicy(caller, 'user', name, policyName, facts);
        await identity.deleteUser(caller, name, facts);
        process.stdout.write(`deleted user ${name}\n`);
      });
    });

  common(admin.command('list-access-keys <user>').description('list the access keys of a user (id, status, created)'))
    .action(async (user: string, flags: AdminFlags) => {
      await withIdentity(flags, async (identity, config, root) => {
        for (const key of await identity.listAccessKeys(root(), user, facts)) process.stdout.write(`${key.accessKeyId}\t${key.status}\t${new Date(key.createdAt).toISOString()}\n`);
      });
    });

  for (const [verb, status] of [['deactivate', 'Inactive'], ['activate', 'Active']] as const) {
    common(admin.command(`${verb}-access-key <user> <access-key-id>`).description(`mark an access key ${status} (${verb === 'deactivate' ? 'requests signed with it are refused at once' : 'usable again'})`))
      .action(async (user: string, accessKeyId: string, flags: AdminFlags) => {
        await withIdentity(flags, async (identity, config, root) => {
          await identity.updateAccessKey(root(), user, accessKeyId, status, facts);
          process.stdout.write(`${accessKeyId}\t${status}\n`);
        });
      });
  }

  common(admin.command('delete-access-key <user> <access-key-id>').description('delete an access key'))
    .action(async (user: string, accessKeyId: string, flags: AdminFlags) => {
      await withIdentity(flags, async (identity, config, root) => {
        await identity.deleteAccessKey(root(), user, accessKeyId, facts);
        process.stdout.write(`deleted ${accessKeyId}\n`);
      });
    });

  common(admin.command('rotate-access-key <user> <access-key-id>').description('create a new access key for the user, print it once, and deactivate the old one (delete it with --delete-old)'))
    .option('--delete-old', 'delete the old key instead of deactivating it')
    .action(async (user: string, accessKeyId: string, flags: AdminFlags & { deleteOld?: boolean }) => {
      await withIdentity(flags, async (identity, config, root) => {
        const caller = root();
        // The old key must exist and belong to the user before a new one is made (IAM allows two per user).
        const keys = await identity.listAccessKeys(caller, user, facts);
        if (!keys.some((k) => k.accessKeyId === accessKeyId)) throw new IamError('NoSuchEntity', `The Access Key with id ${accessKeyId} cannot be found for user ${user}.`);
        const key = await identity.createAccessKey(caller, user, facts);
        if (flags.deleteOld) await identity.deleteAccessKey(caller, user, accessKeyId, facts);
        else await identity.updateAccessKey(caller, user, accessKeyId, 'Inactive', facts);
        process.stdout.write(`aws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`);
        process.stderr.write(`berth: ${accessKeyId} ${flags.deleteOld ? 'deleted' : 'deactivated (delete it with berth admin delete-access-key once nothing uses it)'}\n`);
      });
    });

  common(admin.command('attach-policy <user> <policy-arn>').description('attach a managed policy to a user'))
    .action(async (user: string, arn: string, flags: AdminFlags) => {
      await withIdentity(flags, async (identity, config, root) => {
        await identity.attachPolicy(root(), 'user', user, arn, facts);
      });
    });

  common(admin.command('list-users').description('list the users of an account'))
    .action(async (flags: AdminFlags) => {
      await withIdentity(flags, async (identity, config, root) => {
        const caller = root();
        let marker: string | undefined;
        do {
          const page = await identity.listUsers(caller, { maxItems: 1000, ...(marker ? { marker } : {}) }, facts);
          for (const u of page.items) process.stdout.write(`${u.name}\t${userArn(u.accountId, u.name, u.path)}\n`);
          marker = page.marker;
        } while (marker);
      });
    });

  common(admin.command('create-account').description('create a further account (with OrganizationAccountAccessRole for the management account)'))
    .requiredOption('--name <name>', 'account name')
    .option('--email <email>', 'contact address', 'admin@localhost.localdomain')
    .action(async (flags: AdminFlags & { name: string; email: string }) => {
      await withIdentity(flags, async (identity, config, root) => {
        const { account, roleArn } = await identity.createMemberAccount(root(), { accountName: flags.name, email: flags.email }, facts);
        process.stdout.write(`${account.id}\t${roleArn}\n`);
      });
    });

  common(admin.command('list-accounts').description('list the accounts this server hosts'))
    .action(async (flags: AdminFlags) => {
      await withIdentity(flags, async (identity) => {
        for (const a of await identity.store.listAccounts()) process.stdout.write(`${a.id}\t${a.region}\t${a.name}\n`);
      });
    });
}

/** IAM errors as one line for the terminal. */
export function adminErrorMessage(err: unknown): string | null {
  return err instanceof IamError ? `${err.code}: ${err.message}` : null;
}
