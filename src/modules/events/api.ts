import { randomUUID } from 'node:crypto';
import type { JsonOperation, JsonService } from '../../edges/aws/query-edge.js';
import type { Caller, IdentityService, RequestFacts } from '../../domain/iam/identity-service.js';
import { eventTime, type EventEnvelope } from './envelope.js';
import { EventsError, invalid, notFound } from './errors.js';
import { compilePattern, InvalidPatternError } from './pattern.js';
import type { ApiDestinationRecord, AuthorizationType, ConnectionRecord, EventsStore, RuleRecord, TargetRecord } from './store.js';

// A subset of Amazon EventBridge's API (AWS JSON 1.1, X-Amz-Target `AWSEvents.<Op>`,
// signing name `events`), on the default event bus of each account: rules with event
// patterns, API-destination targets, connections and API destinations, TestEventPattern
// and PutEvents. Shapes, limits and error names follow botocore's events model.

export interface EventsApiOptions {
  store: EventsStore;
  identity: IdentityService;
  region: string;
  /** Matches events against the rules and queues their deliveries (PutEvents). */
  publish(events: EventEnvelope[]): Promise<void>;
  now(): number;
  /** Connections were changed: drop cached OAuth tokens. */
  onConnectionChanged?(arn: string): void;
}

const NAME = /^[.\-_A-Za-z0-9]+$/;
const MAX_TARGETS_PER_RULE = 5;
const seconds = (ms: number) => ms / 1000;

type Input = Record<string, unknown>;

function str(input: Input, field: string, opts: { required?: boolean; max?: number; min?: number; pattern?: RegExp; label?: string } = {}): string | undefined {
  const v = input[field];
  const label = opts.label ?? field[0]!.toLowerCase() + field.slice(1);
  if (v === undefined || v === null) {
    if (opts.required) throw invalid(`1 validation error detected: Value null at '${label}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(`1 validation error detected: Value at '${label}' failed to satisfy constraint: Member must be a string`);
  if (opts.min !== undefined && v.length < opts.min) throw invalid(`1 validation error detected: Value '${v}' at '${label}' failed to satisfy constraint: Member must have length greater than or equal to ${opts.min}`);
  if (opts.max !== undefined && v.length > opts.max) throw invalid(`1 validation error detected: Value at '${label}' failed to satisfy constraint: Member must have length less than or equal to ${opts.max}`);
  if (opts.pattern && !opts.pattern.test(v)) throw invalid(`1 validation error detected: Value '${v}' at '${label}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${opts.pattern.source}`);
  return v;
}

const name = (input: Input, field: string) => str(input, field, { required: true, min: 1, max: 64, pattern: NAME })!;

function limit(input: Input): number {
  const v = input.Limit;
  if (v === undefined || v === null) return 100;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100) throw invalid(`1 validation error detected: Value '${String(v)}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100`);
  return v;
}

/** NextToken: the last name of the previous page, opaque to clients. */
function after(input: Input): string | undefined {
  const token = input.NextToken;
  if (token === undefined || token === null) return undefined;
  if (typeof token !== 'string') throw invalid('The nextToken provided is invalid.');
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    if (typeof parsed.a !== 'string' || !NAME.test(parsed.a)) throw new Error('shape');
    return parsed.a;
  } catch {
    throw invalid('The nextToken provided is invalid.');
  }
}

function page<T extends { name: string }>(items: T[], max: number): { items: T[]; nextToken?: string } {
  if (items.length <= max) return { items };
  const shown = items.slice(0, max);
  return { items: shown, nextToken: Buffer.from(JSON.stringify({ a: shown[shown.length - 1]!.name })).toString('base64url') };
}

/** The default bus, by name or ARN; Berth has no other. */
function requireDefaultBus(input: Input, field = 'EventBusName'): void {
  const bus = input[field];
  if (bus === undefined || bus === null || bus === 'default') return;
  if (typeof bus === 'string' && /^arn:aws[\w-]*:events:[^:]+:\d{12}:event-bus\/default$/.test(bus)) return;
  throw notFound(`Event bus ${String(bus)} does not exist.`);
}

