import { Command, Option } from 'commander';
import { createApp } from '../app.js';
import { ConfigError, loadConfig, resolvedPaths, type BerthConfig } from '../config/config.js';
import { trustInstructions } from '../tls/self-signed.js';
import { adminErrorMessage, registerAdminCommands } from './admin.js';
import { registerAuditCommands } from '../modules/audit/cli.js';
import { runMigrate, type MigrateFlags } from './migrate.js';
import { registerEventsCommands } from '../modules/events/cli.js';
import { redactUrl, startupErrorMessage } from './startup-errors.js';
import { callOperator, formatBytes, OperatorError, operatorCredentials } from './operator.js';
import { addScanningCommands } from '../modules/scanning/cli.js';

const program = new Command();
program.name('berth').description('Berth: a container image registry that speaks OCI Distribution and the Amazon ECR API');

program
  .command('serve')
  .description('start the registry')
  .addOption(new Option('--config <file>', 'JSON config file').env('BERTH_CONFIG'))
  .addOption(new Option('--host <host>', 'address to listen on (default 0.0.0.0)').env('BERTH_HOST'))
  .addOption(new Option('--port <port>', 'port to listen on (default 5000)').env('BERTH_PORT'))
  .addOption(new Option('--data-dir <dir>', 'folder for the embedded database and blobs (default ./data)').env('BERTH_DATA_DIR'))
  .addOption(new Option('--metadata <sqlite-path|postgres-url>', 'metadata store: a SQLite file or a postgres:// URL').env('BERTH_METADATA'))
  .addOption(new Option('--storage <path|s3-url>', 'blob storage: a folder (default <data-dir>/storage) or s3://<bucket>/<prefix>').env('BERTH_STORAGE'))
  .addOption(new Option('--tls-cert <pem>', 'serve HTTPS with this certificate (chain) PEM file; re-read on SIGHUP').env('BERTH_TLS_CERT'))
  .addOption(new Option('--tls-key <pem>', 'the private key PEM file of --tls-cert; re-read on SIGHUP').env('BERTH_TLS_KEY'))
  .option('--tls-self-signed', 'serve HTTPS with a local CA and certificate made under <data-dir>/tls/ (env BERTH_TLS_SELF_SIGNED=true)')
  .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent').env('BERTH_LOG_LEVEL'))
  .action(async (flags: Record<string, string | undefined>) => {
    // commander already merged env vars into flags; loadConfig adds the config file, the
    // BERTH_BOOTSTRAP_* seeds, and validates.
    const bootstrapEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('BERTH_BOOTSTRAP_') || k === 'BERTH_AUTH_V2' || k === 'BERTH_SERVER_KEY' || k === 'BERTH_TLS_SELF_SIGNED'));
    const config = loadConfig(flags, bootstrapEnv);
    const berth = await createApp(config).catch((err: unknown) => failStart(err, config, 'stores'));
    const address = await berth.http.listen({ host: config.host, port: config.port }).catch(async (err: unknown) => {
      await berth.close().catch(() => {});
      return failStart(err, config, 'listen');
    });
    const paths = resolvedPaths(config);
    const metadata = config.metadata.kind === 'sqlite' ? `SQLite ${paths.sqlitePath}` : `PostgreSQL ${redactUrl(config.metadata.url)}`;
    process.stdout.write(`Berth listening on ${address}\n  metadata: ${metadata}\n  blobs:    ${paths.blobLocation}\n`);
    if (berth.tls) process.stdout.write(`  tls:      ${berth.tls.certFile} (TLS 1.2+; SIGHUP re-reads it)\n`);
    if (berth.tls?.selfSigned) {
      const port = new URL(address).port;
      process.stdout.write(trustInstructions(berth.tls.selfSigned, `${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`));
    }
    // A renewed certificate takes effect for new connections; open ones keep theirs.
    process.on('SIGHUP', () => {
      if (!berth.tls) return;
      berth.reloadTls().then(
        () => berth.http.log.info({ cert: berth.tls!.certFile }, 'reloaded TLS certificate'),
        (err: unknown) => berth.http.log.error({ err }, 'TLS reload failed; keeping the previous certificate'),
      );
    });
    if (berth.bootstrap) {
      // Printed once, on the first start only, and never through the logger: to the terminal
      // when there is one (stderr, so stdout's JSON log stream never holds it), else as plain
      // text on stdout (the only place a service manager's operator can read it).
      const b = berth.bootstrap;
      const terminal = process.stderr.isTTY ? process.stderr : process.stdout;
      terminal.write(
        `\nCreated account ${b.accountId} and its administrator "${b.userName}":\n` +
          `  AWS_ACCESS_KEY_ID=${b.accessKeyId}\n  AWS_SECRET_ACCESS_KEY=${b.secretAccessKey}\n` +
          `Saved (mode 0600) to ${b.credentialsFile} and ${b.configFile}; use them with\n` +
          `  AWS_SHARED_CREDENTIALS_FILE=${b.credentialsFile} AWS_CONFIG_FILE=${b.configFile} aws sts get-caller-identity\n` +
          `This is the only time the secret is shown.\n`,
      );
    }
    const stop = async (signal: string) => {
      berth.http.log.info({ signal }, 'shutting down');
      await berth.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('migrate')
  .description('copy metadata and blobs to other stores (e.g. SQLite + folder to PostgreSQL + S3); safe to re-run, resumes')
  .requiredOption('--from-metadata <sqlite-path|postgres-url>', 'the metadata to copy')
  .requiredOption('--from-storage <path|s3-url>', 'the blobs to copy')
  .requiredOption('--to-metadata <sqlite-path|postgres-url>', 'where the metadata goes')
  .requiredOption('--to-storage <path|s3-url>', 'where the blobs go')
  .action(async (flags: MigrateFlags) => {
    const summary = await runMigrate(flags, (line) => process.stdout.write(`${line}\n`));
    if (summary.blobs.failed.length > 0) {
      process.stderr.write(`berth: ${summary.blobs.failed.length} blobs failed their digest check or could not be read; they were not copied\n`);
      process.exit(1);
    }
  });

// `berth gc` and `berth lifecycle run` sign their request with the operator's AWS credentials;
// the server allows them to principals of the management account with berth:* actions.
const OPERATOR_CREDENTIALS = 'AWS_PROFILE, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, else the default profile';

program
  .command('gc')
  .description('ask the running server to collect garbage now, and print what it freed')
  .option('--dry-run', 'report what would be freed without deleting anything')
  .addOption(new Option('--url <url>', 'the running server').env('BERTH_URL').default(`http://127.0.0.1:${process.env.BERTH_PORT ?? 5000}`))
  .option('--profile <name>', `AWS profile to sign with (default: ${OPERATOR_CREDENTIALS})`)
  .action(async (flags: { dryRun?: boolean; url: string; profile?: string }) => {
    const result = await callOperator({
      url: flags.url,
      path: '/_berth/gc',
      query: { dryRun: flags.dryRun ? '1' : undefined },
      credentials: await operatorCredentials(flags.profile),
      onProgress: (p) => process.stderr.write(`  ${String(p.phase).padEnd(12)} links ${p.linksRemoved}, blobs ${p.blobsDeleted}, orphans ${p.orphansDeleted}, ${formatBytes(Number(p.bytesFreed))}\n`),
    });
    const verb = result.dryRun ? 'would free' : 'freed';
    process.stdout.write(
      `berth gc ${verb} ${formatBytes(Number(result.bytesFreed))}: ${result.blobsDeleted} blobs, ${result.orphansDeleted} orphaned blobs, ` +
        `${result.linksRemoved} unreferenced repository links, ${result.uploadsPurged} abandoned uploads (${result.durationMs} ms)\n`,
    );
    // Older servers do not report it.
    const failures = Number(result.deleteFailures ?? 0);
    if (failures > 0) process.stdout.write(`berth gc: storage refused to delete ${failures} blobs; they stay marked and a run after the mark lease (10 min) tries again\n`);
  });

const lifecycle = program.command('lifecycle').description('ECR lifecycle policies');
lifecycle
  .command('run')
  .description('ask the running server to apply lifecycle policies now, and print what it expired and archived')
  .option('--repository <name>', 'only this repository (default: every repository with a policy)')
  .option('--dry-run', 'report what would expire or be archived without changing anything')
  .addOption(new Option('--url <url>', 'the running server').env('BERTH_URL').default(`http://127.0.0.1:${process.env.BERTH_PORT ?? 5000}`))
  .option('--profile <name>', `AWS profile to sign with (default: ${OPERATOR_CREDENTIALS})`)
  .action(async (flags: { repository?: string; dryRun?: boolean; url: string; profile?: string }) => {
    const result = await callOperator({
      url: flags.url,
      path: '/_berth/lifecycle',
      query: { repository: flags.repository, dryRun: flags.dryRun ? '1' : undefined },
      credentials: await operatorCredentials(flags.profile),
      onProgress: (p) => process.stderr.write(`  ${p.repositoryName}: ${p.expired} image(s)${Number(p.transitioned) > 0 ? `, ${p.transitioned} archived` : ''}\n`),
    });
    type Image = { imageDigest: string; imageTags: string[]; appliedRulePriority: number };
    const reports = result.reports as { repositoryName: string; expired: Image[]; transitioned?: Image[]; skipped?: string }[];
    // One line per image: expired ones as `repository digest tags rule N`, archived ones
    // with a fifth column `archive`.
    const line = (repository: string, image: Image, extra = '') =>
      process.stdout.write(`${repository}\t${image.imageDigest}\t${image.imageTags.join(',') || '<untagged>'}\trule ${image.appliedRulePriority}${extra}\n`);
    for (const report of reports) {
      for (const image of report.expired) line(report.repositoryName, image);
      for (const image of report.transitioned ?? []) line(report.repositoryName, image, '\tarchive');
      if (report.skipped) process.stderr.write(`berth: skipped ${report.repositoryName}: ${report.skipped}\n`);
    }
    const archived = Number(result.transitioned ?? 0);
    const archivedPart = archived > 0 ? `, ${result.dryRun ? 'would archive' : 'archived'} ${archived} image(s)` : '';
    process.stdout.write(`berth lifecycle ${result.dryRun ? 'would expire' : 'expired'} ${result.expired} image(s) in ${result.repositories} repository(ies)${archivedPart}\n`);
  });

addScanningCommands(program);

/** A start that failed for a reason the operator can fix: one line naming the setting, exit 1. */
function failStart(err: unknown, config: BerthConfig, phase: 'stores' | 'listen'): never {
  const message = startupErrorMessage(err, config, phase);
  if (!message) throw err;
  process.stderr.write(`berth: ${message}\n`);
  process.exit(1);
}

registerAdminCommands(program);
registerAuditCommands(program);
registerEventsCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const adminMessage = adminErrorMessage(err);
  if (adminMessage) {
    process.stderr.write(`berth: ${adminMessage}\n`);
    process.exit(1);
  }
  if (err instanceof OperatorError) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exit(1);
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof Error && (err.name === 'S3StorageError' || err.name === 'MetadataCopyConflict')) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
