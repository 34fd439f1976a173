import { Command, Option } from 'commander';
import { openStores } from '../../app.js';
import { ConfigError, loadConfig } from '../../config/config.js';
import { SqlMetadataStore } from '../../stores/metadata/sql-metadata-store.js';
import { AuditStore } from './store.js';

// `berth audit verify` and `berth audit export`: on the data folder (or PostgreSQL database)
// directly, as `berth admin` works; the server may be running.

interface AuditFlags {
  config?: string;
  dataDir?: string;
  metadata?: string;
  account?: string;
}

async function withAuditStore<T>(flags: AuditFlags, body: (store: AuditStore) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...(flags.config ? { config: flags.config } : {}), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}), ...(flags.metadata ? { metadata: flags.metadata } : {}), logLevel: 'silent' }, {});
  const { blobs, meta } = await openStores(config);
  try {
    if (!(meta instanceof SqlMetadataStore)) throw new Error('the audit trail needs the SQL metadata store');
    return await body(new AuditStore(meta.db, meta.kind));
  } finally {
    await meta.close();
    await blobs.close();
  }
}

function common(cmd: Command): Command {
  return cmd
    .addOption(new Option('--config <file>', 'JSON config file').env('BERTH_CONFIG'))
    .addOption(new Option('--data-dir <dir>', 'data folder (default ./data)').env('BERTH_DATA_DIR'))
    .addOption(new Option('--metadata <sqlite-path|postgres-url>', 'metadata store').env('BERTH_METADATA'))
    .option('--account <id>', 'only this account (default: every account)');
}

/** A time for --since/--until: ISO 8601, or a number of days ago (e.g. 7d). */
function parseTime(value: string, name: string): number {
  const days = /^(\d+(?:\.\d+)?)d$/.exec(value);
  const ms = days ? Date.now() - Number(days[1]) * 86_400_000 : Date.parse(value);
  if (!Number.isFinite(ms)) throw new ConfigError(`${name} must be an ISO 8601 time or a number of days such as 7d, not ${value}`);
  return ms;
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit trail: verify its hash chains, export it as JSON lines');

  common(audit.command('verify').description('check every record against its hash chain; names each edited or deleted record (exit 1)')).action(async (flags: AuditFlags) => {
    const result = await withAuditStore(flags, (store) => store.verify(flags.account ? [flags.account] : undefined));
    for (const p of result.problems) process.stdout.write(`${p.kind}\taccount ${p.accountId}\tseq ${p.seq}\teventID ${p.eventId ?? '-'}\t${p.detail}\n`);
    if (result.problems.length > 0) {
      process.stderr.write(`berth audit verify: ${result.problems.length} problem(s) in ${result.records} records of ${result.accounts} account(s)\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`berth audit verify: ok, ${result.records} records in ${result.accounts} account(s) chain correctly\n`);
  });

  common(audit.command('export').description('write records as JSON lines (one CloudTrail record per line), oldest first per account'))
    .option('--since <time>', 'only records at or after this time (ISO 8601, or e.g. 7d)')
    .option('--until <time>', 'only records at or before this time (ISO 8601, or e.g. 1d)')
    .action(async (flags: AuditFlags & { since?: string; until?: string }) => {
      const since = flags.since ? parseTime(flags.since, '--since') : undefined;
      const until = flags.until ? parseTime(flags.until, '--until') : undefined;
      await withAuditStore(flags, async (store) => {
        for (const account of flags.account ? [flags.account] : await store.accounts()) {
          for await (const row of store.scan(account, { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) })) {
            // Respect back-pressure: a slow reader (| gzip > file) must not make us buffer the trail.
            if (!process.stdout.write(`${row.record}\n`)) await new Promise((resolve) => process.stdout.once('drain', resolve));
          }
        }
      });
    });
}
