import { resolvedPaths, type BerthConfig } from '../config/config.js';

// `berth serve` failing to start ends in one line that names the setting to fix, not a
// stack trace: the stores that cannot be opened, the address that cannot be listened on.

type Phase = 'stores' | 'listen';

interface SystemError extends Error {
  code?: string;
  syscall?: string;
  path?: string;
  hostname?: string;
  errors?: SystemError[];
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'the host does not resolve',
  EAI_AGAIN: 'the host does not resolve (temporary DNS failure)',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  // PostgreSQL's own SQLSTATEs
  '28P01': 'password authentication failed',
  '28000': 'the server refused this user',
  '3D000': 'the database does not exist',
  '42501': 'permission denied',
};

function codeOf(err: SystemError): string | undefined {
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  return err.code ?? err.errors?.find((e) => e.code)?.code;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/** One line for a start that failed, or null when the error is not one of these (a bug: print the stack). */
export function startupErrorMessage(err: unknown, config: BerthConfig, phase: Phase): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as SystemError;
  const code = codeOf(e);
  if (phase === 'listen') {
    const where = `${config.host}:${config.port}`;
    if (code === 'EADDRINUSE') return `port: ${where} is already in use by another process; choose another with --port or BERTH_PORT`;
    if (code === 'EACCES') return `port: not allowed to listen on ${where} (ports below 1024 need privileges); choose another with --port or BERTH_PORT`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host: ${config.host} does not resolve; give an address or a resolvable name with --host or BERTH_HOST`;
    if (code === 'EADDRNOTAVAIL') return `host: ${config.host} is not an address of this machine; give one of its addresses (or 0.0.0.0) with --host or BERTH_HOST`;
    return null;
  }
  if (config.metadata.kind === 'postgres' && code && (NETWORK_REASONS[code] || /^(08|28|3D|42)/.test(code))) {
    return `metadata: cannot use PostgreSQL at ${redactUrl(config.metadata.url)}: ${NETWORK_REASONS[code] ?? e.message} (--metadata or BERTH_METADATA)`;
  }
  if (config.metadata.kind === 'sqlite' && (e.name === 'SqliteError' || code?.startsWith('SQLITE_') || e.message.includes('unable to open database'))) {
    return `metadata: cannot open the SQLite database ${resolvedPaths(config).sqlitePath}: ${e.message} (--metadata, BERTH_METADATA or --data-dir)`;
  }
  if (e.syscall && e.path && code) {
    return `data-dir: ${e.syscall} ${e.path} failed: ${code}${code === 'EACCES' ? ' (permission denied)' : ''} (--data-dir, BERTH_DATA_DIR or --storage)`;
  }
  return null;
}