function checkPattern(text: string): void {
  try {
    compilePattern(text);
  } catch (err) {
    if (err instanceof InvalidPatternError) throw new EventsError('InvalidEventPatternException', err.message);
    throw err;
  }
}

export function eventsService(opts: EventsApiOptions): JsonService {
  const { store, identity, region } = opts;
  const arn = (account: string, resource: string) => `arn:aws:events:${region}:${account}:${resource}`;
  const ruleArn = (account: string, rule: string) => arn(account, `rule/${rule}`);
  const connectionArn = (c: ConnectionRecord) => arn(c.accountId, `connection/${c.name}/${c.uuid}`);
  const destinationArn = (d: ApiDestinationRecord) => arn(d.accountId, `api-destination/${d.name}/${d.uuid}`);
  const describeDestination = (d: ApiDestinationRecord) => describeDestinationIn(region, d);
  const allow = (caller: Caller, action: string, resource: string, facts: RequestFacts) => identity.require(caller, `events:${action}`, resource, facts);

  const ruleOrThrow = async (account: string, rule: string): Promise<RuleRecord> => {
    const r = await store.getRule(account, rule);
    if (!r) throw notFound(`Rule ${rule} does not exist on EventBus default.`);
    return r;
  };

  const describeRule = (r: RuleRecord) => ({
    Name: r.name,
    Arn: ruleArn(r.accountId, r.name),
    EventPattern: r.eventPattern,
    State: r.state,
    ...(r.description !== null ? { Description: r.description } : {}),
    EventBusName: 'default',
  });

  const connectionByArn = async (account: string, value: string): Promise<ConnectionRecord | null> => {
    const m = /^arn:aws[\w-]*:events:[^:]*:(\d{12}):connection\/([.\-_A-Za-z0-9]+)\/([-A-Za-z0-9]+)$/.exec(value);
    if (!m || m[1] !== account) return null;
    const c = await store.getConnection(account, m[2]!);
    return c && c.uuid === m[3] ? c : null;
  };

  const operations: Record<string, JsonOperation> = {
    async PutRule({ caller, input, facts }) {
      const rule = name(input, 'Name');
      requireDefaultBus(input);
      await allow(caller, 'PutRule', ruleArn(caller.accountId, rule), facts);
      if (input.ScheduleExpression !== undefined && input.ScheduleExpression !== null) throw invalid('Berth does not run scheduled rules: give an EventPattern instead of a ScheduleExpression.');
      const pattern = str(input, 'EventPattern', { max: 4096 });
      if (pattern === undefined) throw invalid('Parameter(s) EventPattern or ScheduleExpression must be specified.');
      checkPattern(pattern);
      const state = str(input, 'State') ?? 'ENABLED';
      if (state !== 'ENABLED' && state !== 'DISABLED') throw invalid(`1 validation error detected: Value '${state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]`);
      const existing = await store.getRule(caller.accountId, rule);
      await store.putRule({
        accountId: caller.accountId,
        name: rule,
        eventPattern: pattern,
        state,
        description: str(input, 'Description', { max: 512 }) ?? (input.Description === undefined ? (existing?.description ?? null) : null),
        region,
        createdBy: caller.accountId,
        createdAt: existing?.createdAt ?? opts.now(),
      });
      return { RuleArn: ruleArn(caller.accountId, rule) };
    },

    async DescribeRule({ caller, input, facts }) {
      const rule = name(input, 'Name');
      requireDefaultBus(input);
      await allow(caller, 'DescribeRule', ruleArn(caller.accountId, rule), facts);
      const r = await ruleOrThrow(caller.accountId, rule);
      return { ...describeRule(r), CreatedBy: r.createdBy };
    },

    async ListRules({ caller, input, facts }) {
      requireDefaultBus(input);
      await allow(caller, 'ListRules', ruleArn(caller.accountId, '*'), facts);
      const max = limit(input);
      const prefix = str(input, 'NamePrefix', { min: 1, max: 64, pattern: NAME });
      const rules = await store.listRules(caller.accountId, { ...(prefix ? { prefix } : {}), ...withAfter(after(input)), limit: max + 1 });
      const p = page(rules, max);
      return { Rules: p.items.map(describeRule), ...(p.nextToken ? { NextToken: p.nextToken } : {}) };
    },

    async DeleteRule({ caller, input, facts }) {
      const rule = name(input, 'Name');
      requireDefaultBus(input);
      await allow(caller, 'DeleteRule', ruleArn(caller.accountId, rule), facts);
      if (!(await store.getRule(caller.accountId, rule))) return {};
      if ((await store.targets(caller.accountId, rule)).length > 0) throw invalid("Rule can't be deleted since it has targets.");
      await store.deleteRule(caller.accountId, rule);
      return {};
    },

    async EnableRule({ caller, input, facts }) {
      const rule = name(input, 'Name');
      requireDefaultBus(input);
      await allow(caller, 'EnableRule', ruleArn(caller.accountId, rule), facts);
      await ruleOrThrow(caller.accountId, rule);
      await store.setRuleState(caller.accountId, rule, 'ENABLED');
      return {};
    },

    async DisableRule({ caller, input, facts }) {
      const rule = name(input, 'Name');
      requireDefaultBus(input);
      await allow(caller, 'DisableRule', ruleArn(caller.accountId, rule), facts);
      await ruleOrThrow(caller.accountId, rule);
      await store.setRuleState(caller.accountId, rule, 'DISABLED');
      return {};
    },

    async PutTargets({ caller, input, facts }) {
      const rule = name(input, 'Rule');
      requireDefaultBus(input);
      await allow(caller, 'PutTargets', ruleArn(caller.accountId, rule), facts);
      const targets = input.Targets;
      if (!Array.isArray(targets) || targets.length < 1 || targets.length > 100) throw invalid("1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 100");
      await ruleOrThrow(caller.accountId, rule);
      const failed: { TargetId: string; ErrorCode: string; ErrorMessage: string }[] = [];
      const accepted: TargetRecord[] = [];
      for (const raw of targets) {
        if (typeof raw !== 'object' || raw === null) throw invalid("1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must be a structure");
        const t = raw as Input;
        const id = str(t, 'Id', { required: true, min: 1, max: 64, pattern: NAME, label: 'targets.member.id' })!;
        const targetArn = str(t, 'Arn', { required: true, min: 1, max: 1600, label: 'targets.member.arn' })!;
        const problem = targetProblem(caller.accountId, targetArn, t);
        if (problem) failed.push({ TargetId: id, ErrorCode: 'ValidationException', ErrorMessage: problem });
        else accepted.push({ accountId: caller.accountId, ruleName: rule, id, arn: targetArn, spec: t });
      }
      const existing = await store.targets(caller.accountId, rule);
      const ids = new Set([...existing.map((t) => t.id), ...accepted.map((t) => t.id)]);
      if (ids.size > MAX_TARGETS_PER_RULE) throw new EventsError('LimitExceededException', `The requested resource exceeds the maximum number allowed (${MAX_TARGETS_PER_RULE} targets per rule).`);
      await store.putTargets(accepted);
      return { FailedEntryCount: failed.length, FailedEntries: failed };
    },

    async RemoveTargets({ caller, input, facts }) {
      const rule = name(input, 'Rule');
      requireDefaultBus(input);
      await allow(caller, 'RemoveTargets', ruleArn(caller.accountId, rule), facts);
      const ids = input.Ids;
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > 100 || !ids.every((i) => typeof i === 'string' && NAME.test(i))) throw invalid("1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and 100");
      await ruleOrThrow(caller.accountId, rule);
      await store.removeTargets(caller.accountId, rule, ids as string[]);
      return { FailedEntryCount: 0, FailedEntries: [] };
    },

    async ListTargetsByRule({ caller, input, facts }) {
      const rule = name(input, 'Rule');
      requireDefaultBus(input);
      await allow(caller, 'ListTargetsByRule', ruleArn(caller.accountId, rule), facts);
      await ruleOrThrow(caller.accountId, rule);
      const max = limit(input);
      const from = after(input);
      const targets = (await store.targets(caller.accountId, rule)).filter((t) => from === undefined || t.id > from);
      const p = page(
        targets.map((t) => ({ name: t.id, t })),
        max,
      );
      return { Targets: p.items.map(({ t }) => t.spec), ...(p.nextToken ? { NextToken: p.nextToken } : {}) };
    },

    async CreateConnection({ caller, input, facts }) {
      const connection = name(input, 'Name');
      await allow(caller, 'CreateConnection', arn(caller.accountId, `connection/${connection}`), facts);
      const type = str(input, 'AuthorizationType', { required: true }) as AuthorizationType;
      const params = input.AuthParameters;
      if (typeof params !== 'object' || params === null) throw invalid("1 validation error detected: Value null at 'authParameters' failed to satisfy constraint: Member must not be null");
      const { authPublic, authSecret, primarySecret } = parseAuth(type, params as Input);
      const signingSecret = invocationSigningSecret(authSecret) ?? primarySecret;
      const now = opts.now();
      const record: ConnectionRecord = {
        accountId: caller.accountId,
        name: connection,
        uuid: randomUUID(),
        description: str(input, 'Description', { max: 512 }) ?? null,
        authorizationType: type,
        authPublic,
        authSecret,
        signingSecret,
        state: 'AUTHORIZED',
        createdAt: now,
        modifiedAt: now,
        authorizedAt: now,
      };
      if (!(await store.createConnection(record))) throw new EventsError('ResourceAlreadyExistsException', `Connection ${connection} already exists.`);
      return { ConnectionArn: connectionArn(record), ConnectionState: record.state, CreationTime: seconds(now), LastModifiedTime: seconds(now) };
    },

    async DescribeConnection({ caller, input, facts }) {
      const connection = name(input, 'Name');
      await allow(caller, 'DescribeConnection', arn(caller.accountId, `connection/${connection}`), facts);
      const c = await store.getConnection(caller.accountId, connection);
      if (!c) throw notFound(`Failed to describe the connection(s). Connection '${connection}' does not exist.`);
      return {
        ConnectionArn: connectionArn(c),
        Name: c.name,
        ...(c.description !== null ? { Description: c.description } : {}),
        ConnectionState: c.state,
        AuthorizationType: c.authorizationType,
        SecretArn: `arn:aws:secretsmanager:${region}:${c.accountId}:secret:events!connection/${c.name}/${c.uuid}`,
        AuthParameters: c.authPublic,
        CreationTime: seconds(c.createdAt),
        LastModifiedTime: seconds(c.modifiedAt),
        ...(c.authorizedAt !== null ? { LastAuthorizedTime: seconds(c.authorizedAt) } : {}),
      };
    },

    async ListConnections({ caller, input, facts }) {
      await allow(caller, 'ListConnections', arn(caller.accountId, 'connection/*'), facts);
      const max = limit(input);
      const prefix = str(input, 'NamePrefix', { min: 1, max: 64, pattern: NAME });
      const state = str(input, 'ConnectionState');
      const list = await store.listConnections(caller.accountId, { ...(prefix ? { prefix } : {}), ...(state ? { state } : {}), ...withAfter(after(input)), limit: max + 1 });
      const p = page(list, max);
      return {
        Connections: p.items.map((c) => ({
          ConnectionArn: connectionArn(c),
          Name: c.name,
          ConnectionState: c.state,
          AuthorizationType: c.authorizationType,
          CreationTime: seconds(c.createdAt),
          LastModifiedTime: seconds(c.modifiedAt),
          ...(c.authorizedAt !== null ? { LastAuthorizedTime: seconds(c.authorizedAt) } : {}),
        })),
        ...(p.nextToken ? { NextToken: p.nextToken } : {}),
      };
    },

    async DeleteConnection({ caller, input, facts }) {
      const connection = name(input, 'Name');
      await allow(caller, 'DeleteConnection', arn(caller.accountId, `connection/${connection}`), facts);
      const c = await store.getConnection(caller.accountId, connection);
      if (!c) throw notFound(`Connection '${connection}' does not exist.`);
      await store.deleteConnection(caller.accountId, connection);
      opts.onConnectionChanged?.(connectionArn(c));
      return {
        ConnectionArn: connectionArn(c),
        ConnectionState: 'DELETING',
        CreationTime: seconds(c.createdAt),
        LastModifiedTime: seconds(c.modifiedAt),
        ...(c.authorizedAt !== null ? { LastAuthorizedTime: seconds(c.authorizedAt) } : {}),
      };
    },

    async CreateApiDestination({ caller, input, facts }) {
      const destination = name(input, 'Name');
      await allow(caller, 'CreateApiDestination', arn(caller.accountId, `api-destination/${destination}`), facts);
      const connArn = str(input, 'ConnectionArn', { required: true, min: 1, max: 1600 })!;
      const endpoint = endpointOf(str(input, 'InvocationEndpoint', { required: true, min: 1, max: 2048 })!, 'invocationEndpoint');
      const method = str(input, 'HttpMethod', { required: true })!;
      if (!['POST', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'DELETE'].includes(method)) throw invalid(`1 validation error detected: Value '${method}' at 'httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE]`);
      const rate = input.InvocationRateLimitPerSecond;
      if (rate !== undefined && rate !== null && (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1)) throw invalid("1 validation error detected: Value at 'invocationRateLimitPerSecond' failed to satisfy constraint: Member must have value greater than or equal to 1");
      if (!(await connectionByArn(caller.accountId, connArn))) throw notFound(`Connection '${connArn}' does not exist.`);
      const now = opts.now();
      const record: ApiDestinationRecord = {
        accountId: caller.accountId,
        name: destination,
        uuid: randomUUID(),
        description: str(input, 'Description', { max: 512 }) ?? null,
        connectionArn: connArn,
        endpoint,
        httpMethod: method,
        rateLimit: typeof rate === 'number' ? rate : 300,
        createdAt: now,
        modifiedAt: now,
      };
      if (!(await store.createApiDestination(record))) throw new EventsError('ResourceAlreadyExistsException', `An api-destination '${destination}' already exists.`);
      return { ApiDestinationArn: destinationArn(record), ApiDestinationState: 'ACTIVE', CreationTime: seconds(now), LastModifiedTime: seconds(now) };
    },

    async DescribeApiDestination({ caller, input, facts }) {
      const destination = name(input, 'Name');
      await allow(caller, 'DescribeApiDestination', arn(caller.accountId, `api-destination/${destination}`), facts);
      const d = await store.getApiDestination(caller.accountId, destination);
      if (!d) throw notFound(`Failed to describe the api-destination(s). An api-destination '${destination}' does not exist.`);
      return describeDestination(d);
    },

    async ListApiDestinations({ caller, input, facts }) {
      await allow(caller, 'ListApiDestinations', arn(caller.accountId, 'api-destination/*'), facts);
      const max = limit(input);
      const prefix = str(input, 'NamePrefix', { min: 1, max: 64, pattern: NAME });
      const conn = str(input, 'ConnectionArn');
      const list = await store.listApiDestinations(caller.accountId, { ...(prefix ? { prefix } : {}), ...(conn ? { connectionArn: conn } : {}), ...withAfter(after(input)), limit: max + 1 });
      const p = page(list, max);
      return { ApiDestinations: p.items.map(describeDestination), ...(p.nextToken ? { NextToken: p.nextToken } : {}) };
    },

    async DeleteApiDestination({ caller, input, facts }) {
      const destination = name(input, 'Name');
      await allow(caller, 'DeleteApiDestination', arn(caller.accountId, `api-destination/${destination}`), facts);
      if (!(await store.getApiDestination(caller.accountId, destination))) throw notFound(`An api-destination '${destination}' does not exist.`);
      await store.deleteApiDestination(caller.accountId, destination);
      return {};
    },

    async TestEventPattern({ caller, input, facts }) {
      await allow(caller, 'TestEventPattern', '*', facts);
      const pattern = str(input, 'EventPattern', { required: true, max: 4096 })!;
      const eventText = str(input, 'Event', { required: true })!;
      let compiled;
      try {
        compiled = compilePattern(pattern);
      } catch (err) {
        if (err instanceof InvalidPatternError) throw new EventsError('InvalidEventPatternException', err.message);
        throw err;
      }
      let event: unknown;
      try {
        event = JSON.parse(eventText);
      } catch {
        throw invalid('Parameter Event is not valid.');
      }
      const e = event as Input;
      const missing = ['id', 'account', 'source', 'time', 'region', 'detail-type'].filter((k) => typeof e?.[k] !== 'string');
      if (typeof event !== 'object' || event === null || Array.isArray(event) || missing.length > 0 || !Array.isArray(e.resources)) {
        throw invalid(`Parameter Event is not valid: an event needs the string fields id, account, source, time, region and detail-type, and a resources array${missing.length ? ` (missing: ${missing.join(', ')})` : ''}.`);
      }
      return { Result: compiled.matches(event) };
    },

    async PutEvents({ caller, input, facts }) {
      const entries = input.Entries;
      if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10) throw invalid("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10");
      if (input.EndpointId !== undefined) throw invalid('Berth has no global endpoints: leave EndpointId out.');
      await allow(caller, 'PutEvents', arn(caller.accountId, 'event-bus/default'), facts);
      const results: Record<string, unknown>[] = [];
      const accepted: EventEnvelope[] = [];
      for (const raw of entries) {
        const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Input;
        const outcome = toUserEvent(entry, caller.accountId, region, opts.now());
        if ('error' in outcome) results.push({ ErrorCode: outcome.error, ErrorMessage: outcome.message });
        else {
          accepted.push(outcome.event);
          results.push({ EventId: outcome.event.id });
        }
      }
      await opts.publish(accepted);
      return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
    },
  };

  return { targetPrefix: 'AWSEvents', signingName: 'events', regional: true, operations };
}

