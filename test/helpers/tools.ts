import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const inCI = process.env.CI === 'true';

export function hasTool(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * True when the system tool is installed. Otherwise the test is skipped with a message
 * naming the tool, except under CI=true, where a missing tool is a failure.
 */
export function requireTool(t: TestContext, command: string, why = ''): boolean {
  if (hasTool(command)) return true;
  const message = `${command} is not installed${why ? ` (${why})` : ''}; install it with: apt-get install ${debianPackage(command)}`;
  if (inCI) throw new Error(message);
  t.skip(message);
  return false;
}

function debianPackage(command: string): string {
  return ({ ctr: 'containerd', containerd: 'containerd', 'docker-registry': 'docker-registry', psql: 'postgresql-client' } as Record<string, string>)[command] ?? command;
}
