// Which ECR actions each /v2 request needs, as ECR names them (ECR-FACTS.md): pulling
// needs ecr:BatchGetImage (manifests) and ecr:GetDownloadUrlForLayer (blobs); pushing
// needs ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload,
// ecr:BatchCheckLayerAvailability and ecr:PutImage.

export interface RepositoryAccess {
  repository: string;
  action: string;
}

export type RequiredAccess =
  /** GET /v2/: only needs a valid login. */
  | { kind: 'login' }
  | { kind: 'catalog'; action: string }
  | { kind: 'repository'; needs: RepositoryAccess[] }
  /** Not a route we know: needs a valid login; the registry answers it. */
  | { kind: 'unknown' };

export function requiredAccess(method: string, path: string, query: URLSearchParams): RequiredAccess {
  const m = method.toUpperCase();
  if (/^\/v2\/?$/.test(path)) return { kind: 'login' };
  if (path === '/v2/_catalog') return { kind: 'catalog', action: 'ecr:DescribeRepositories' };
  let r: RegExpExecArray | null;
  const need = (repository: string, action: string | null, extra: RepositoryAccess[] = []): RequiredAccess =>
    action ? { kind: 'repository', needs: [{ repository, action }, ...extra] } : { kind: 'unknown' };

  if ((r = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path))) {
    if (m !== 'POST') return { kind: 'unknown' };
    // A cross-repository mount reads the source repository: it must be pullable too.
    const from = query.get('from');
    const extra = query.get('mount') && from ? [{ repository: from, action: 'ecr:GetDownloadUrlForLayer' }] : [];
    return need(r[1]!, 'ecr:InitiateLayerUpload', extra);
  }
  if ((r = /^\/v2\/(.+)\/blobs\/uploads\/[^/]+$/.exec(path))) {
    return need(r[1]!, ({ GET: 'ecr:UploadLayerPart', PATCH: 'ecr:UploadLayerPart', PUT: 'ecr:CompleteLayerUpload', DELETE: 'ecr:UploadLayerPart' } as Record<string, string>)[m] ?? null);
  }
  if ((r = /^\/v2\/(.+)\/blobs\/[^/]+$/.exec(path))) {
    return need(r[1]!, ({ GET: 'ecr:GetDownloadUrlForLayer', HEAD: 'ecr:BatchCheckLayerAvailability', DELETE: 'ecr:BatchDeleteImage' } as Record<string, string>)[m] ?? null);
  }
  if ((r = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(path))) {
    return need(r[1]!, ({ GET: 'ecr:BatchGetImage', HEAD: 'ecr:BatchGetImage', PUT: 'ecr:PutImage', DELETE: 'ecr:BatchDeleteImage' } as Record<string, string>)[m] ?? null);
  }
  if ((r = /^\/v2\/(.+)\/tags\/list$/.exec(path))) return need(r[1]!, m === 'GET' ? 'ecr:ListImages' : null);
  if ((r = /^\/v2\/(.+)\/referrers\/[^/]+$/.exec(path))) return need(r[1]!, m === 'GET' ? 'ecr:BatchGetImage' : null);
  return { kind: 'unknown' };
}
