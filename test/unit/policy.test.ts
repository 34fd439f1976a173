import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  authorize,
  anonymousPrincipal,
  parsePolicy,
  PolicyValidationError,
  type ContextValue,
  type DecisionReason,
  type PrincipalContext,
} from '../../src/domain/iam/index.js';

// A table of allow/deny decisions through the one evaluator, from policy JSON text as
// operators write it. Account A owns the repositories; B is another account.
const A = '111111111111';
const B = '222222222222';
const repo = (name: string, account = A) => `arn:aws:ecr:us-east-1:${account}:repository/${name}`;
const APP = repo('app');
const API = repo('team/api');

const user = (account: string, name: string): PrincipalContext => ({
  kind: 'user',
  account,
  arn: `arn:aws:iam::${account}:user/${name}`,
  principalArn: `arn:aws:iam::${account}:user/${name}`,
  userName: name,
  userId: `AIDA${name.toUpperCase()}`,
});
const root = (account: string): PrincipalContext => ({ kind: 'root', account, arn: `arn:aws:iam::${account}:root`, principalArn: `arn:aws:iam::${account}:root` });
const session = (account: string, role: string, name: string): PrincipalContext => ({
  kind: 'assumed-role',
  account,
  arn: `arn:aws:sts::${account}:assumed-role/${role}/${name}`,
  principalArn: `arn:aws:iam::${account}:role/${role}`,
});
const alice = user(A, 'alice');
const bob = user(A, 'bob');
const carol = user(B, 'carol');
const deployer = session(A, 'deployer', 'ci-1');
const bRole = session(B, 'puller', 'job-7');
const anon = anonymousPrincipal();

const stmt = (s: object) => JSON.stringify({ Version: '2012-10-17', Statement: [s] });
const allowId = (action: string | string[], resource: string | string[] = '*', extra: object = {}) => stmt({ Effect: 'Allow', Action: action, Resource: resource, ...extra });
const denyId = (action: string | string[], resource: string | string[] = '*', extra: object = {}) => stmt({ Effect: 'Deny', Action: action, Resource: resource, ...extra });
const allowRes = (principal: unknown, action: string | string[], extra: object = {}) => stmt({ Effect: 'Allow', Principal: principal, Action: action, ...extra });
const denyRes = (principal: unknown, action: string | string[], extra: object = {}) => stmt({ Effect: 'Deny', Principal: principal, Action: action, ...extra });
const PULL = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'];

interface Case {
  name: string;
  who: PrincipalContext;
  action: string;
  resource?: string;
  identity?: string[];
  resourcePolicy?: string;
  registryPolicy?: string;
  context?: Record<string, ContextValue>;
  now?: string;
  allowed: boolean;
  reason?: DecisionReason;
}

