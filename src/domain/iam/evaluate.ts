// The one policy evaluator for every edge. Inputs: who is asking (principal), what
// (action), on what (resource ARN and its account), the caller's identity policies, the
// resource's policies (repository policy, registry policy, or a role's trust policy) and
// the request context. Output: allow or deny, with the reason.
//
// Rules, as IAM applies them:
// 1. An explicit Deny in any applicable statement wins.
// 2. Same account: an Allow in an identity policy, or a resource-policy Allow that names
//    the caller (its user/role/session ARN, or "*"), is enough. A resource Allow that names
//    only the account delegates to the account, so the identity policy must allow too.
// 3. Across accounts: the caller's identity policies AND the resource policy must allow.
// 4. Anonymous callers have no identity policies: only a resource Allow for "*" admits them.
// 5. The account root has every permission of its own account (identity side always allows).

import { evaluateClause, type ConditionContext } from './conditions.js';
import type { PolicyDocument, PrincipalSpec, Statement } from './policy.js';
import { arnMatch, wildcardMatch } from './wildcard.js';

export type PrincipalKind = 'root' | 'user' | 'assumed-role' | 'anonymous';

export interface PrincipalContext {
  kind: PrincipalKind;
  /** 12-digit account; null for anonymous. */
  account: string | null;
  /** The caller's ARN as GetCallerIdentity reports it (session ARN for role sessions). */
  arn: string | null;
  /** The IAM entity: user ARN, role ARN of a session, or the account root ARN. */
  principalArn: string | null;
  userId?: string;
  userName?: string;
}

export type ContextValue = string | number | boolean | readonly string[] | Date | undefined | null;

export interface AuthorizationRequest {
  principal: PrincipalContext;
  action: string;
  resource: string;
  resourceAccount: string;
  identityPolicies?: readonly PolicyDocument[];
  /** Policies attached to the resource side: repository, registry, or trust policy. */
  resourcePolicies?: readonly (PolicyDocument | null | undefined)[];
  /** Request context keys (aws:SourceIp, aws:SecureTransport, aws:ResourceTag/k, ...). */
  context?: Readonly<Record<string, ContextValue>>;
  /** Milliseconds since the epoch; defaults to now (aws:CurrentTime). */
  now?: number;
}

export type DecisionReason =
  | 'explicit-deny'
  | 'allowed-by-identity-policy'
  | 'allowed-by-resource-policy'
  | 'allowed-by-identity-and-resource-policy'
  | 'implicit-deny'
  | 'cross-account-identity-policy-missing'
  | 'cross-account-resource-policy-missing';

export interface Decision {
  allowed: boolean;
  reason: DecisionReason;
  /** The deciding statement's Sid, when it has one. */
  sid?: string;
}

export function anonymousPrincipal(): PrincipalContext {
  return { kind: 'anonymous', account: null, arn: null, principalArn: null };
}

/** Builds the full condition context: global keys from the principal and clock, then the caller's. */
export function buildContext(request: AuthorizationRequest): ConditionContext {
  const map = new Map<string, string[]>();
  const put = (key: string, value: ContextValue) => {
    if (value === undefined || value === null) return;
    let values: string[];
    if (Array.isArray(value)) values = [...(value as readonly string[])];
    else if (value instanceof Date) values = [value.toISOString()];
    else values = [String(value)];
    map.set(key.toLowerCase(), values);
  };
  const now = request.now ?? Date.now();
  put('aws:CurrentTime', new Date(now));
  put('aws:EpochTime', Math.floor(now / 1000));
  const p = request.principal;
  put('aws:PrincipalAccount', p.account);
  put('aws:PrincipalArn', p.principalArn);
  put('aws:PrincipalType', { root: 'Account', user: 'User', 'assumed-role': 'AssumedRole', anonymous: 'Anonymous' }[p.kind]);
  put('aws:userid', p.userId);
  put('aws:username', p.kind === 'user' ? p.userName : undefined);
  for (const [key, value] of Object.entries(request.context ?? {})) put(key, value);
  return map;
}

type PrincipalMatch = 'direct' | 'account' | null;

function accountOfPrincipalEntry(entry: string): string | null {
  if (/^\d{12}$/.test(entry)) return entry;
  const m = /^arn:aws[a-z-]*:iam::(\d{12}):root$/.exec(entry);
  return m ? m[1]! : null;
}

function matchPrincipal(spec: PrincipalSpec, p: PrincipalContext): PrincipalMatch {
  if (spec.any) return 'direct';
  if (p.kind === 'anonymous') return null;
  let best: PrincipalMatch = null;
  for (const entry of spec.aws) {
    const account = accountOfPrincipalEntry(entry);
    if (account !== null) {
      if (account === p.account) best = p.kind === 'root' ? 'direct' : (best ?? 'account');
    } else if (entry === p.principalArn || entry === p.arn) {
      return 'direct';
    }
  }
  return best;
}

