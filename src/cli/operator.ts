// Client side of the operator endpoints (src/edges/operator/routes.ts): POSTs to the
// running server, shows progress lines as they stream in, returns the final result.

export interface OperatorCallOptions {
  url: string;
  path: string;
  query?: Record<string, string | undefined>;
  onProgress?: (line: Record<string, unknown>) => void;
}

export class OperatorError extends Error {}

export async function callOperator(options: OperatorCallOptions): Promise<Record<string, unknown>> {
  const target = new URL(options.path, options.url);
  for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) target.searchParams.set(key, value);
  let res: Response;
  try {
    res = await fetch(target, { method: 'POST' });
  } catch (err) {
    throw new OperatorError(`cannot reach the server at ${options.url} (${(err as Error).cause ?? (err as Error).message}); is \`berth serve\` running?`);
  }
  if (res.status !== 200 || !res.body) throw new OperatorError(`${target.pathname} answered ${res.status}: ${await res.text()}`);
  let buffered = '';
  let result: Record<string, unknown> | null = null;
  const decoder = new TextDecoder();
  const handle = (text: string) => {
    if (!text.trim()) return;
    const line = JSON.parse(text) as Record<string, unknown>;
    if (line.type === 'progress') options.onProgress?.(line);
    else if (line.type === 'error') throw new OperatorError(String(line.message));
    else if (line.type === 'result') result = line;
  };
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  }
  handle(buffered);
  if (!result) throw new OperatorError('the server ended the answer without a result');
  return result;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