const withAfter = (a: string | undefined) => (a === undefined ? {} : { after: a });

function describeDestinationIn(region: string, d: ApiDestinationRecord) {
  return {
    ApiDestinationArn: `arn:aws:events:${region}:${d.accountId}:api-destination/${d.name}/${d.uuid}`,
    Name: d.name,
    ...(d.description !== null ? { Description: d.description } : {}),
    ApiDestinationState: 'ACTIVE',
    ConnectionArn: d.connectionArn,
    InvocationEndpoint: d.endpoint,
    HttpMethod: d.httpMethod,
    ...(d.rateLimit !== null ? { InvocationRateLimitPerSecond: d.rateLimit } : {}),
    CreationTime: d.createdAt / 1000,
    LastModifiedTime: d.modifiedAt / 1000,
  };
}

/** Berth delivers to API destinations of the rule's own account; anything else is refused at PutTargets. */
function targetProblem(account: string, targetArn: string, t: Input): string | null {
  const m = /^arn:aws[\w-]*:events:[^:]*:(\d{12}):api-destination\/[.\-_A-Za-z0-9]+\/[-A-Za-z0-9]+$/.exec(targetArn);
  if (!m) return `Berth delivers only to API destinations (arn:aws:events:<region>:<account>:api-destination/<name>/<id>), not to ${targetArn}.`;
  if (m[1] !== account) return 'The API destination must belong to the account of the rule.';
  if (t.InputTransformer !== undefined) return 'InputTransformer is not supported by Berth; use Input or InputPath.';
  if (t.Input !== undefined && t.InputPath !== undefined) return 'Only one of Input and InputPath may be given.';
  if (typeof t.Input === 'string') {
    try {
      JSON.parse(t.Input);
    } catch {
      return 'Input must be valid JSON text.';
    }
  }
  if (t.InputPath !== undefined && (typeof t.InputPath !== 'string' || !/^\$(\.[A-Za-z0-9_-]+)*$/.test(t.InputPath))) return 'InputPath must be a JSONPath of the form $.a.b.';
  const retry = t.RetryPolicy as Input | undefined;
  if (retry !== undefined) {
    const attempts = retry.MaximumRetryAttempts;
    const age = retry.MaximumEventAgeInSeconds;
    if (attempts !== undefined && (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 0 || attempts > 185)) return 'RetryPolicy.MaximumRetryAttempts must be between 0 and 185.';
    if (age !== undefined && (typeof age !== 'number' || !Number.isInteger(age) || age < 60 || age > 86400)) return 'RetryPolicy.MaximumEventAgeInSeconds must be between 60 and 86400.';
  }
  return null;
}

