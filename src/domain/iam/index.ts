export * from './policy.js';
export * from './evaluate.js';
export { evaluateClause, type ConditionContext } from './conditions.js';
export { arnMatch, wildcardMatch } from './wildcard.js';
export { parseIp, parseCidr, cidrContains } from './ip.js';
export * from './arns.js';
