// IAM policy documents: the parsed, normalized form and the validator that produces it.
// Validation collects every problem with a path (`Statement[1].Condition...`) so an
// operator sees all mistakes at once, the way IAM's MalformedPolicyDocument would.

import { parseCidr } from './ip.js';
import { splitArn } from './wildcard.js';

export type Effect = 'Allow' | 'Deny';

/** Who a resource-policy statement names. `any` is `"*"` or `{"AWS": "*"}`. */
export interface PrincipalSpec {
  any: boolean;
  aws: string[];
  service: string[];
  federated: string[];
  canonicalUser: string[];
}

export type SetQualifier = 'ForAnyValue' | 'ForAllValues';

export interface ConditionClause {
  /** Base operator without qualifier or IfExists, e.g. `StringEquals`. */
  operator: ConditionOperator;
  qualifier: SetQualifier | null;
  ifExists: boolean;
  /** Lower-cased: condition key names are case-insensitive. */
  key: string;
  values: string[];
}

export interface Statement {
  sid?: string;
  effect: Effect;
  actions?: string[];
  notActions?: string[];
  resources?: string[];
  notResources?: string[];
  principal?: PrincipalSpec;
  notPrincipal?: PrincipalSpec;
  conditions: ConditionClause[];
}

export interface PolicyDocument {
  version: '2008-10-17' | '2012-10-17';
  id?: string;
  statements: Statement[];
}

/**
 * identity: attached to a user or role (no Principal). resource: a repository or registry
 * policy (Principal required, Resource optional: it defaults to the resource itself).
 * trust: a role's trust policy (a resource policy whose resource is the role).
 */
export type PolicyKind = 'identity' | 'resource' | 'trust';

export const conditionOperators = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Null',
] as const;
export type ConditionOperator = (typeof conditionOperators)[number];

