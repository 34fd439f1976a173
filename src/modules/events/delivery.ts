import { createHmac, randomUUID } from 'node:crypto';
import type { EventEnvelope } from './envelope.js';
import { compilePattern, type CompiledPattern } from './pattern.js';
import { SIGNING_SECRET_PARAMETER } from './api.js';
import type { ConnectionRecord, DeliveryRecord, EventsStore, NewDelivery, TargetRecord } from './store.js';

// Matching and delivery. Every event (ECR's, from the change feed, and users', from
// PutEvents) is matched against the enabled rules of its account; each matching target
// gets a delivery row. Each target's deliveries go out one at a time in row order (the
// outbox order), by whichever node holds the target's lease, so a slow or failing target
// holds up only itself. A failed attempt is retried with exponential backoff until the
// target's RetryPolicy (MaximumRetryAttempts, MaximumEventAgeInSeconds; EventBridge's
// defaults 185 and 24 h) runs out; then the delivery is dead-lettered: it stays, state
// 'dead', with its last status and error, listed by `berth events dead-letters`.

export interface RetryDefaults {
  /** First retry delay; doubles per attempt up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  maximumEventAgeMs: number;
  maximumRetryAttempts: number;
}

export interface DeliveryOptions {
  store: EventsStore;
  now(): number;
  retry: RetryDefaults;
  /** Per request, as EventBridge gives API destinations 5 s. */
  timeoutMs: number;
  /** How many targets one node delivers to at once. */
  concurrency: number;
  log?: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
  fetch?: typeof fetch;
}

/** The signature headers (docs/events.md). */
export const SIGNATURE_HEADER = 'x-berth-signature';
export const TIMESTAMP_HEADER = 'x-berth-timestamp';
export const EVENT_ID_HEADER = 'x-berth-event-id';

/** `sha256=` + hex HMAC-SHA256 over `<timestamp>.<body>` with the connection's signing secret. */
export function signBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const targetKeyOf = (t: { accountId: string; ruleName: string; id: string }) => `${t.accountId}/${t.ruleName}/${t.id}`;

/** EventBridge retries these statuses (and 5xx, and network failures); other 4xx fail at once. */
const RETRYABLE = new Set([401, 407, 409, 429]);

class DeliveryFailure extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export class EventDelivery {
  readonly owner = `events-${randomUUID()}`;
  private readonly patterns = new Map<string, CompiledPattern>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly busy = new Set<string>();
  private readonly fetch: typeof fetch;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private started = false;

  constructor(private readonly opts: DeliveryOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  // ---- matching

  private compiled(text: string): CompiledPattern | null {
    let p = this.patterns.get(text);
    if (!p) {
      try {
        p = compilePattern(text);
      } catch {
        return null; // stored patterns were checked by PutRule; a bad one matches nothing
      }
      if (this.patterns.size > 10_000) this.patterns.clear();
      this.patterns.set(text, p);
    }
    return p;
  }

  /** Matches events against the enabled rules of their accounts and queues a delivery per matching target. */
  async publish(events: EventEnvelope[]): Promise<number> {
    if (events.length === 0) return 0;
    const rules = await this.opts.store.enabledRules();
    if (rules.length === 0) return 0;
    const targets = await this.opts.store.targetsOfRules();
    const byRule = new Map<string, TargetRecord[]>();
    for (const t of targets) {
      const k = `${t.accountId}/${t.ruleName}`;
      byRule.set(k, [...(byRule.get(k) ?? []), t]);
    }
    const now = this.opts.now();
    const deliveries: NewDelivery[] = [];
    for (const event of events) {
      for (const rule of rules) {
        if (rule.accountId !== event.account) continue;
        const ruleTargets = byRule.get(`${rule.accountId}/${rule.name}`);
        if (!ruleTargets?.length || !this.compiled(rule.eventPattern)?.matches(event)) continue;
        for (const t of ruleTargets) {
          const policy = (t.spec.RetryPolicy ?? {}) as { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
          deliveries.push({
            accountId: t.accountId,
            ruleName: t.ruleName,
            targetId: t.id,
            targetKey: targetKeyOf(t),
            eventId: event.id,
            body: JSON.stringify(event),
            maxAttempts: 1 + (policy.MaximumRetryAttempts ?? this.opts.retry.maximumRetryAttempts),
            expiresAt: now + (policy.MaximumEventAgeInSeconds !== undefined ? policy.MaximumEventAgeInSeconds * 1000 : this.opts.retry.maximumEventAgeMs),
            createdAt: now,
          });
        }
      }
    }
    await this.opts.store.enqueueDeliveries(deliveries);
    if (deliveries.length > 0) this.kick();
    return deliveries.length;
  }

  // ---- the delivery loop

  start(pollMs: number): void {
    if (this.started) return;
    this.started = true;
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.tick().finally(loop), pollMs);
      this.timer.unref();
    };
    loop();
  }

