import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from './http.js';

// The two registries under test, each a child process on loopback with a fresh data folder.

export interface Target {
  name: string;
  url: string;
  client: Client;
  process: ChildProcess;
  dataDir: string;
  /** Whether and how this side makes a blob durable before acknowledging it. */
  durability: string;
  memory: MemorySampler;
  /** CPU time (user + system, all threads) the process has used so far, seconds. */
  cpuSeconds(): number;
  /**
   * Full (mark-compact) garbage collections so far, from the process's own /metrics; null
   * where the registry does not report them (Distribution).
   */
  majorGcs(): Promise<number | null>;
  /** The last lines the process wrote to stderr/stdout, for error reports. */
  output(): string;
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench/ -> bin/berth.js, the entry point `npm install` puts on PATH as `berth`. */
const berthCli = join(here, '..', '..', 'bin', 'berth.js');
const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export const AUTHORIZED_BERTH = 'Berth (auth)';

/** The administrator of the authorized Berth (BENCH_AUTH), a fixed bootstrap key. */
const BENCH_ADMIN = { accessKeyId: 'AKIABERTHBENCHADMIN0', secretAccessKey: 'berth-bench-admin-secret-not-a-secret' };

/**
 * Berth as every user runs it: /v2 authenticated (Basic AWS:<password> from
 * GetAuthorizationToken) and authorized with IAM policies, the administrator's.
 */
export async function startAuthorizedBerth(): Promise<Target> {
  const target = await startBerth([], { authorized: true });
  const password = await loginPassword(target.url, BENCH_ADMIN);
  target.client.defaultHeaders = { Authorization: `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}` };
  return target;
}

/** GetAuthorizationToken, signed with SigV4 for ecr: the registry password. */
async function loginPassword(url: string, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<string> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { HttpRequest } = await import('@smithy/protocol-http');
  const { Hash } = await import('@smithy/hash-node');
  const { hostname, port } = new URL(url);
  const signer = new SignatureV4({ service: 'ecr', region: 'us-east-1', credentials, sha256: Hash.bind(null, 'sha256') });
  const body = '{}';
  const signed = await signer.sign(
    new HttpRequest({ method: 'POST', protocol: 'http:', hostname, port: Number(port), path: '/', body, headers: { host: `${hostname}:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' } }),
  );
  const res = await fetch(`${url}/`, { method: 'POST', body, headers: signed.headers as Record<string, string> });
  if (res.status !== 200) throw new Error(`GetAuthorizationToken answered ${res.status}: ${await res.text()}`);
  const out = (await res.json()) as { authorizationData: { authorizationToken: string }[] };
  return Buffer.from(out.authorizationData[0]!.authorizationToken, 'base64').toString('utf8').slice('AWS:'.length);
}

export async function startBerth(extraArgs: string[] = [], options: { authorized?: boolean } = {}): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  // Node runs with the flags of bin/berth.js's shebang, as when users run `berth`, plus any
  // extra flags for profiling.
  const child = spawn(process.execPath, [...shebangNodeFlags(), ...berthNodeFlags(), berthCli, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Defaults only: no BERTH_* setting of the caller's shell leaks into the measured instance,
    // except that /v2 runs without authentication, as the Distribution it is compared with does.
    // The authorized one (BENCH_AUTH) runs as users do: authentication and policies on.
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BERTH_'))),
      ...(options.authorized
        ? { BERTH_AUTH_V2: 'true', BERTH_BOOTSTRAP_ACCESS_KEY_ID: BENCH_ADMIN.accessKeyId, BERTH_BOOTSTRAP_SECRET_ACCESS_KEY: BENCH_ADMIN.secretAccessKey }
        : { BERTH_AUTH_V2: 'false' }),
    },
  });
  const output = captureOutput(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Berth did not start within 20 s:\n${output.text()}`)), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Berth exited with ${code} while starting:\n${output.text()}`));
    });
    output.onLine((line) => {
      const m = /Berth listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  }).catch((err: unknown) => abandon(child, dataDir, err));
  child.removeAllListeners('exit');
  return makeTarget(options.authorized ? AUTHORIZED_BERTH : 'Berth', url, child, dataDir, output, 'yes: fsync of the file, atomic rename, fsync of the folder; SQLite commit with its WAL fsynced', berthMajorGcs);
}

/** The node flags on bin/berth.js's first line (`#!/usr/bin/env -S node <flags>`). */
function shebangNodeFlags(): string[] {
  const first = readFileSync(berthCli, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node\s+(.*)$/.exec(first);
  return match ? match[1]!.split(/\s+/).filter((f) => f.length > 0) : [];
}

/**
 * Extra node flags for the Berth child, after the shebang's (so a V8 flag given here wins), e.g.
 * BENCH_BERTH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
function berthNodeFlags(): string[] {
  return (process.env.BENCH_BERTH_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f.length > 0);
}

export async function startDistribution(binary: string): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), 'distribution-bench-'));
  const port = await freePort();
  const configPath = join(dataDir, 'config.yml');
  // The Debian package's own config, minus auth, with logs at warn and no access log
  // (Berth logs no per-request lines at warn either). Upload purging off: it only adds noise.
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  filesystem:',
      `    rootdirectory: ${join(dataDir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = captureOutput(child);
  const url = `http://127.0.0.1:${port}`;
  const client = new Client(url, 4);
  const deadline = Date.now() + 20_000;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`Distribution exited with ${exited} while starting:\n${output.text()}`);
      const ready = await client.request('GET', '/v2/').then(
        () => true,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`Distribution did not start within 20 s:\n${output.text()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await abandon(child, dataDir, err);
  } finally {
    client.close();
  }
  return makeTarget(
    'Distribution',
    url,
    child,
    dataDir,
    output,
    // Seen with strace on docker-registry 2.8.2 (filesystem driver): fsync of the upload file
    // and its hash-state files at the end of every PATCH and at commit, then rename(2).
    'yes for the data: fsync of the upload file (and its hash-state files) after every PATCH and at commit, then a rename with no fsync of the folder; the repository link file is written in place and fsynced',
  );
}

/** Berth's full GCs so far: prom-client's default metrics on its /metrics hold a histogram of GC pauses by kind. */
async function berthMajorGcs(client: Client): Promise<number> {
  const res = await client.request('GET', '/metrics', { keepBody: true });
  const m = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)/m.exec(res.body.toString('utf8'));
  return m ? Number(m[1]) : 0;
}

function makeTarget(
  name: string,
  url: string,
  child: ChildProcess,
  dataDir: string,
  output: ReturnType<typeof captureOutput>,
  durability: string,
  majorGcs?: (client: Client) => Promise<number>,
): Target {
  const memory = new MemorySampler(child.pid!);
  let exitCode: number | null | undefined;
  child.once('exit', (code, signal) => (exitCode = code ?? (signal ? -1 : null)));
  return {
    name,
    url,
    client: new Client(url, 64),
    process: child,
    dataDir,
    durability,
    memory,
    cpuSeconds: () => processCpuSeconds(child.pid!),
    async majorGcs() {
      return majorGcs ? majorGcs(this.client) : null;
    },
    output: () => output.text(),
    async stop() {
      memory.stop();
      this.client.close();
      if (exitCode === undefined) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A registry that failed to start: stop it, remove its folder, rethrow. */
async function abandon(child: ChildProcess, dataDir: string, err: unknown): Promise<never> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
  throw err;
}

function captureOutput(child: ChildProcess) {
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      for (const listener of listeners) listener(line);
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return {
    text: () => lines.slice(-40).join('\n'),
    onLine: (listener: (line: string) => void) => listeners.push(listener),
  };
}

function processCpuSeconds(pid: number): number {
  try {
    // /proc/<pid>/stat: fields after the command name; utime and stime are the 14th and 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return Number.NaN;
  }
}

/** The kernel's CPU pressure (share of the last 60 s some task waited for a CPU), or null. */
export function cpuPressure(): string | null {
  try {
    const m = /^some avg10=([\d.]+) avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? `${m[2]}% over 60 s` : null;
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Peak resident memory of a process: the kernel's high-water mark plus our own samples. */
export class MemorySampler {
  private peakKiB = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }

  sample(): void {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      for (const key of ['VmHWM', 'VmRSS']) {
        const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
        if (m) this.peakKiB = Math.max(this.peakKiB, Number(m[1]));
      }
    } catch {
      // the process has gone; keep what we saw
    }
  }

  /** Peak RSS so far, MiB. */
  peakMiB(): number {
    this.sample();
    return this.peakKiB / 1024;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
