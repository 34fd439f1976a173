import { Command, Option } from 'commander';
import { openStores } from '../../app.js';
import { AesGcmSecretCipher, loadServerKey } from '../../auth/secret-box.js';
import { loadConfig } from '../../config/config.js';
import { SqlMetadataStore } from '../../stores/metadata/sql-metadata-store.js';
import { EventsStore } from './store.js';

// `berth events dead-letters` and `berth events retry`: the operator's view of deliveries
// that ran out of retries. Like `berth admin`, they work on the data folder (or PostgreSQL
// database) directly; the server may be running.

interface Flags {
  config?: string;
  dataDir?: string;
  metadata?: string;
  json?: boolean;
  all?: boolean;
}

async function withStore<T>(flags: Flags, body: (store: EventsStore) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...(flags.config ? { config: flags.config } : {}), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}), ...(flags.metadata ? { metadata: flags.metadata } : {}), logLevel: 'silent' }, {});
  const { blobs, meta } = await openStores(config);
  try {
    if (!(meta instanceof SqlMetadataStore)) throw new Error('events need the SQL metadata store');
    return await body(new EventsStore(meta.db, new AesGcmSecretCipher(await loadServerKey(config.dataDir, config.serverKey))));
  } finally {
    await meta.close();
    await blobs.close();
  }
}

const common = (cmd: Command) =>
  cmd
    .addOption(new Option('--config <file>', 'JSON config file').env('BERTH_CONFIG'))
    .addOption(new Option('--data-dir <dir>', 'data folder (default ./data)').env('BERTH_DATA_DIR'))
    .addOption(new Option('--metadata <sqlite-path|postgres-url>', 'metadata store').env('BERTH_METADATA'));

export function registerEventsCommands(program: Command): void {
  const events = program.command('events').description('event deliveries to API destinations (docs/events.md)');
  common(events.command('dead-letters').description('list deliveries that ran out of retries').option('--json', 'one JSON object per line'))
    .action(async (flags: Flags) => {
      await withStore(flags, async (store) => {
        const dead = await store.deliveries({ state: 'dead' });
        for (const d of dead) {
          const event = JSON.parse(d.body) as { 'detail-type'?: string; source?: string };
          if (flags.json) process.stdout.write(`${JSON.stringify({ id: d.id, account: d.accountId, rule: d.ruleName, target: d.targetId, eventId: d.eventId, source: event.source, detailType: event['detail-type'], attempts: d.attempts, lastStatus: d.lastStatus, lastError: d.lastError, deadAt: d.finishedAt ? new Date(d.finishedAt).toISOString() : null })}\n`);
          else process.stdout.write(`${d.id}\t${d.accountId}\t${d.ruleName}/${d.targetId}\t${d.eventId}\t${event['detail-type'] ?? ''}\t${d.attempts} attempts\t${d.lastStatus ?? '-'}\t${d.lastError ?? ''}\n`);
        }
        if (!flags.json) process.stderr.write(`${dead.length} dead-lettered deliveries\n`);
      });
    });
  common(events.command('retry [ids...]').description('put dead-lettered deliveries back in their queues').option('--all', 'every dead-lettered delivery'))
    .action(async (ids: string[], flags: Flags) => {
      if (!flags.all && ids.length === 0) throw new Error('give delivery ids (from berth events dead-letters) or --all');
      const numbers = ids.map((i) => {
        if (!/^\d+$/.test(i)) throw new Error(`not a delivery id: ${i}`);
        return Number(i);
      });
      await withStore(flags, async (store) => {
        const n = await store.retryDead(flags.all ? 'all' : numbers, Date.now());
        process.stdout.write(`${n} deliveries queued again\n`);
      });
    });
}