function endpointOf(value: string, label: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`1 validation error detected: Value '${value}' at '${label}' failed to satisfy constraint: Member must be an http or https URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(`1 validation error detected: Value '${value}' at '${label}' failed to satisfy constraint: Member must be an http or https URL`);
  return value;
}

const HEADER_VALUE = /^[ \t]*[^\x00-\x1F:\x7F]+([ \t]+[^\x00-\x1F:\x7F]+)*[ \t]*$/;

/** Splits AuthParameters into what DescribeConnection shows and what stays sealed. */
function parseAuth(type: AuthorizationType, params: Input): { authPublic: Input; authSecret: Input; primarySecret: string } {
  const section = (key: string): Input => {
    const v = params[key];
    if (typeof v !== 'object' || v === null) throw invalid(`AuthParameters.${key} must be given for AuthorizationType ${type}.`);
    return v as Input;
  };
  const field = (obj: Input, key: string, label: string): string => {
    const v = obj[key];
    if (typeof v !== 'string' || v.length < 1 || v.length > 512 || !HEADER_VALUE.test(v)) throw invalid(`1 validation error detected: Value at '${label}' failed to satisfy constraint: Member must be a header-safe string of 1 to 512 characters`);
    return v;
  };
  const invocation = params.InvocationHttpParameters as Input | undefined;
  const publicHttp = (p: Input | undefined) => (p === undefined ? {} : { InvocationHttpParameters: redactHttp(p) });
  switch (type) {
    case 'API_KEY': {
      const s = section('ApiKeyAuthParameters');
      const key = field(s, 'ApiKeyName', 'authParameters.apiKeyAuthParameters.apiKeyName');
      const value = field(s, 'ApiKeyValue', 'authParameters.apiKeyAuthParameters.apiKeyValue');
      return { authPublic: { ApiKeyAuthParameters: { ApiKeyName: key }, ...publicHttp(invocation) }, authSecret: params, primarySecret: value };
    }
    case 'BASIC': {
      const s = section('BasicAuthParameters');
      const user = field(s, 'Username', 'authParameters.basicAuthParameters.username');
      const password = field(s, 'Password', 'authParameters.basicAuthParameters.password');
      return { authPublic: { BasicAuthParameters: { Username: user }, ...publicHttp(invocation) }, authSecret: params, primarySecret: password };
    }
    case 'OAUTH_CLIENT_CREDENTIALS': {
      const s = section('OAuthParameters');
      const client = (s.ClientParameters ?? {}) as Input;
      const id = field(client, 'ClientID', 'authParameters.oAuthParameters.clientParameters.clientID');
      const secret = field(client, 'ClientSecret', 'authParameters.oAuthParameters.clientParameters.clientSecret');
      const endpoint = endpointOf(String(s.AuthorizationEndpoint ?? ''), 'authParameters.oAuthParameters.authorizationEndpoint');
      const method = s.HttpMethod;
      if (method !== 'GET' && method !== 'POST' && method !== 'PUT') throw invalid("1 validation error detected: Value at 'authParameters.oAuthParameters.httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [GET, POST, PUT]");
      const oauthHttp = s.OAuthHttpParameters as Input | undefined;
      return {
        authPublic: {
          OAuthParameters: { ClientParameters: { ClientID: id }, AuthorizationEndpoint: endpoint, HttpMethod: method, ...(oauthHttp ? { OAuthHttpParameters: redactHttp(oauthHttp) } : {}) },
          ...publicHttp(invocation),
        },
        authSecret: params,
        primarySecret: secret,
      };
    }
    default:
      throw invalid(`1 validation error detected: Value '${String(type)}' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]`);
  }
}

/** The Berth convention for choosing the HMAC key: an invocation header parameter of this name (never sent). */
export const SIGNING_SECRET_PARAMETER = 'X-Berth-Signing-Secret';

function invocationSigningSecret(auth: Input): string | null {
  const headers = ((auth.InvocationHttpParameters as Input | undefined)?.HeaderParameters ?? []) as Input[];
  const found = Array.isArray(headers) ? headers.find((h) => typeof h?.Key === 'string' && h.Key.toLowerCase() === SIGNING_SECRET_PARAMETER.toLowerCase()) : undefined;
  return found && typeof found.Value === 'string' && found.Value.length > 0 ? found.Value : null;
}

/** Secret parameter values (IsValueSecret) are not shown back, as EventBridge keeps them in Secrets Manager. */
function redactHttp(p: Input): Input {
  const redact = (list: unknown) =>
    Array.isArray(list)
      ? list
          .filter((x) => !(typeof x?.Key === 'string' && x.Key.toLowerCase() === SIGNING_SECRET_PARAMETER.toLowerCase()))
          .map((x: Input) => (x?.IsValueSecret ? { Key: x.Key, IsValueSecret: true } : x))
      : undefined;
  const out: Input = {};
  for (const k of ['HeaderParameters', 'QueryStringParameters', 'BodyParameters']) if (p[k] !== undefined) out[k] = redact(p[k]);
  return out;
}

/** A PutEvents entry as an event, or the entry's error as PutEvents reports it. */
function toUserEvent(entry: Input, account: string, region: string, now: number): { event: EventEnvelope } | { error: string; message: string } {
  const source = entry.Source;
  const detailType = entry.DetailType;
  const detail = entry.Detail;
  if (typeof source !== 'string' || typeof detailType !== 'string' || typeof detail !== 'string' || source === '' || detailType === '') {
    return { error: 'InvalidArgument', message: 'Parameter(s) Source, DetailType, or Detail must be specified.' };
  }
  if (source.startsWith('aws.')) return { error: 'NotAuthorizedForSourceException', message: 'Not authorized for the source.' };
  if (entry.EventBusName !== undefined && entry.EventBusName !== 'default' && !(typeof entry.EventBusName === 'string' && entry.EventBusName.endsWith(':event-bus/default'))) {
    return { error: 'InvalidArgument', message: `Event bus ${String(entry.EventBusName)} does not exist.` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(detail);
  } catch {
    return { error: 'MalformedDetail', message: 'Detail is malformed.' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { error: 'MalformedDetail', message: 'Detail is malformed.' };
  const resources = Array.isArray(entry.Resources) ? entry.Resources.filter((r): r is string => typeof r === 'string') : [];
  const time = typeof entry.Time === 'number' ? entry.Time * 1000 : typeof entry.Time === 'string' && !Number.isNaN(Date.parse(entry.Time)) ? Date.parse(entry.Time) : now;
  return {
    event: { version: '0', id: randomUUID(), 'detail-type': detailType, source, account, time: eventTime(time), region, resources, detail: parsed as Record<string, unknown> },
  };
}