function substitute(text: string, doc: PolicyDocument, context: ConditionContext): string {
  if (doc.version !== '2012-10-17' || !text.includes('${')) return text;
  return text.replace(/\$\{([^}]*)\}/g, (_m, inner: string) => {
    if (inner === '*' || inner === '?' || inner === '$') return inner;
    const [key, fallback] = inner.split(',').map((s) => s.trim());
    const values = context.get(key!.toLowerCase());
    if (values && values.length === 1) return values[0]!;
    if (fallback !== undefined) return fallback.replace(/^'(.*)'$/, '$1');
    return '\u0000unresolved\u0000'; // matches nothing
  });
}

function actionApplies(st: Statement, action: string): boolean {
  if (st.actions) return st.actions.some((a) => wildcardMatch(a, action, true));
  return !st.notActions!.some((a) => wildcardMatch(a, action, true));
}

function resourceApplies(st: Statement, doc: PolicyDocument, resource: string, context: ConditionContext): boolean {
  // A resource policy statement without Resource applies to the resource it is attached to.
  if (!st.resources && !st.notResources) return true;
  const match = (pattern: string) => arnMatch(substitute(pattern, doc, context), resource);
  if (st.resources) return st.resources.some(match);
  return !st.notResources!.some(match);
}

function conditionsHold(st: Statement, doc: PolicyDocument, context: ConditionContext): boolean {
  return st.conditions.every((c) => evaluateClause(c, context, c.values.map((v) => substitute(v, doc, context))));
}

interface Hit {
  effect: 'Allow' | 'Deny';
  match: PrincipalMatch | 'identity';
  sid?: string;
}

function collect(docs: readonly PolicyDocument[], side: 'identity' | 'resource', req: AuthorizationRequest, context: ConditionContext, hits: Hit[]): void {
  for (const doc of docs) {
    for (const st of doc.statements) {
      let match: Hit['match'] = 'identity';
      if (side === 'resource') {
        if (st.principal) match = matchPrincipal(st.principal, req.principal);
        else if (st.notPrincipal) match = matchPrincipal(st.notPrincipal, req.principal) ? null : 'direct';
        else match = null;
        if (!match) continue;
      }
      if (!actionApplies(st, req.action)) continue;
      if (!resourceApplies(st, doc, req.resource, context)) continue;
      if (!conditionsHold(st, doc, context)) continue;
      hits.push({ effect: st.effect, match, ...(st.sid ? { sid: st.sid } : {}) });
    }
  }
}

export function authorize(request: AuthorizationRequest): Decision {
  const context = buildContext(request);
  const p = request.principal;
  const identityHits: Hit[] = [];
  const resourceHits: Hit[] = [];
  if (p.kind !== 'anonymous') collect(request.identityPolicies ?? [], 'identity', request, context, identityHits);
  const resourceDocs = (request.resourcePolicies ?? []).filter((d): d is PolicyDocument => !!d);
  collect(resourceDocs, 'resource', request, context, resourceHits);

  const deny = [...identityHits, ...resourceHits].find((h) => h.effect === 'Deny');
  if (deny) return { allowed: false, reason: 'explicit-deny', ...(deny.sid ? { sid: deny.sid } : {}) };

  const identityAllow = p.kind === 'root' ? { effect: 'Allow' as const, match: 'identity' as const } : identityHits.find((h) => h.effect === 'Allow');
  const directAllow = resourceHits.find((h) => h.effect === 'Allow' && h.match === 'direct');
  const anyResourceAllow = directAllow ?? resourceHits.find((h) => h.effect === 'Allow');
  const sid = (h?: Hit) => (h?.sid ? { sid: h.sid } : {});

  if (p.kind === 'anonymous') {
    return directAllow ? { allowed: true, reason: 'allowed-by-resource-policy', ...sid(directAllow) } : { allowed: false, reason: 'implicit-deny' };
  }
  if (p.account === request.resourceAccount) {
    if (identityAllow && anyResourceAllow) return { allowed: true, reason: 'allowed-by-identity-and-resource-policy', ...sid(identityAllow) };
    if (identityAllow) return { allowed: true, reason: 'allowed-by-identity-policy', ...sid(identityAllow) };
    if (directAllow) return { allowed: true, reason: 'allowed-by-resource-policy', ...sid(directAllow) };
    return { allowed: false, reason: 'implicit-deny' };
  }
  if (identityAllow && anyResourceAllow) return { allowed: true, reason: 'allowed-by-identity-and-resource-policy', ...sid(anyResourceAllow) };
  if (!anyResourceAllow) return { allowed: false, reason: identityAllow ? 'cross-account-resource-policy-missing' : 'implicit-deny' };
  return { allowed: false, reason: 'cross-account-identity-policy-missing' };
}