const cases: Case[] = [
  // ---- identity policies, same account ----
  { name: 'no policies at all: implicit deny', who: alice, action: 'ecr:BatchGetImage', allowed: false, reason: 'implicit-deny' },
  { name: 'exact action allowed', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ecr:BatchGetImage')], allowed: true, reason: 'allowed-by-identity-policy' },
  { name: 'action names are case-insensitive', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ECR:batchgetimage')], allowed: true },
  { name: 'other action not allowed', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:BatchGetImage')], allowed: false },
  { name: 'service wildcard', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*')], allowed: true },
  { name: 'prefix wildcard ecr:Batch*', who: alice, action: 'ecr:BatchCheckLayerAvailability', identity: [allowId('ecr:Batch*')], allowed: true },
  { name: 'prefix wildcard does not reach other names', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:Batch*')], allowed: false },
  { name: '? matches one character', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:P?tImage')], allowed: true },
  { name: 'full wildcard "*"', who: alice, action: 'iam:CreateUser', identity: [allowId('*')], allowed: true },
  { name: 'other service does not match', who: alice, action: 'iam:CreateUser', identity: [allowId('ecr:*')], allowed: false },
  { name: 'NotAction allows everything else', who: alice, action: 'ecr:BatchGetImage', identity: [stmt({ Effect: 'Allow', NotAction: 'ecr:Delete*', Resource: '*' })], allowed: true },
  { name: 'NotAction excludes the named actions', who: alice, action: 'ecr:DeleteRepository', identity: [stmt({ Effect: 'Allow', NotAction: 'ecr:Delete*', Resource: '*' })], allowed: false },
  { name: 'resource ARN exact', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*', APP)], allowed: true },
  { name: 'resource ARN for another repository', who: alice, action: 'ecr:BatchGetImage', resource: API, identity: [allowId('ecr:*', APP)], allowed: false },
  { name: 'resource wildcard over a namespace', who: alice, action: 'ecr:BatchGetImage', resource: API, identity: [allowId('ecr:*', `arn:aws:ecr:us-east-1:${A}:repository/team/*`)], allowed: true },
  { name: 'region wildcard in ARN', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*', `arn:aws:ecr:*:${A}:repository/app`)], allowed: true },
  { name: 'ARN of another account does not match', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*', `arn:aws:ecr:*:${B}:repository/app`)], allowed: false },
  { name: 'resource ARNs are case-sensitive', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*', repo('APP'))], allowed: false },
  { name: 'NotResource excludes a repository', who: alice, action: 'ecr:BatchGetImage', identity: [stmt({ Effect: 'Allow', Action: 'ecr:*', NotResource: APP })], allowed: false },
  { name: 'NotResource admits the others', who: alice, action: 'ecr:BatchGetImage', resource: API, identity: [stmt({ Effect: 'Allow', Action: 'ecr:*', NotResource: APP })], allowed: true },
  { name: 'single statement object, not array', who: alice, action: 'ecr:BatchGetImage', identity: [JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'ecr:*', Resource: '*' } })], allowed: true },
  { name: 'allow in one policy, another policy silent', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:BatchGetImage'), allowId('ecr:PutImage')], allowed: true },
  { name: 'explicit deny beats allow (same policy set)', who: alice, action: 'ecr:DeleteRepository', identity: [allowId('*'), denyId('ecr:DeleteRepository')], allowed: false, reason: 'explicit-deny' },
  { name: 'deny of another action does not block', who: alice, action: 'ecr:PutImage', identity: [allowId('*'), denyId('ecr:DeleteRepository')], allowed: true },
  { name: 'deny with NotResource spares the named repository', who: alice, action: 'ecr:PutImage', identity: [allowId('*'), stmt({ Effect: 'Deny', Action: 'ecr:*', NotResource: APP })], allowed: true },
  { name: 'policy variable ${aws:username} in Resource', who: alice, action: 'ecr:PutImage', resource: repo('alice/tool'), identity: [allowId('ecr:*', `arn:aws:ecr:*:${A}:repository/\${aws:username}/*`)], allowed: true },
  { name: 'policy variable does not match another user', who: bob, action: 'ecr:PutImage', resource: repo('alice/tool'), identity: [allowId('ecr:*', `arn:aws:ecr:*:${A}:repository/\${aws:username}/*`)], allowed: false },
  { name: 'root of the account needs no policy', who: root(A), action: 'ecr:DeleteRepository', allowed: true },
  { name: 'root is still bound by a repository Deny', who: root(A), action: 'ecr:DeleteRepository', resourcePolicy: denyRes('*', 'ecr:DeleteRepository'), allowed: false, reason: 'explicit-deny' },

  // ---- resource (repository) policies, same account ----
  { name: 'repository policy naming the user allows alone', who: alice, action: 'ecr:BatchGetImage', resourcePolicy: allowRes({ AWS: alice.arn }, PULL), allowed: true, reason: 'allowed-by-resource-policy' },
  { name: 'repository policy naming another user', who: bob, action: 'ecr:BatchGetImage', resourcePolicy: allowRes({ AWS: alice.arn }, PULL), allowed: false },
  { name: 'repository policy naming the account delegates: identity needed', who: alice, action: 'ecr:BatchGetImage', resourcePolicy: allowRes({ AWS: A }, PULL), allowed: false },
  { name: 'account principal plus identity allow', who: alice, action: 'ecr:BatchGetImage', identity: [allowId('ecr:BatchGetImage')], resourcePolicy: allowRes({ AWS: `arn:aws:iam::${A}:root` }, PULL), allowed: true },
  { name: 'repository policy for "*" allows same-account user', who: bob, action: 'ecr:BatchGetImage', resourcePolicy: allowRes('*', PULL), allowed: true },
  { name: 'repository policy {"AWS":"*"} allows', who: bob, action: 'ecr:GetDownloadUrlForLayer', resourcePolicy: allowRes({ AWS: '*' }, PULL), allowed: true },
  { name: 'role session matched by role ARN', who: deployer, action: 'ecr:PutImage', resourcePolicy: allowRes({ AWS: `arn:aws:iam::${A}:role/deployer` }, 'ecr:PutImage'), allowed: true },
  { name: 'role session matched by session ARN', who: deployer, action: 'ecr:PutImage', resourcePolicy: allowRes({ AWS: deployer.arn }, 'ecr:PutImage'), allowed: true },
  { name: 'other role does not match', who: deployer, action: 'ecr:PutImage', resourcePolicy: allowRes({ AWS: `arn:aws:iam::${A}:role/other` }, 'ecr:PutImage'), allowed: false },
  { name: 'identity allow but repository denies the user', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*')], resourcePolicy: denyRes({ AWS: alice.arn }, 'ecr:PutImage'), allowed: false, reason: 'explicit-deny' },
  { name: 'repository deny for another user does not apply', who: bob, action: 'ecr:PutImage', identity: [allowId('ecr:*')], resourcePolicy: denyRes({ AWS: alice.arn }, 'ecr:PutImage'), allowed: true },
  { name: 'NotPrincipal deny spares the named user', who: alice, action: 'ecr:DeleteRepository', identity: [allowId('*')], resourcePolicy: stmt({ Effect: 'Deny', NotPrincipal: { AWS: alice.arn }, Action: 'ecr:DeleteRepository' }), allowed: true },
  { name: 'NotPrincipal deny hits everyone else', who: bob, action: 'ecr:DeleteRepository', identity: [allowId('*')], resourcePolicy: stmt({ Effect: 'Deny', NotPrincipal: { AWS: alice.arn }, Action: 'ecr:DeleteRepository' }), allowed: false },
  { name: 'registry policy deny applies to the repository', who: alice, action: 'ecr:CreateRepository', identity: [allowId('*')], registryPolicy: denyRes('*', 'ecr:CreateRepository'), allowed: false },

  // ---- anonymous ----
  { name: 'anonymous pull from a public repository', who: anon, action: 'ecr:BatchGetImage', resourcePolicy: allowRes('*', PULL), allowed: true },
  { name: 'anonymous push to a public repository', who: anon, action: 'ecr:PutImage', resourcePolicy: allowRes('*', PULL), allowed: false },
  { name: 'anonymous without a repository policy', who: anon, action: 'ecr:BatchGetImage', allowed: false },
  { name: 'anonymous never matches an account principal', who: anon, action: 'ecr:BatchGetImage', resourcePolicy: allowRes({ AWS: A }, PULL), allowed: false },

  // ---- cross-account ----
  { name: 'cross-account: resource policy alone is not enough', who: carol, action: 'ecr:BatchGetImage', resourcePolicy: allowRes({ AWS: B }, PULL), allowed: false, reason: 'cross-account-identity-policy-missing' },
  { name: 'cross-account: identity policy alone is not enough', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*')], allowed: false, reason: 'cross-account-resource-policy-missing' },
  { name: 'cross-account: both allow', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*')], resourcePolicy: allowRes({ AWS: B }, PULL), allowed: true, reason: 'allowed-by-identity-and-resource-policy' },
  { name: 'cross-account: both allow via root ARN principal', who: carol, action: 'ecr:BatchGetImage', identity: [allowId(PULL, APP)], resourcePolicy: allowRes({ AWS: `arn:aws:iam::${B}:root` }, PULL), allowed: true },
  { name: 'cross-account: resource policy names the user ARN', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*')], resourcePolicy: allowRes({ AWS: carol.arn }, PULL), allowed: true },
  { name: 'cross-account: resource policy names a different account', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*')], resourcePolicy: allowRes({ AWS: '333333333333' }, PULL), allowed: false },
  { name: 'cross-account: action outside the grant', who: carol, action: 'ecr:PutImage', identity: [allowId('ecr:*')], resourcePolicy: allowRes({ AWS: B }, PULL), allowed: false },
  { name: 'cross-account: identity allows only another repository', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*', API)], resourcePolicy: allowRes({ AWS: B }, PULL), allowed: false },
  { name: 'cross-account: identity deny wins over both allows', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*'), denyId('ecr:BatchGetImage', `arn:aws:ecr:*:${A}:*`)], resourcePolicy: allowRes({ AWS: B }, PULL), allowed: false },
  { name: 'cross-account: role session from B', who: bRole, action: 'ecr:BatchGetImage', identity: [allowId(PULL)], resourcePolicy: allowRes({ AWS: `arn:aws:iam::${B}:role/puller` }, PULL), allowed: true },
  { name: 'cross-account: root of B with a grant to B', who: root(B), action: 'ecr:BatchGetImage', resourcePolicy: allowRes({ AWS: B }, PULL), allowed: true },
  { name: 'cross-account: root of B without a grant', who: root(B), action: 'ecr:BatchGetImage', allowed: false },
  { name: 'cross-account: "*" grant still needs the caller identity allow', who: carol, action: 'ecr:BatchGetImage', resourcePolicy: allowRes('*', PULL), allowed: false },
  { name: 'cross-account: aws:PrincipalAccount condition', who: carol, action: 'ecr:BatchGetImage', identity: [allowId('ecr:*')], resourcePolicy: allowRes('*', PULL, { Condition: { StringEquals: { 'aws:PrincipalAccount': B } } }), allowed: true },
  { name: 'cross-account: aws:PrincipalAccount condition excludes others', who: user('333333333333', 'dave'), action: 'ecr:BatchGetImage', identity: [allowId('ecr:*')], resourcePolicy: allowRes('*', PULL, { Condition: { StringEquals: { 'aws:PrincipalAccount': B } } }), allowed: false },

  // ---- conditions ----
  { name: 'IpAddress in range', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })], context: { 'aws:SourceIp': '10.1.2.3' }, allowed: true },
  { name: 'IpAddress out of range', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })], context: { 'aws:SourceIp': '192.168.1.1' }, allowed: false },
  { name: 'IpAddress with IPv4-mapped IPv6 source', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })], context: { 'aws:SourceIp': '::ffff:10.9.9.9' }, allowed: true },
  { name: 'IpAddress IPv6 range', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } } })], context: { 'aws:SourceIp': '2001:db8:1::5' }, allowed: true },
  { name: 'IpAddress IPv6 out of range', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } } })], context: { 'aws:SourceIp': '2001:db9::1' }, allowed: false },
  { name: 'IpAddress with key missing', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })], allowed: false },
  { name: 'NotIpAddress deny for outsiders', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*'), denyId('*', '*', { Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '127.0.0.1'] } } })], context: { 'aws:SourceIp': '127.0.0.1' }, allowed: true },
  { name: 'NotIpAddress deny catches an outsider', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*'), denyId('*', '*', { Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '127.0.0.1'] } } })], context: { 'aws:SourceIp': '8.8.8.8' }, allowed: false },
  { name: 'Bool aws:SecureTransport false denies', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*'), denyId('*', '*', { Condition: { Bool: { 'aws:SecureTransport': 'false' } } })], context: { 'aws:SecureTransport': false }, allowed: false },
  { name: 'Bool aws:SecureTransport true passes', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*'), denyId('*', '*', { Condition: { Bool: { 'aws:SecureTransport': false } } })], context: { 'aws:SecureTransport': true }, allowed: true },
  { name: 'condition key names are case-insensitive', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { IpAddress: { 'AWS:SOURCEIP': '10.0.0.0/8' } } })], context: { 'aws:SourceIp': '10.0.0.1' }, allowed: true },
  { name: 'StringEquals aws:ResourceTag matches', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEquals: { 'aws:ResourceTag/team': 'web' } } })], context: { 'aws:ResourceTag/team': 'web' }, allowed: true },
  { name: 'StringEquals aws:ResourceTag differs', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEquals: { 'aws:ResourceTag/team': 'web' } } })], context: { 'aws:ResourceTag/team': 'Web' }, allowed: false },
  { name: 'StringEqualsIgnoreCase ignores case', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEqualsIgnoreCase: { 'aws:ResourceTag/team': 'web' } } })], context: { 'aws:ResourceTag/team': 'Web' }, allowed: true },
  { name: 'StringLike with wildcard', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringLike: { 'aws:ResourceTag/env': 'prod-*' } } })], context: { 'aws:ResourceTag/env': 'prod-eu' }, allowed: true },
  { name: 'StringNotEquals with key missing holds', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringNotEquals: { 'aws:ResourceTag/env': 'prod' } } })], allowed: true },
  { name: 'StringNotEquals with equal value fails', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringNotEquals: { 'aws:ResourceTag/env': 'prod' } } })], context: { 'aws:ResourceTag/env': 'prod' }, allowed: false },
  { name: 'StringEqualsIfExists with key missing holds', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEqualsIfExists: { 'aws:ResourceTag/env': 'dev' } } })], allowed: true },
  { name: 'StringEqualsIfExists with other value fails', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEqualsIfExists: { 'aws:ResourceTag/env': 'dev' } } })], context: { 'aws:ResourceTag/env': 'prod' }, allowed: false },
  { name: 'values of one key are alternatives (OR)', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEquals: { 'aws:ResourceTag/env': ['dev', 'test'] } } })], context: { 'aws:ResourceTag/env': 'test' }, allowed: true },
  { name: 'two keys must both hold (AND)', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEquals: { 'aws:ResourceTag/env': 'dev', 'aws:ResourceTag/team': 'web' } } })], context: { 'aws:ResourceTag/env': 'dev', 'aws:ResourceTag/team': 'ops' }, allowed: false },
  { name: 'two operators must both hold (AND)', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { StringEquals: { 'aws:ResourceTag/env': 'dev' }, IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })], context: { 'aws:ResourceTag/env': 'dev', 'aws:SourceIp': '10.0.0.1' }, allowed: true },
  { name: 'ArnLike on aws:PrincipalArn', who: deployer, action: 'ecr:PutImage', resourcePolicy: allowRes('*', 'ecr:PutImage', { Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/deploy*` } } }), allowed: true },
  { name: 'ArnLike on aws:PrincipalArn rejects a user', who: alice, action: 'ecr:PutImage', resourcePolicy: allowRes('*', 'ecr:PutImage', { Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/deploy*` } } }), allowed: false },
  { name: 'ArnNotEquals deny spares the admin role', who: deployer, action: 'ecr:DeleteRepository', identity: [allowId('*')], resourcePolicy: denyRes('*', 'ecr:Delete*', { Condition: { ArnNotEquals: { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/deployer` } } }), allowed: true },
  { name: 'DateLessThan before the cutoff', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } } })], now: '2029-06-01T00:00:00Z', allowed: true },
  { name: 'DateLessThan after the cutoff', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } } })], now: '2030-06-01T00:00:00Z', allowed: false },
  { name: 'DateGreaterThan with epoch seconds', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { DateGreaterThan: { 'aws:CurrentTime': '1893456000' } } })], now: '2030-06-01T00:00:00Z', allowed: true },
  { name: 'NumericLessThan on aws:EpochTime', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { NumericLessThan: { 'aws:EpochTime': 1893456000 } } })], now: '2029-01-01T00:00:00Z', allowed: true },
  { name: 'Null true: key absent', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { Null: { 'aws:ResourceTag/owner': 'true' } } })], allowed: true },
  { name: 'Null true: key present fails', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { Null: { 'aws:ResourceTag/owner': 'true' } } })], context: { 'aws:ResourceTag/owner': 'x' }, allowed: false },
  { name: 'Null false: key present', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*', '*', { Condition: { Null: { 'aws:ResourceTag/owner': false } } })], context: { 'aws:ResourceTag/owner': 'x' }, allowed: true },
  { name: 'ForAllValues: every value allowed', who: alice, action: 'ecr:TagResource', identity: [allowId('ecr:*', '*', { Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'team'] } } })], context: { 'aws:TagKeys': ['env'] }, allowed: true },
  { name: 'ForAllValues: one value outside fails', who: alice, action: 'ecr:TagResource', identity: [allowId('ecr:*', '*', { Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'team'] } } })], context: { 'aws:TagKeys': ['env', 'cost'] }, allowed: false },
  { name: 'ForAllValues: missing key holds', who: alice, action: 'ecr:TagResource', identity: [allowId('ecr:*', '*', { Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env'] } } })], allowed: true },
  { name: 'ForAnyValue: one value matches', who: alice, action: 'ecr:TagResource', identity: [allowId('ecr:*', '*', { Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': 'cost*' } } })], context: { 'aws:TagKeys': ['env', 'costcenter'] }, allowed: true },
  { name: 'ForAnyValue: missing key fails', who: alice, action: 'ecr:TagResource', identity: [allowId('ecr:*', '*', { Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': 'cost*' } } })], allowed: false },
  { name: 'condition on Deny not met: deny skipped', who: alice, action: 'ecr:PutImage', identity: [allowId('ecr:*'), denyId('ecr:*', '*', { Condition: { StringEquals: { 'aws:ResourceTag/frozen': 'true' } } })], context: { 'aws:ResourceTag/frozen': 'false' }, allowed: true },
];

describe('policy evaluation table', () => {
  test('has at least 60 cases, with cross-account ones', () => {
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    assert.ok(cases.filter((c) => c.name.startsWith('cross-account')).length >= 10);
    assert.ok(cases.some((c) => c.allowed) && cases.some((c) => !c.allowed));
  });
  for (const c of cases) {
    test(c.name, () => {
      const decision = authorize({
        principal: c.who,
        action: c.action,
        resource: c.resource ?? APP,
        resourceAccount: A,
        identityPolicies: (c.identity ?? []).map((p) => parsePolicy(p, 'identity')),
        resourcePolicies: [c.resourcePolicy ? parsePolicy(c.resourcePolicy, 'resource') : null, c.registryPolicy ? parsePolicy(c.registryPolicy, 'resource') : null],
        ...(c.context ? { context: c.context } : {}),
        ...(c.now ? { now: Date.parse(c.now) } : {}),
      });
      assert.equal(decision.allowed, c.allowed, `decision ${decision.reason}`);
      if (c.reason) assert.equal(decision.reason, c.reason);
    });
  }
});

describe('policy validation', () => {
  const problems = (text: string, kind: 'identity' | 'resource' = 'identity') => {
    try {
      parsePolicy(text, kind);
    } catch (err) {
      assert.ok(err instanceof PolicyValidationError);
      return err.problems.join('\n');
    }
    assert.fail('expected a validation error');
  };
  test('invalid JSON', () => assert.match(problems('{"Version":'), /not valid JSON/));
  test('not an object', () => assert.match(problems('[]'), /must be a JSON object/));
  test('missing Statement', () => assert.match(problems('{"Version":"2012-10-17"}'), /no Statement/));
  test('bad Version', () => assert.match(problems(JSON.stringify({ Version: '2020-01-01', Statement: [] })), /Version must be/));
  test('bad Effect', () => assert.match(problems(stmt({ Effect: 'allow', Action: '*', Resource: '*' })), /Statement\[0\]\.Effect must be "Allow" or "Deny"/));
  test('missing Action', () => assert.match(problems(stmt({ Effect: 'Allow', Resource: '*' })), /needs Action or NotAction/));
  test('both Action and NotAction', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', NotAction: 'x:y', Resource: '*' })), /both Action and NotAction/));
  test('malformed action', () => assert.match(problems(stmt({ Effect: 'Allow', Action: 'BatchGetImage', Resource: '*' })), /is not an action/));
  test('identity policy needs Resource', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*' })), /needs Resource or NotResource/));
  test('ARN with too few parts', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: 'arn:aws:ecr:*:repository/app' })), /is not an ARN/));
  test('resource must be an ARN', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: 'repository/app' })), /is not an ARN/));
  test('identity policy with Principal', () => assert.match(problems(stmt({ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' })), /identity policies must not have/));
  test('resource policy without Principal', () => assert.match(problems(stmt({ Effect: 'Allow', Action: 'ecr:*' }), 'resource'), /needs Principal or NotPrincipal/));
  test('bad principal', () => assert.match(problems(stmt({ Effect: 'Allow', Principal: { AWS: 'alice' }, Action: 'ecr:*' }), 'resource'), /Principal\.AWS "alice"/));
  test('unknown principal type', () => assert.match(problems(stmt({ Effect: 'Allow', Principal: { Aws: '*' }, Action: 'ecr:*' }), 'resource'), /unknown principal type "Aws"/));
  test('unknown operator', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEq: { k: 'v' } } })), /unknown condition operator "StringEq"/));
  test('NullIfExists is not an operator', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NullIfExists: { k: 'true' } } })), /unknown condition operator/));
  test('bad CIDR', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } })), /not an IP address or CIDR/));
  test('bad date', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { DateLessThan: { 'aws:CurrentTime': 'tomorrow' } } })), /not a date/));
  test('bad Bool', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'yes' } } })), /"true" or "false"/));
  test('duplicate Sid', () =>
    assert.match(
      problems(JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'a', Effect: 'Allow', Action: '*', Resource: '*' }, { Sid: 'a', Effect: 'Deny', Action: '*', Resource: '*' }] })),
      /Sid "a" is used by more than one/,
    ));
  test('unknown statement field', () => assert.match(problems(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Actions: 'x' })), /unknown field "Actions"/));
  test('every problem is reported', () => {
    const text = problems(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: 'x', Resource: 'y' }] }));
    assert.equal(text.split('\n').length, 3, text);
  });
  test('size limit', () => assert.match(problems.length ? (() => { try { parsePolicy('x'.repeat(20), 'identity', { maxLength: 10 }); } catch (e) { return (e as Error).message; } return ''; })() : '', /limit is 10/));
  test('a valid ECR repository policy parses', () => {
    const doc = parsePolicy(
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'AllowPull', Effect: 'Allow', Principal: { AWS: [`arn:aws:iam::${B}:root`, B] }, Action: PULL }] }),
      'resource',
    );
    assert.equal(doc.statements.length, 1);
    assert.deepEqual(doc.statements[0]!.principal!.aws, [`arn:aws:iam::${B}:root`, B]);
  });
});
