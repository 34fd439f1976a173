import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

// The real CLI (`berth serve`) in a child process, for tests that must kill or restart it.

export const cliPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface BerthProcess {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:PORT, as the CLI printed it */
  url: string;
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `berth serve` on a free loopback port and resolves once it prints where it listens. */
/** `authV2`: BERTH_AUTH_V2 for the child (false unless given; null leaves it unset, i.e. Berth's default). */
export async function spawnBerth(args: string[], options: { startTimeoutMs?: number; env?: NodeJS.ProcessEnv; authV2?: boolean | null } = {}): Promise<BerthProcess> {
  // Only the flags configure it: BERTH_* variables of the surrounding shell are left out.
  const env = options.env ?? Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_')));
  const child = spawn(process.execPath, [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // /v2 requires a login by default; these tests push and pull anonymously unless they ask.
    env: options.authV2 === null ? env : { ...env, BERTH_AUTH_V2: String(options.authV2 ?? false) },
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth serve did not print its address within ${options.startTimeoutMs ?? 20_000} ms:\n${output}`));
    }, options.startTimeoutMs ?? 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      const m = /Berth listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`berth serve exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    pid: child.pid!,
    url,
    output: () => output,
    exited,
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(graceMs, false, { ref: false })]);
      if (!stopped) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(5_000, undefined, { ref: false })]);
      }
    },
  };
}

/**
 * Environment for a `berth` CLI child that signs with exactly these AWS credentials (none:
 * no credentials at all): the surrounding shell's BERTH_* and AWS_* variables and its
 * ~/.aws files are left out.
 */
export function cliEnv(credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_') && !name.startsWith('AWS_')));
  return {
    ...env,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/berth-test/credentials',
    AWS_CONFIG_FILE: '/nonexistent/berth-test/config',
    ...(credentials ? { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey } : {}),
    ...(credentials?.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
    ...extra,
  };
}