export class PolicyValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.join('; ')}`);
    this.name = 'PolicyValidationError';
  }
}

export interface ParseOptions {
  /** Largest accepted policy text in characters (ECR: 10,240 for repository policies). */
  maxLength?: number;
  /** Whether two statements may share a Sid (ECR's resource policies allow it; IAM's do not). */
  duplicateSids?: boolean;
}

const ACTION = /^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$/;
const ACCOUNT = /^\d{12}$/;
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam::\d{12}:(root|user\/.+|role\/.+)|sts::\d{12}:assumed-role\/[^/]+\/.+)$/;

/** Parses and validates a policy; throws PolicyValidationError listing every problem. */
export function parsePolicy(text: string | unknown, kind: PolicyKind, options: ParseOptions = {}): PolicyDocument {
  let raw: unknown = text;
  if (typeof text === 'string') {
    if (options.maxLength !== undefined && text.length > options.maxLength) {
      throw new PolicyValidationError([`policy text is ${text.length} characters; the limit is ${options.maxLength}`]);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new PolicyValidationError([`policy is not valid JSON: ${(err as Error).message}`]);
    }
  }
  const problems: string[] = [];
  const doc = readDocument(raw, kind, problems, options.duplicateSids ?? false);
  if (problems.length > 0 || !doc) throw new PolicyValidationError(problems.length ? problems : ['policy is empty']);
  return doc;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readDocument(raw: unknown, kind: PolicyKind, problems: string[], duplicateSids: boolean): PolicyDocument | null {
  if (!isObject(raw)) {
    problems.push('policy must be a JSON object');
    return null;
  }
  for (const key of Object.keys(raw)) {
    if (!['Version', 'Id', 'Statement'].includes(key)) problems.push(`unknown top-level field "${key}" (expected Version, Id, Statement)`);
  }
  let version: PolicyDocument['version'] = '2008-10-17';
  if (raw.Version !== undefined) {
    if (raw.Version === '2012-10-17' || raw.Version === '2008-10-17') version = raw.Version;
    else problems.push(`Version must be "2012-10-17" or "2008-10-17", not ${JSON.stringify(raw.Version)}`);
  }
  if (raw.Id !== undefined && typeof raw.Id !== 'string') problems.push('Id must be a string');
  const list = raw.Statement;
  if (list === undefined) {
    problems.push('policy has no Statement');
    return null;
  }
  const items = Array.isArray(list) ? list : [list];
  if (items.length === 0) problems.push('Statement must not be empty');
  const statements: Statement[] = [];
  const sids = new Set<string>();
  items.forEach((item, i) => {
    const path = Array.isArray(list) ? `Statement[${i}]` : 'Statement';
    const st = readStatement(item, kind, path, problems);
    if (!st) return;
    if (st.sid !== undefined) {
      if (sids.has(st.sid) && !duplicateSids) problems.push(`${path}.Sid "${st.sid}" is used by more than one statement`);
      sids.add(st.sid);
    }
    statements.push(st);
  });
  return { version, ...(typeof raw.Id === 'string' ? { id: raw.Id } : {}), statements };
}

const STATEMENT_FIELDS = ['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Principal', 'NotPrincipal', 'Condition'];

function readStatement(raw: unknown, kind: PolicyKind, path: string, problems: string[]): Statement | null {
  if (!isObject(raw)) {
    problems.push(`${path} must be an object`);
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.includes(key)) problems.push(`${path} has unknown field "${key}"`);
  }
  const st: Statement = { effect: 'Deny', conditions: [] };
  if (raw.Sid !== undefined) {
    if (typeof raw.Sid !== 'string' || !/^[A-Za-z0-9 _-]*$/.test(raw.Sid)) problems.push(`${path}.Sid must be a string of letters, digits, spaces, "_" and "-"`);
    else st.sid = raw.Sid;
  }
  if (raw.Effect === 'Allow' || raw.Effect === 'Deny') st.effect = raw.Effect;
  else problems.push(`${path}.Effect must be "Allow" or "Deny"${raw.Effect === undefined ? ' (missing)' : `, not ${JSON.stringify(raw.Effect)}`}`);

  const exclusive = (a: string, b: string, required: boolean) => {
    if (raw[a] !== undefined && raw[b] !== undefined) problems.push(`${path} has both ${a} and ${b}; use one`);
    else if (required && raw[a] === undefined && raw[b] === undefined) problems.push(`${path} needs ${a} or ${b}`);
  };
  exclusive('Action', 'NotAction', true);
  for (const field of ['Action', 'NotAction'] as const) {
    if (raw[field] === undefined) continue;
    const values = stringList(raw[field], `${path}.${field}`, problems);
    for (const a of values) if (!ACTION.test(a)) problems.push(`${path}.${field} "${a}" is not an action ("service:Name", wildcards allowed, or "*")`);
    if (field === 'Action') st.actions = values;
    else st.notActions = values;
  }

  exclusive('Resource', 'NotResource', kind === 'identity');
  for (const field of ['Resource', 'NotResource'] as const) {
    if (raw[field] === undefined) continue;
    const values = stringList(raw[field], `${path}.${field}`, problems);
    for (const r of values) if (r !== '*' && !splitArn(r)) problems.push(`${path}.${field} "${r}" is not an ARN ("arn:partition:service:region:account:resource") or "*"`);
    if (field === 'Resource') st.resources = values;
    else st.notResources = values;
  }

  if (kind === 'identity') {
    if (raw.Principal !== undefined || raw.NotPrincipal !== undefined) problems.push(`${path} has a Principal, which identity policies must not have`);
  } else {
    exclusive('Principal', 'NotPrincipal', true);
    if (raw.Principal !== undefined) st.principal = readPrincipal(raw.Principal, `${path}.Principal`, problems) ?? undefined;
    if (raw.NotPrincipal !== undefined) st.notPrincipal = readPrincipal(raw.NotPrincipal, `${path}.NotPrincipal`, problems) ?? undefined;
  }

  if (raw.Condition !== undefined) st.conditions = readConditions(raw.Condition, `${path}.Condition`, problems);
  return problems.length === before ? st : null;
}

function stringList(value: unknown, path: string, problems: string[]): string[] {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) problems.push(`${path} must not be empty`);
  const out: string[] = [];
  for (const v of items) {
    if (typeof v === 'string' && v.length > 0) out.push(v);
    else problems.push(`${path} must hold non-empty strings, not ${JSON.stringify(v)}`);
  }
  return out;
}

function readPrincipal(raw: unknown, path: string, problems: string[]): PrincipalSpec | null {
  const spec: PrincipalSpec = { any: false, aws: [], service: [], federated: [], canonicalUser: [] };
  if (raw === '*') return { ...spec, any: true };
  if (!isObject(raw)) {
    problems.push(`${path} must be "*" or an object such as {"AWS": "123456789012"}`);
    return null;
  }
  const keys = Object.keys(raw);
  if (keys.length === 0) problems.push(`${path} must name at least one principal`);
  for (const key of keys) {
    const values = stringList(raw[key], `${path}.${key}`, problems);
    switch (key) {
      case 'AWS':
        for (const v of values) {
          if (v === '*') spec.any = true;
          else if (ACCOUNT.test(v) || PRINCIPAL_ARN.test(v)) spec.aws.push(v);
          else problems.push(`${path}.AWS "${v}" is not "*", a 12-digit account id, or an account, user or role ARN`);
        }
        break;
      case 'Service':
        spec.service.push(...values);
        break;
      case 'Federated':
        spec.federated.push(...values);
        break;
      case 'CanonicalUser':
        spec.canonicalUser.push(...values);
        break;
      default:
        problems.push(`${path} has unknown principal type "${key}" (expected AWS, Service, Federated or CanonicalUser)`);
    }
  }
  return spec;
}

/** Splits `ForAllValues:StringLikeIfExists` into its parts; null when not an operator. */
export function parseOperatorName(name: string): { operator: ConditionOperator; qualifier: SetQualifier | null; ifExists: boolean } | null {
  let rest = name;
  let qualifier: SetQualifier | null = null;
  for (const q of ['ForAnyValue', 'ForAllValues'] as const) {
    if (rest.startsWith(`${q}:`)) {
      qualifier = q;
      rest = rest.slice(q.length + 1);
    }
  }
  let ifExists = false;
  if (rest.endsWith('IfExists') && rest !== 'IfExists') {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  if (!(conditionOperators as readonly string[]).includes(rest)) return null;
  if (rest === 'Null' && ifExists) return null;
  return { operator: rest as ConditionOperator, qualifier, ifExists };
}

function readConditions(raw: unknown, path: string, problems: string[]): ConditionClause[] {
  if (!isObject(raw)) {
    problems.push(`${path} must be an object of operator → {key: value}`);
    return [];
  }
  const out: ConditionClause[] = [];
  for (const [opName, block] of Object.entries(raw)) {
    const op = parseOperatorName(opName);
    if (!op) {
      problems.push(`${path} has unknown condition operator "${opName}"`);
      continue;
    }
    if (!isObject(block) || Object.keys(block).length === 0) {
      problems.push(`${path}.${opName} must be a non-empty object of condition key → value(s)`);
      continue;
    }
    for (const [key, value] of Object.entries(block)) {
      const where = `${path}.${opName}.${key}`;
      const items = Array.isArray(value) ? value : [value];
      if (items.length === 0) problems.push(`${where} must have at least one value`);
      const values: string[] = [];
      for (const v of items) {
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') values.push(String(v));
        else problems.push(`${where} values must be strings, numbers or booleans, not ${JSON.stringify(v)}`);
      }
      for (const v of values) {
        const problem = checkConditionValue(op.operator, v);
        if (problem) problems.push(`${where}: ${problem}`);
      }
      out.push({ ...op, key: key.toLowerCase(), values });
    }
  }
  return out;
}

function checkConditionValue(op: ConditionOperator, v: string): string | null {
  if (op === 'IpAddress' || op === 'NotIpAddress') return parseCidr(v) ? null : `"${v}" is not an IP address or CIDR block`;
  if (op.startsWith('Numeric')) return v.trim() !== '' && Number.isFinite(Number(v)) ? null : `"${v}" is not a number`;
  if (op.startsWith('Date')) return parseDate(v) !== null ? null : `"${v}" is not a date (ISO 8601 or epoch seconds)`;
  if (op === 'Bool' || op === 'Null') return /^(true|false)$/i.test(v) ? null : `"${v}" must be "true" or "false"`;
  return null;
}

/** ISO 8601 or epoch seconds, as the Date operators accept; milliseconds or null. */
export function parseDate(v: string): number | null {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}/.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : ms;
}
