import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { callOperator, operatorCredentials } from '../../cli/operator.js';

// `berth vulndb import|status` and `berth sbom`, against the running server (operator
// endpoints, signed with the operator's AWS credentials).

const urlOption = () => new Option('--url <url>', 'the running server').env('BERTH_URL').default(`http://127.0.0.1:${process.env.BERTH_PORT ?? 5000}`);

function bar(done: number, width = 30): string {
  const n = Math.min(width, Math.round((done % 1000) / (1000 / width)));
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

export function addScanningCommands(program: Command): void {
  const vulndb = program.command('vulndb').description('the offline vulnerability database (OSV) that scans match against');
  vulndb
    .command('import')
    .description("import osv.dev exports (all.zip), OSV JSON records, or a folder of either, on the server; records whose 'modified' is not newer are left alone")
    .argument('<source>', 'a .zip, a .json record or a folder, readable by the server')
    .addOption(urlOption())
    .option('--profile <name>', 'AWS profile to sign with')
    .action(async (source: string, flags: { url: string; profile?: string }) => {
      const tty = process.stderr.isTTY;
      const result = await callOperator({
        url: flags.url,
        path: '/_berth/vulndb/import',
        query: { source: resolve(source) },
        credentials: await operatorCredentials(flags.profile),
        onProgress: (p) => {
          const line = `${bar(Number(p.records))} ${p.records} records (${p.added} new, ${p.updated} updated, ${p.skipped} skipped), ${p.files} archives`;
          process.stderr.write(tty ? `\r${line}` : `${line}\n`);
        },
      });
      if (tty) process.stderr.write('\n');
      const ecos = Object.entries(result.ecosystems as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ');
      process.stdout.write(`berth vulndb import: ${result.records} records read, ${result.added} added, ${result.updated} updated, ${result.unchanged} unchanged, ${result.skipped} skipped\n`);
      if (ecos) process.stdout.write(`  ecosystems: ${ecos}\n`);
      for (const [reason, n] of Object.entries(result.skippedReasons as Record<string, number>)) process.stdout.write(`  skipped ${n}: ${reason}\n`);
    });
  vulndb
    .command('status')
    .description('what the database holds and when it was last updated')
    .addOption(urlOption())
    .option('--profile <name>', 'AWS profile to sign with')
    .option('--json', 'print the answer as JSON')
    .action(async (flags: { url: string; profile?: string; json?: boolean }) => {
      const r = await callOperator({ url: flags.url, path: '/_berth/vulndb/status', credentials: await operatorCredentials(flags.profile) });
      if (flags.json) return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.stdout.write(`records: ${r.records}\nupdated: ${r.updatedAt ?? 'never'}\n`);
      for (const [k, v] of Object.entries(r.ecosystems as Record<string, number>)) process.stdout.write(`  ${k}: ${v}\n`);
    });
  program
    .command('sbom')
    .description('the SBOM of a scanned image (CycloneDX 1.6 or SPDX 2.3 JSON) on stdout')
    .argument('<image>', '<repository>@<digest>')
    .addOption(new Option('--format <format>', 'document format').choices(['cyclonedx', 'spdx']).default('cyclonedx'))
    .addOption(urlOption())
    .option('--profile <name>', 'AWS profile to sign with')
    .action(async (image: string, flags: { format: string; url: string; profile?: string }) => {
      const at = image.lastIndexOf('@');
      if (at <= 0) throw new Error('name the image as <repository>@<digest>');
      const r = await callOperator({ url: flags.url, path: '/_berth/sbom', query: { repository: image.slice(0, at), digest: image.slice(at + 1), format: flags.format }, credentials: await operatorCredentials(flags.profile) });
      process.stdout.write(`${JSON.stringify(r.document, null, 2)}\n`);
    });
}
