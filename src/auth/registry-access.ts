import { LOGIN, matchV2 } from '../edges/oci/route-table.js';

// What each /v2 request needs, from the one route table (edges/oci/route-table.ts).
// Anything the table does not serve is denied: no route is reachable on a mere login.

export interface RepositoryAccess {
  repository: string;
  action: string;
}

export type RequiredAccess =
  /** GET /v2/: only needs a valid login. */
  | { kind: 'login'; operation: string }
  | { kind: 'catalog'; action: string; operation: string }
  | { kind: 'repository'; needs: RepositoryAccess[]; operation: string }
  /** A badly formed repository name: a valid login, then the registry answers NAME_INVALID without serving anything. */
  | { kind: 'invalid'; operation: string }
  /** Not a route (or not a method) the registry serves: denied. */
  | { kind: 'unknown'; operation: string };

export function requiredAccess(method: string, path: string, query: URLSearchParams): RequiredAccess {
  const m = method.toUpperCase();
  const found = matchV2(m, path);
  if (found.kind === 'bad-name') return { kind: 'invalid', operation: `/v2 ${m} invalid name` };
  if (found.kind !== 'route') return { kind: 'unknown', operation: `/v2 ${m} unknown` };
  const { route, match, action } = found;
  if (action === LOGIN) return { kind: 'login', operation: '/v2 login' };
  if (route.name === 'catalog') return { kind: 'catalog', action, operation: action };
  const repository = match[1]!;
  const needs: RepositoryAccess[] = [{ repository, action }];
  if (route.name === 'uploads') {
    // A cross-repository mount reads the source repository: it must be pullable too.
    const from = query.get('from');
    if (query.get('mount') && from) needs.push({ repository: from, action: 'ecr:GetDownloadUrlForLayer' });
  }
  return { kind: 'repository', needs, operation: action };
}
