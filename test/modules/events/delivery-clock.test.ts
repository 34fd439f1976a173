import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateApiDestinationCommand, CreateConnectionCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { AesGcmSecretCipher, loadServerKey } from '../../../src/auth/secret-box.js';
import { createEvents, type EventEnvelope, type Events } from '../../../src/modules/events/index.js';
import { startBerth, testAdmin, type TestServer } from '../../helpers/server.js';
import { startWebhook, validSignature, type Webhook } from '../../helpers/webhook.js';

// Delivery timing on a hand-driven clock: the server's own delivery loop is off (jobs
// disabled) and a second engine on the same database runs when the test says, at the time
// the test sets. Configuration and targets go through the EventBridge API as users do.

const ACCOUNT = '000000000000';
const SECOND = 1000;

describe('event delivery: backoff, age limit, order and OAuth, on an injected clock', () => {
  let server: TestServer;
  let hook: Webhook;
  let client: EventBridgeClient;
  let engine: Events;
  let now = Date.UTC(2026, 0, 1);
  let n = 0;
  const event = (source: string, detail: Record<string, unknown> = {}): EventEnvelope => ({
    version: '0',
    id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    'detail-type': 'Test',
    source,
    account: ACCOUNT,
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail,
  });
  const target = async (nameOf: string, auth: Record<string, unknown>, retry?: { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number }) => {
    const conn = await client.send(new CreateConnectionCommand({ Name: nameOf, ...(auth as object) } as never));
    const dest = await client.send(new CreateApiDestinationCommand({ Name: nameOf, ConnectionArn: conn.ConnectionArn, InvocationEndpoint: `${hook.url}/${nameOf}`, HttpMethod: 'POST' }));
    await client.send(new PutRuleCommand({ Name: nameOf, EventPattern: JSON.stringify({ source: [nameOf] }) }));
    await client.send(new PutTargetsCommand({ Rule: nameOf, Targets: [{ Id: 't', Arn: dest.ApiDestinationArn, ...(retry ? { RetryPolicy: retry } : {}) }] }));
  };
  const apiKey = { AuthorizationType: 'API_KEY', AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'x-key', ApiKeyValue: 'secret-value' } } };
  const hits = (path: string) => hook.received.filter((r) => r.url === `/hook/${path}`);
  const at = async (ms: number) => {
    now = ms;
    await engine.delivery.tick();
  };

  before(async () => {
    server = await startBerth({ jobs: { enabled: false } });
    hook = await startWebhook();
    client = new EventBridgeClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });
    const config = { ...server.berth.config, events: { ...server.berth.config.events, retryBaseSeconds: 10, retryMaxDelaySeconds: 40 } };
    const cipher = new AesGcmSecretCipher(await loadServerKey(config.dataDir, config.serverKey));
    engine = createEvents({ db: (server.berth.meta as unknown as { db: never }).db, cipher, identity: server.berth.identity, config, now: () => now });
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
    await hook?.close();
  });

  test('exponential backoff (10, 20, 40, 40 s) until MaximumEventAgeInSeconds, then a dead letter', async () => {
    await target('aging', apiKey, { MaximumEventAgeInSeconds: 120 });
    hook.respond = (req) => (req.url === '/hook/aging' ? { status: 503, body: '' } : undefined);
    const t0 = now;
    assert.equal(await engine.delivery.publish([event('aging')]), 1);
    await at(t0);
    assert.equal(hits('aging').length, 1);
    await at(t0 + 9 * SECOND);
    assert.equal(hits('aging').length, 1, 'not before the first backoff');
    await at(t0 + 10 * SECOND);
    assert.equal(hits('aging').length, 2);
    await at(t0 + 29 * SECOND);
    assert.equal(hits('aging').length, 2);
    await at(t0 + 30 * SECOND);
    assert.equal(hits('aging').length, 3);
    await at(t0 + 70 * SECOND);
    assert.equal(hits('aging').length, 4);
    await at(t0 + 110 * SECOND);
    assert.equal(hits('aging').length, 5, 'the delay is capped at 40 s');
    // The next retry would come at 150 s, past the 120 s age limit: dead now.
    const [d] = (await engine.store.deliveries({ state: 'dead' })).filter((x) => x.ruleName === 'aging');
    assert.ok(d, 'dead-lettered');
    assert.equal(d.attempts, 5);
    assert.equal(d.lastStatus, 503);
    await at(t0 + 200 * SECOND);
    assert.equal(hits('aging').length, 5);
  });

  test('a 4xx other than 401/407/409/429 is not retried', async () => {
    await target('refusing', apiKey);
    hook.respond = (req) => (req.url === '/hook/refusing' ? { status: 400, body: '' } : undefined);
    await engine.delivery.publish([event('refusing')]);
    await at(now);
    await at(now + 3600 * SECOND);
    assert.equal(hits('refusing').length, 1);
    assert.equal((await engine.store.deliveries({ state: 'dead' })).filter((x) => x.ruleName === 'refusing').length, 1);
  });

  test("a target's events go out in order: the second waits while the first is retried", async () => {
    await target('ordered', apiKey);
    let fail = true;
    hook.respond = (req) => (req.url === '/hook/ordered' ? { status: fail ? 500 : 200, body: '' } : undefined);
    await engine.delivery.publish([event('ordered', { n: 1 }), event('ordered', { n: 2 })]);
    await at(now);
    assert.deepEqual(hits('ordered').map((r) => JSON.parse(r.body).detail.n), [1]);
    fail = false;
    await at(now + 10 * SECOND);
    assert.deepEqual(hits('ordered').map((r) => JSON.parse(r.body).detail.n), [1, 1, 2]);
    assert.ok(hits('ordered').every((r) => validSignature(r, 'secret-value')));
  });

  test('OAuth client credentials: a token from the authorization endpoint, cached, sent as Bearer; refetched after a 401', async () => {
    let issued = 0;
    hook.respond = (req) => {
      if (req.url === '/hook/token') return { status: 200, body: JSON.stringify({ access_token: `tok-${++issued}`, token_type: 'Bearer', expires_in: 3600 }) };
      if (req.url === '/hook/oauth') return { status: req.headers.authorization === 'Bearer tok-1' && issued === 1 && hits('oauth').length === 3 ? 401 : 200, body: '' };
      return undefined;
    };
    await target('oauth', {
      AuthorizationType: 'OAUTH_CLIENT_CREDENTIALS',
      AuthParameters: {
        OAuthParameters: {
          ClientParameters: { ClientID: 'berth-client', ClientSecret: 'client-s3cret' },
          AuthorizationEndpoint: `${hook.url}/token`,
          HttpMethod: 'POST',
          OAuthHttpParameters: { BodyParameters: [{ Key: 'scope', Value: 'events', IsValueSecret: false }] },
        },
      },
    });
    await engine.delivery.publish([event('oauth', { n: 1 }), event('oauth', { n: 2 })]);
    await at(now);
    const tokenRequests = hook.received.filter((r) => r.url === '/hook/token');
    assert.equal(tokenRequests.length, 1, 'one token for both deliveries');
    assert.equal(tokenRequests[0]!.headers.authorization, `Basic ${Buffer.from('berth-client:client-s3cret').toString('base64')}`);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(tokenRequests[0]!.body)), { scope: 'events', grant_type: 'client_credentials' });
    assert.deepEqual(hits('oauth').map((r) => r.headers.authorization), ['Bearer tok-1', 'Bearer tok-1']);
    assert.ok(hits('oauth').every((r) => validSignature(r, 'client-s3cret')));
    // The third delivery is refused with 401: the token is dropped and a new one fetched for the retry.
    await engine.delivery.publish([event('oauth', { n: 3 })]);
    await at(now);
    await at(now + 10 * SECOND);
    assert.deepEqual(hits('oauth').map((r) => r.headers.authorization), ['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1', 'Bearer tok-2']);
    assert.equal(hook.received.filter((r) => r.url === '/hook/token').length, 2);
  });
});