  private kick(): void {
    if (this.started && !this.stopped) setImmediate(() => void this.tick());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
  }

  /** Delivers what is due on every target this node can lease; resolves when this round is done. */
  async tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        const due = (await this.opts.store.dueTargets(this.opts.now())).filter((k) => !this.busy.has(k));
        const queue = [...due];
        const workers = Array.from({ length: Math.min(this.opts.concurrency, queue.length) }, async () => {
          for (let key = queue.shift(); key !== undefined && !this.stopped; key = queue.shift()) await this.deliverTarget(key);
        });
        await Promise.all(workers);
      } catch (err) {
        this.opts.log?.warn({ err }, 'event delivery round failed');
      }
    })().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  /** Works through one target's queue in order while its head is due. */
  async deliverTarget(targetKey: string): Promise<void> {
    const { store } = this.opts;
    const leaseMs = this.opts.timeoutMs * 4 + 10_000;
    this.busy.add(targetKey);
    try {
      if (!(await store.leaseTarget(targetKey, this.owner, this.opts.now(), leaseMs))) return;
      for (let n = 0; n < 100 && !this.stopped; n++) {
        const head = await store.headOf(targetKey);
        if (!head || head.nextAttemptAt > this.opts.now()) break;
        await store.leaseTarget(targetKey, this.owner, this.opts.now(), leaseMs);
        const ok = await this.attempt(head);
        if (!ok) {
          // The head now waits for its retry (or is dead, and the next one is up).
          const next = await store.headOf(targetKey);
          if (!next || next.nextAttemptAt > this.opts.now()) break;
        }
      }
    } finally {
      await store.releaseTarget(targetKey, this.owner).catch(() => {});
      this.busy.delete(targetKey);
    }
  }

  /** One attempt at one delivery; true when delivered. */
  private async attempt(d: DeliveryRecord): Promise<boolean> {
    const { store } = this.opts;
    try {
      const status = await this.send(d);
      await store.markDelivered(d.id, this.opts.now(), status);
      return true;
    } catch (err) {
      const failure = err instanceof DeliveryFailure ? err : new DeliveryFailure((err as Error).message, null, true);
      const now = this.opts.now();
      const tries = d.attempts + 1;
      const delay = Math.min(this.opts.retry.baseDelayMs * 2 ** (tries - 1), this.opts.retry.maxDelayMs);
      const dead = !failure.retryable || tries >= d.maxAttempts || now + delay >= d.expiresAt;
      await store.markFailed(d.id, { dead, nextAttemptAt: now + delay, now, status: failure.status, error: failure.message });
      if (!dead) this.opts.log?.info?.({ delivery: d.id, target: d.targetKey, event: d.eventId, attempts: tries, status: failure.status, error: failure.message, retryInMs: delay }, 'event delivery failed; will retry');
      if (dead) this.opts.log?.warn({ delivery: d.id, target: d.targetKey, event: d.eventId, attempts: tries, status: failure.status, error: failure.message }, 'event delivery dead-lettered');
      return false;
    }
  }

  private async send(d: DeliveryRecord): Promise<number> {
    const { store } = this.opts;
    const target = (await store.targets(d.accountId, d.ruleName)).find((t) => t.id === d.targetId);
    if (!target) throw new DeliveryFailure('the target was removed from the rule', null, false);
    const m = /:api-destination\/([^/]+)\/([^/]+)$/.exec(target.arn);
    const destination = m ? await store.getApiDestination(d.accountId, m[1]!) : null;
    if (!destination || destination.uuid !== m![2]) throw new DeliveryFailure(`API destination ${target.arn} does not exist`, null, true);
    const cm = /:connection\/([^/]+)\/([^/]+)$/.exec(destination.connectionArn);
    const connection = cm ? await store.getConnection(d.accountId, cm[1]!) : null;
    if (!connection || connection.uuid !== cm![2]) throw new DeliveryFailure(`connection ${destination.connectionArn} does not exist`, null, true);

    const body = bodyFor(target, d.body);
    const url = new URL(substitutePath(destination.endpoint, (target.spec.HttpParameters as Http | undefined)?.PathParameterValues));
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Amazon/EventBridge/ApiDestinations' };
    applyHttp(connection.authSecret.InvocationHttpParameters as ConnectionHttp | undefined, headers, url);
    const targetHttp = target.spec.HttpParameters as Http | undefined;
    for (const [k, v] of Object.entries(targetHttp?.HeaderParameters ?? {})) headers[k.toLowerCase()] = String(v);
    for (const [k, v] of Object.entries(targetHttp?.QueryStringParameters ?? {})) url.searchParams.set(k, String(v));
    Object.assign(headers, await this.authorization(connection));
    const timestamp = String(Math.floor(this.opts.now() / 1000));
    headers[TIMESTAMP_HEADER] = timestamp;
    headers[EVENT_ID_HEADER] = d.eventId;
    headers[SIGNATURE_HEADER] = signBody(connection.signingSecret, timestamp, body);

    let response: Response;
    try {
      const method = destination.httpMethod;
      response = await this.fetch(url, { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body }), signal: AbortSignal.timeout(this.opts.timeoutMs), redirect: 'manual' });
      await response.arrayBuffer().catch(() => undefined);
    } catch (err) {
      throw new DeliveryFailure(`request failed: ${(err as Error).name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : (err as Error).message}`, null, true);
    }
    if (response.status >= 200 && response.status < 300) return response.status;
    if (response.status === 401) this.tokens.delete(connectionKey(connection));
    throw new DeliveryFailure(`HTTP ${response.status}`, response.status, response.status >= 500 || RETRYABLE.has(response.status));
  }

  /** Drops cached OAuth tokens of a connection (it was changed or deleted). */
  forgetConnection(arn: string): void {
    for (const k of this.tokens.keys()) if (k.startsWith(`${arn}|`)) this.tokens.delete(k);
  }

  private async authorization(c: ConnectionRecord): Promise<Record<string, string>> {
    const auth = c.authSecret as Record<string, any>;
    switch (c.authorizationType) {
      case 'API_KEY':
        return { [String(auth.ApiKeyAuthParameters.ApiKeyName).toLowerCase()]: String(auth.ApiKeyAuthParameters.ApiKeyValue) };
      case 'BASIC':
        return { authorization: `Basic ${Buffer.from(`${auth.BasicAuthParameters.Username}:${auth.BasicAuthParameters.Password}`).toString('base64')}` };
      case 'OAUTH_CLIENT_CREDENTIALS':
        return { authorization: `Bearer ${await this.oauthToken(c)}` };
    }
  }

  /** Client-credentials token from the connection's authorization endpoint, cached until shortly before it expires. */
  private async oauthToken(c: ConnectionRecord): Promise<string> {
    const key = connectionKey(c);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.opts.now()) return cached.token;
    const o = (c.authSecret as Record<string, any>).OAuthParameters;
    const url = new URL(o.AuthorizationEndpoint);
    const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(`${o.ClientParameters.ClientID}:${o.ClientParameters.ClientSecret}`).toString('base64')}`, accept: 'application/json' };
    const form = new URLSearchParams();
    applyHttp(o.OAuthHttpParameters, headers, url, form);
    if (!form.has('grant_type')) form.set('grant_type', 'client_credentials');
    let response: Response;
    try {
      if (o.HttpMethod === 'GET') {
        for (const [k, v] of form) url.searchParams.set(k, v);
        response = await this.fetch(url, { method: 'GET', headers, signal: AbortSignal.timeout(this.opts.timeoutMs) });
      } else {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        response = await this.fetch(url, { method: o.HttpMethod, headers, body: form.toString(), signal: AbortSignal.timeout(this.opts.timeoutMs) });
      }
    } catch (err) {
      throw new DeliveryFailure(`OAuth token request failed: ${(err as Error).message}`, null, true);
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) throw new DeliveryFailure(`OAuth token request answered HTTP ${response.status}`, response.status, true);
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new DeliveryFailure('OAuth token response is not JSON', response.status, true);
    }
    if (typeof parsed.access_token !== 'string') throw new DeliveryFailure('OAuth token response has no access_token', response.status, true);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in * 1000 : 3_600_000;
    this.tokens.set(key, { token: parsed.access_token, expiresAt: this.opts.now() + Math.max(lifetime - 60_000, lifetime / 2) });
    return parsed.access_token;
  }
}

const connectionKey = (c: ConnectionRecord) => `arn:aws:events:*:${c.accountId}:connection/${c.name}/${c.uuid}|${c.modifiedAt}`;

interface Http {
  PathParameterValues?: string[];
  HeaderParameters?: Record<string, string>;
  QueryStringParameters?: Record<string, string>;
}

type Param = { Key?: string; Value?: string; IsValueSecret?: boolean };
interface ConnectionHttp {
  HeaderParameters?: Param[];
  QueryStringParameters?: Param[];
  BodyParameters?: Param[];
}

/** A connection's extra headers, query parameters and (for token requests) body parameters. */
function applyHttp(p: ConnectionHttp | undefined, headers: Record<string, string>, url: URL, form?: URLSearchParams): void {
  for (const h of p?.HeaderParameters ?? []) if (h.Key && h.Value !== undefined && h.Key.toLowerCase() !== SIGNING_SECRET_PARAMETER.toLowerCase()) headers[h.Key.toLowerCase()] = h.Value;
  for (const q of p?.QueryStringParameters ?? []) if (q.Key && q.Value !== undefined) url.searchParams.set(q.Key, q.Value);
  if (form) for (const b of p?.BodyParameters ?? []) if (b.Key && b.Value !== undefined) form.set(b.Key, b.Value);
}

/** `*` in the endpoint path are replaced, in order, by the target's PathParameterValues. */
function substitutePath(endpoint: string, values: string[] | undefined): string {
  if (!values?.length) return endpoint;
  let i = 0;
  return endpoint.replace(/\*/g, (star) => (i < values.length ? encodeURIComponent(values[i++]!) : star));
}

/** What the target is sent: the event, its Input constant, or the part InputPath selects. */
function bodyFor(target: TargetRecord, eventJson: string): string {
  if (typeof target.spec.Input === 'string') return target.spec.Input;
  if (typeof target.spec.InputPath === 'string' && target.spec.InputPath !== '$') {
    let value: unknown = JSON.parse(eventJson);
    for (const part of target.spec.InputPath.slice(2).split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    return JSON.stringify(value ?? null);
  }
  return eventJson;
}
