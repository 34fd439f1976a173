// The /v2 routes and the ECR action each method needs, as ECR names them (ECR-FACTS.md):
// one table, read by the dispatcher (edges/oci/routes.ts) and by authorization
// (auth/registry-access.ts), so a route cannot be served without an action to authorize
// it. Pulling needs ecr:BatchGetImage (manifests) and ecr:GetDownloadUrlForLayer (blobs);
// pushing ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload,
// ecr:BatchCheckLayerAvailability and ecr:PutImage.

export type V2Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type V2RouteName = 'base' | 'catalog' | 'uploads' | 'upload' | 'blob' | 'manifest' | 'tags' | 'referrers';

/** The base route needs no ECR action, only a valid login. */
export const LOGIN = 'login';

export interface V2Route {
  name: V2RouteName;
  /** Over the path within the addressed registry; group 1 is the repository name where there is one. */
  pattern: RegExp;
  /** Method → `ecr:<Action>` (or LOGIN). A method not listed is not served. */
  actions: Partial<Record<V2Method, string>>;
}

/** A repository name as the distribution spec allows it. */
export const NAME = '([a-z0-9]+(?:[._/-][a-z0-9]+|__[a-z0-9]+|-+[a-z0-9]+)*)';

export const V2_ROUTES: readonly V2Route[] = [
  { name: 'base', pattern: /^\/v2\/?$/, actions: { GET: LOGIN, HEAD: LOGIN } },
  { name: 'catalog', pattern: /^\/v2\/_catalog$/, actions: { GET: 'ecr:DescribeRepositories' } },
  { name: 'uploads', pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/?$`), actions: { POST: 'ecr:InitiateLayerUpload' } },
  {
    name: 'upload',
    pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/([^/]+)$`),
    actions: { GET: 'ecr:UploadLayerPart', PATCH: 'ecr:UploadLayerPart', PUT: 'ecr:CompleteLayerUpload', DELETE: 'ecr:UploadLayerPart' },
  },
  { name: 'blob', pattern: new RegExp(`^/v2/${NAME}/blobs/([^/]+)$`), actions: { GET: 'ecr:GetDownloadUrlForLayer', HEAD: 'ecr:BatchCheckLayerAvailability', DELETE: 'ecr:BatchDeleteImage' } },
  {
    name: 'manifest',
    pattern: new RegExp(`^/v2/${NAME}/manifests/([^/]+)$`),
    actions: { GET: 'ecr:BatchGetImage', HEAD: 'ecr:BatchGetImage', PUT: 'ecr:PutImage', DELETE: 'ecr:BatchDeleteImage' },
  },
  { name: 'tags', pattern: new RegExp(`^/v2/${NAME}/tags/list$`), actions: { GET: 'ecr:ListImages' } },
  { name: 'referrers', pattern: new RegExp(`^/v2/${NAME}/referrers/([^/]+)$`), actions: { GET: 'ecr:BatchGetImage' } },
];

/** Anything under /v2/ that names a repository badly: answered 400 NAME_INVALID, never served. */
export const BAD_NAME = /^\/v2\/(.+)\/(blobs|manifests|tags|referrers)\//;

export type V2Match =
  /** A route and method served: the action it needs. */
  | { kind: 'route'; route: V2Route; match: RegExpExecArray; action: string }
  /** A known route, a method it does not serve. */
  | { kind: 'method'; route: V2Route }
  | { kind: 'bad-name' }
  | { kind: 'none' };

export function matchV2(method: string, path: string): V2Match {
  for (const route of V2_ROUTES) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    const action = route.actions[method.toUpperCase() as V2Method];
    return action ? { kind: 'route', route, match, action } : { kind: 'method', route };
  }
  return BAD_NAME.test(path) ? { kind: 'bad-name' } : { kind: 'none' };
}
