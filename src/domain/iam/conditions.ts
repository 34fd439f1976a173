// Condition blocks: every operator of a block, every key of an operator and every
// clause must hold (AND); the values listed for one key are alternatives (OR).

import { cidrContains, parseCidr, parseIp } from './ip.js';
import { parseDate, type ConditionClause, type ConditionOperator } from './policy.js';
import { arnMatch, wildcardMatch } from './wildcard.js';

/** The request context: lower-cased key → values (multi-valued keys have several). */
export type ConditionContext = ReadonlyMap<string, readonly string[]>;

const negated: ReadonlySet<ConditionOperator> = new Set<ConditionOperator>([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'NumericNotEquals',
  'DateNotEquals',
  'NotIpAddress',
  'ArnNotEquals',
  'ArnNotLike',
]);

const positiveOf: Partial<Record<ConditionOperator, ConditionOperator>> = {
  StringNotEquals: 'StringEquals',
  StringNotEqualsIgnoreCase: 'StringEqualsIgnoreCase',
  StringNotLike: 'StringLike',
  NumericNotEquals: 'NumericEquals',
  DateNotEquals: 'DateEquals',
  NotIpAddress: 'IpAddress',
  ArnNotEquals: 'ArnEquals',
  ArnNotLike: 'ArnLike',
};

function compare(op: ConditionOperator, actual: string, expected: string): boolean {
  switch (op) {
    case 'StringEquals':
    case 'BinaryEquals':
      return actual === expected;
    case 'StringEqualsIgnoreCase':
      return actual.toLowerCase() === expected.toLowerCase();
    case 'StringLike':
      return wildcardMatch(expected, actual);
    case 'ArnEquals':
    case 'ArnLike':
      return arnMatch(expected, actual);
    case 'Bool':
      return actual.toLowerCase() === expected.toLowerCase();
    case 'IpAddress': {
      const ip = parseIp(actual);
      const cidr = parseCidr(expected);
      return !!ip && !!cidr && cidrContains(cidr, ip);
    }
    default:
      break;
  }
  if (op.startsWith('Numeric')) {
    const a = Number(actual);
    const e = Number(expected);
    if (actual.trim() === '' || Number.isNaN(a) || Number.isNaN(e)) return false;
    return ordered(op.slice('Numeric'.length), a, e);
  }
  if (op.startsWith('Date')) {
    const a = parseDate(actual);
    const e = parseDate(expected);
    if (a === null || e === null) return false;
    return ordered(op.slice('Date'.length), a, e);
  }
  return false;
}

function ordered(relation: string, a: number, e: number): boolean {
  switch (relation) {
    case 'Equals':
      return a === e;
    case 'LessThan':
      return a < e;
    case 'LessThanEquals':
      return a <= e;
    case 'GreaterThan':
      return a > e;
    case 'GreaterThanEquals':
      return a >= e;
    default:
      return false;
  }
}

/** Does one context value satisfy the operator against the policy's alternatives? */
function matchesValue(op: ConditionOperator, actual: string, expected: readonly string[]): boolean {
  const positive = positiveOf[op];
  if (positive) return !expected.some((e) => compare(positive, actual, e));
  return expected.some((e) => compare(op, actual, e));
}

export function evaluateClause(clause: ConditionClause, context: ConditionContext, values: readonly string[] = clause.values): boolean {
  const actual = context.get(clause.key);
  const present = actual !== undefined && actual.length > 0;
  if (clause.operator === 'Null') {
    // {"Null": {"key": "true"}} holds when the key is absent.
    return values.some((v) => (v.toLowerCase() === 'true') === !present);
  }
  if (!present) {
    if (clause.qualifier === 'ForAllValues') return true; // vacuously: no value fails
    if (clause.ifExists) return true;
    if (clause.qualifier === 'ForAnyValue') return false;
    return negated.has(clause.operator);
  }
  if (clause.qualifier === 'ForAllValues') return actual.every((a) => matchesValue(clause.operator, a, values));
  if (clause.qualifier === 'ForAnyValue') return actual.some((a) => matchesValue(clause.operator, a, values));
  // Without a qualifier a negated operator means "no value matches any alternative".
  const positive = positiveOf[clause.operator];
  if (positive) return !actual.some((a) => expectedSome(positive, a, values));
  return actual.some((a) => expectedSome(clause.operator, a, values));
}

function expectedSome(op: ConditionOperator, actual: string, expected: readonly string[]): boolean {
  return expected.some((e) => compare(op, actual, e));
}
