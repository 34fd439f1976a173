import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, runOk } from './process.js';

// A private containerd daemon for one test file: root, state, socket and plugin folders all
// in a temporary folder, no CRI. Pulls use the native snapshotter (no overlay mounts needed).
// Needs root. Stop it with stop(): that signals exactly the process started here.

export interface Containerd {
  dir: string;
  socket: string;
  namespace: string;
  /** Runs `ctr --address <socket> -n <namespace> ...args`, failing unless it exits 0. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  /** Where the native snapshotter unpacks layers. */
  snapshotsDir: string;
  /** The daemon's log so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export async function startContainerd(options: { startTimeoutMs?: number } = {}): Promise<Containerd> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${dir}/opt"`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'config.toml'), config);

  const daemon: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => {
    log += chunk.toString('utf8');
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  daemon.stdout!.on('data', keep);
  daemon.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => daemon.once('exit', () => ((exited = true), resolve())));
  daemon.once('error', (err) => (log += `\nspawn error: ${err.message}`));

  const ctr = (args: string[], timeoutMs = 60_000) => runOk('ctr', ['--address', socket, '-n', 'test', ...args], { timeoutMs });

  const stop = async () => {
    if (!exited && daemon.pid !== undefined) {
      daemon.kill('SIGTERM');
      const stopped = await Promise.race([exit.then(() => true), sleep(10_000, false, { ref: false })]);
      if (!stopped) {
        daemon.kill('SIGKILL');
        await Promise.race([exit, sleep(5_000, undefined, { ref: false })]);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  // Ready once ctr can talk to it; bounded.
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`containerd exited during start-up:\n${log.slice(-4000)}`);
    }
    const probe = await run('ctr', ['--address', socket, 'version'], { timeoutMs: 5_000 }).catch(() => null);
    if (probe?.code === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not answer on ${socket} within the start-up timeout:\n${log.slice(-4000)}`);
    }
    await sleep(200);
  }

  return {
    dir,
    socket,
    namespace: 'test',
    ctr,
    snapshotsDir: join(dir, 'root', 'io.containerd.snapshotter.v1.native', 'snapshots'),
    log: () => log,
    stop,
  };
}
