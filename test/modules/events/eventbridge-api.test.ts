import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  DescribeConnectionCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  TestEventPatternCommand,
  CreateConnectionCommand,
  CreateApiDestinationCommand,
  DeleteRuleCommand,
  DescribeApiDestinationCommand,
  DisableRuleCommand,
  EnableRuleCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { startBerth, testAdmin, type TestServer } from '../../helpers/server.js';
import { requireTool } from '../../helpers/tools.js';
import { startWebhook, validSignature, type Webhook } from '../../helpers/webhook.js';
import { createTestUser, policy } from '../../helpers/principals.js';

const run = promisify(execFile);
const ACCOUNT = '000000000000';

// The aws CLI v1 fetches parameter values that look like URLs unless told not to.
const cliConfig = join(mkdtempSync(join(tmpdir(), 'berth-events-cli-')), 'config');
writeFileSync(cliConfig, '[default]\ncli_follow_urlparam = false\n');

const cliEnv = (creds: { accessKeyId: string; secretAccessKey: string } = testAdmin) => ({
  PATH: process.env.PATH!,
  HOME: process.env.HOME!,
  AWS_ACCESS_KEY_ID: creds.accessKeyId,
  AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_CONFIG_FILE: cliConfig,
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_MAX_ATTEMPTS: '1',
});

describe('EventBridge API subset (AWSEvents) and webhook delivery', () => {
  let server: TestServer;
  let hook: Webhook;
  let client: EventBridgeClient;
  const aws = async (args: string[], creds?: { accessKeyId: string; secretAccessKey: string }) => {
    const out = (await run('aws', ['events', ...args, '--endpoint-url', server.url, '--output', 'json'], { env: cliEnv(creds) })).stdout;
    return out.trim() ? JSON.parse(out) : {};
  };
  const awsError = async (args: string[]): Promise<string> => {
    try {
      await aws(args);
    } catch (err) {
      return (err as { stderr: string }).stderr;
    }
    assert.fail(`aws events ${args[0]} succeeded`);
  };

  before(async () => {
    server = await startBerth({ events: { pollSeconds: 0.05, retryBaseSeconds: 0.05, retryMaxDelaySeconds: 0.2 } });
    hook = await startWebhook();
    client = new EventBridgeClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
    await hook?.close();
  });

  test('aws events: connection, API destination, rule and target; put-events reaches the receiver signed and authorized', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const conn = await aws(['create-connection', '--name', 'hooks', '--authorization-type', 'API_KEY', '--auth-parameters', JSON.stringify({ ApiKeyAuthParameters: { ApiKeyName: 'X-Api-Key', ApiKeyValue: 'k3y-value' } })]);
    assert.match(conn.ConnectionArn, new RegExp(`^arn:aws:events:us-east-1:${ACCOUNT}:connection/hooks/[-0-9a-f]{36}$`));
    assert.equal(conn.ConnectionState, 'AUTHORIZED');
    const dest = await aws(['create-api-destination', '--name', 'receiver', '--connection-arn', conn.ConnectionArn, '--invocation-endpoint', hook.url, '--http-method', 'POST']);
    assert.match(dest.ApiDestinationArn, new RegExp(`^arn:aws:events:us-east-1:${ACCOUNT}:api-destination/receiver/[-0-9a-f]{36}$`));
    const rule = await aws(['put-rule', '--name', 'orders', '--event-pattern', JSON.stringify({ source: ['my.shop'], detail: { amount: [{ numeric: ['>', 100] }] } })]);
    assert.equal(rule.RuleArn, `arn:aws:events:us-east-1:${ACCOUNT}:rule/orders`);
    const put = await aws(['put-targets', '--rule', 'orders', '--targets', JSON.stringify([{ Id: 'receiver', Arn: dest.ApiDestinationArn }])]);
    assert.deepEqual(put, { FailedEntryCount: 0, FailedEntries: [] });
    assert.deepEqual((await client.send(new ListTargetsByRuleCommand({ Rule: 'orders' }))).Targets, [{ Id: 'receiver', Arn: dest.ApiDestinationArn }]);
    const described = await client.send(new DescribeConnectionCommand({ Name: 'hooks' }));
    assert.deepEqual(described.AuthParameters, { ApiKeyAuthParameters: { ApiKeyName: 'X-Api-Key' } });
    assert.equal(JSON.stringify(described).includes('k3y-value'), false, 'the API key value is never shown back');

    const sent = await aws([
      'put-events',
      '--entries',
      JSON.stringify([
        { Source: 'my.shop', DetailType: 'Order', Detail: JSON.stringify({ amount: 250, id: 'o-1' }) },
        { Source: 'my.shop', DetailType: 'Order', Detail: JSON.stringify({ amount: 5, id: 'o-2' }) },
        { Source: 'aws.ecr', DetailType: 'ECR Image Action', Detail: '{}' },
      ]),
    ]);
    assert.equal(sent.FailedEntryCount, 1);
    assert.equal(sent.Entries[2].ErrorCode, 'NotAuthorizedForSourceException');
    const [req] = await hook.waitFor(1);
    const event = JSON.parse(req!.body);
    assert.equal(event.id, sent.Entries[0].EventId);
    assert.deepEqual({ ...event, id: undefined, time: undefined }, { version: '0', id: undefined, 'detail-type': 'Order', source: 'my.shop', account: ACCOUNT, time: undefined, region: 'us-east-1', resources: [], detail: { amount: 250, id: 'o-1' } });
    assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(req!.headers['x-api-key'], 'k3y-value');
    assert.equal(req!.headers['x-berth-event-id'], event.id);
    assert.ok(validSignature(req!, 'k3y-value'), 'the body is signed with the connection secret');
    assert.equal(validSignature(req!, 'another-secret'), false);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.received.length, 1, 'the order of 5 does not match the rule');

    // EventBridge's error names for bad input, through the aws CLI.
    assert.match(await awsError(['put-rule', '--name', 'bad', '--event-pattern', '{"source": ["a"]']), /InvalidEventPatternException/);
    assert.match(await awsError(['describe-rule', '--name', 'no-such-rule']), /ResourceNotFoundException.*no-such-rule/);
  });

  test('JS SDK: rule states, error names, refused targets, remove-targets and delete-rule', async () => {
    const sdkError = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
      assert.fail('the call succeeded');
    };
    const dest = (await client.send(new DescribeApiDestinationCommand({ Name: 'receiver' }))).ApiDestinationArn!;
    const connArn = (await client.send(new DescribeConnectionCommand({ Name: 'hooks' }))).ConnectionArn!;
    assert.deepEqual((await client.send(new ListRulesCommand({}))).Rules!.map((r) => [r.Name, r.State, r.EventBusName]), [['orders', 'ENABLED', 'default']]);
    // Disabled rules deliver nothing.
    const seen = hook.received.length;
    await client.send(new DisableRuleCommand({ Name: 'orders' }));
    assert.equal((await client.send(new DescribeRuleCommand({ Name: 'orders' }))).State, 'DISABLED');
    await client.send(new PutEventsCommand({ Entries: [{ Source: 'my.shop', DetailType: 'Order', Detail: '{"amount": 900}' }] }));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.received.length, seen);
    await client.send(new EnableRuleCommand({ Name: 'orders' }));

    assert.match(await sdkError(client.send(new PutRuleCommand({ Name: 'bad', EventPattern: '{"source": [{"numeric": [">", "x"]}]}' }))), /^InvalidEventPatternException: .*numeric/);
    assert.match(await sdkError(client.send(new PutRuleCommand({ Name: 'bad' }))), /^ValidationException/);
    assert.match(await sdkError(client.send(new PutTargetsCommand({ Rule: 'no-such-rule', Targets: [{ Id: 'x', Arn: dest }] }))), /^ResourceNotFoundException/);
    assert.match(await sdkError(client.send(new EnableRuleCommand({ Name: 'no-such-rule' }))), /^ResourceNotFoundException/);
    assert.match(await sdkError(client.send(new DeleteRuleCommand({ Name: 'orders' }))), /^ValidationException: .*targets/);
    assert.match(await sdkError(client.send(new CreateConnectionCommand({ Name: 'hooks', AuthorizationType: 'API_KEY', AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'a', ApiKeyValue: 'b' } } }))), /^ResourceAlreadyExistsException/);
    assert.match(await sdkError(client.send(new CreateConnectionCommand({ Name: 'other', AuthorizationType: 'BASIC', AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'a', ApiKeyValue: 'b' } } }))), /^ValidationException/);
    assert.match(await sdkError(client.send(new CreateApiDestinationCommand({ Name: 'x', ConnectionArn: connArn.replace(/[0-9a-f]{4}$/, '0000'), InvocationEndpoint: hook.url, HttpMethod: 'POST' }))), /^ResourceNotFoundException/);
    assert.match(await sdkError(client.send(new DescribeApiDestinationCommand({ Name: 'nope' }))), /^ResourceNotFoundException/);
    assert.match(await sdkError(client.send(new PutRuleCommand({ Name: 'other-bus', EventBusName: 'custom', EventPattern: '{"source": ["a"]}' }))), /^ResourceNotFoundException/);
    const refused = await client.send(new PutTargetsCommand({ Rule: 'orders', Targets: [{ Id: 'q', Arn: 'arn:aws:sqs:us-east-1:000000000000:queue' }] }));
    assert.equal(refused.FailedEntryCount, 1);
    assert.equal(refused.FailedEntries![0]!.TargetId, 'q');

    await client.send(new PutRuleCommand({ Name: 'temporary', EventPattern: '{"source": ["x"]}' }));
    await client.send(new PutTargetsCommand({ Rule: 'temporary', Targets: [{ Id: 't', Arn: dest }] }));
    assert.equal((await client.send(new RemoveTargetsCommand({ Rule: 'temporary', Ids: ['t'] }))).FailedEntryCount, 0);
    await client.send(new DeleteRuleCommand({ Name: 'temporary' }));
    assert.match(await sdkError(client.send(new DescribeRuleCommand({ Name: 'temporary' }))), /^ResourceNotFoundException/);
  });

  test('JS SDK: TestEventPattern, paging of ListRules, a BASIC connection, errors as SDK exceptions', async () => {
    const event = JSON.stringify({ id: '1', account: ACCOUNT, source: 'aws.ecr', time: '2026-01-01T00:00:00Z', region: 'us-east-1', resources: [], 'detail-type': 'ECR Image Action', detail: { 'action-type': 'PUSH', 'repository-name': 'team/app' } });
    assert.equal((await client.send(new TestEventPatternCommand({ EventPattern: '{"detail": {"repository-name": [{"prefix": "team/"}]}}', Event: event }))).Result, true);
    assert.equal((await client.send(new TestEventPatternCommand({ EventPattern: '{"detail": {"action-type": ["DELETE"]}}', Event: event }))).Result, false);
    await assert.rejects(client.send(new TestEventPatternCommand({ EventPattern: '{"detail": {"action-type": "DELETE"}}', Event: event })), (err: Error) => err.name === 'InvalidEventPatternException');
    await assert.rejects(client.send(new TestEventPatternCommand({ EventPattern: '{"source": ["a"]}', Event: '{"source": "a"}' })), (err: Error) => err.name === 'ValidationException');
    await assert.rejects(client.send(new DescribeRuleCommand({ Name: 'missing' })), (err: Error) => err.name === 'ResourceNotFoundException');

    for (const n of ['page-a', 'page-b', 'page-c']) await client.send(new PutRuleCommand({ Name: n, EventPattern: '{"source": ["paging"]}', Description: `rule ${n}` }));
    const first = await client.send(new ListRulesCommand({ NamePrefix: 'page-', Limit: 2 }));
    assert.deepEqual(first.Rules!.map((r) => r.Name), ['page-a', 'page-b']);
    assert.ok(first.NextToken);
    const second = await client.send(new ListRulesCommand({ NamePrefix: 'page-', Limit: 2, NextToken: first.NextToken }));
    assert.deepEqual(second.Rules!.map((r) => [r.Name, r.Description]), [['page-c', 'rule page-c']]);
    assert.equal(second.NextToken, undefined);
    await assert.rejects(client.send(new ListRulesCommand({ NextToken: 'forged' })), (err: Error) => err.name === 'ValidationException');

    const basic = await client.send(new CreateConnectionCommand({ Name: 'basic', AuthorizationType: 'BASIC', AuthParameters: { BasicAuthParameters: { Username: 'u', Password: 'p4ss' } } }));
    const described = await client.send(new DescribeConnectionCommand({ Name: 'basic' }));
    assert.equal(described.ConnectionArn, basic.ConnectionArn);
    assert.deepEqual(described.AuthParameters, { BasicAuthParameters: { Username: 'u' } });
    assert.ok(described.CreationTime instanceof Date);
    const dest = await client.send(new CreateApiDestinationCommand({ Name: 'basic-dest', ConnectionArn: basic.ConnectionArn, InvocationEndpoint: hook.url, HttpMethod: 'PUT' }));
    await client.send(new PutRuleCommand({ Name: 'basic-rule', EventPattern: '{"source": ["basic.test"]}' }));
    await client.send(new PutTargetsCommand({ Rule: 'basic-rule', Targets: [{ Id: 'b', Arn: dest.ApiDestinationArn, InputPath: '$.detail' }] }));
    assert.equal((await client.send(new ListTargetsByRuleCommand({ Rule: 'basic-rule' }))).Targets![0]!.InputPath, '$.detail');
    const before = hook.received.length;
    const sent = await client.send(new PutEventsCommand({ Entries: [{ Source: 'basic.test', DetailType: 'x', Detail: '{"hello": "world"}' }] }));
    assert.equal(sent.FailedEntryCount, 0);
    const got = (await hook.waitFor(before + 1))[before]!;
    assert.equal(got.method, 'PUT');
    assert.equal(got.body, '{"hello":"world"}');
    assert.equal(got.headers.authorization, `Basic ${Buffer.from('u:p4ss').toString('base64')}`);
    assert.ok(validSignature(got, 'p4ss'));
  });

  test('events:* actions are authorized by IAM', async () => {
    const reader = await createTestUser(server.berth, ACCOUNT, 'events-reader', { inline: [policy({ Effect: 'Allow', Action: ['events:Describe*', 'events:List*'], Resource: '*' })] });
    const asReader = new EventBridgeClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: reader.accessKeyId, secretAccessKey: reader.secretAccessKey }, maxAttempts: 1 });
    try {
      await asReader.send(new ListRulesCommand({}));
      await assert.rejects(asReader.send(new PutRuleCommand({ Name: 'sneaky', EventPattern: '{"source": ["x"]}' })), (err: Error) => err.name === 'AccessDeniedException');
      await assert.rejects(asReader.send(new PutEventsCommand({ Entries: [{ Source: 'x', DetailType: 'y', Detail: '{}' }] })), (err: Error) => err.name === 'AccessDeniedException');
    } finally {
      asReader.destroy();
    }
  });

  test('a receiver answering 500 gets retries with backoff, then the delivery is dead-lettered', async () => {
    const failing = await startWebhook('/failing');
    failing.status = 500;
    try {
      const conn = await client.send(new CreateConnectionCommand({ Name: 'failing', AuthorizationType: 'API_KEY', AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'x-key', ApiKeyValue: 'v' } } }));
      const dest = await client.send(new CreateApiDestinationCommand({ Name: 'failing', ConnectionArn: conn.ConnectionArn, InvocationEndpoint: failing.url, HttpMethod: 'POST' }));
      await client.send(new PutRuleCommand({ Name: 'failing', EventPattern: '{"source": ["failing.test"]}' }));
      await client.send(new PutTargetsCommand({ Rule: 'failing', Targets: [{ Id: 'f', Arn: dest.ApiDestinationArn, RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 } }] }));
      const sent = await client.send(new PutEventsCommand({ Entries: [{ Source: 'failing.test', DetailType: 'x', Detail: '{"n": 1}' }] }));
      const eventId = sent.Entries![0]!.EventId!;
      const tries = await failing.waitFor(3).catch(async (err) => {
        console.error(await server.berth.events!.store.deliveries({}));
        throw err;
      });
      assert.ok(tries.every((r) => JSON.parse(r.body).id === eventId), 'the same event is retried');
      const deadline = Date.now() + 5000;
      let dead: Awaited<ReturnType<NonNullable<typeof server.berth.events>['store']['deliveries']>> = [];
      while (Date.now() < deadline && dead.length === 0) {
        dead = (await server.berth.events!.store.deliveries({ state: 'dead' })).filter((d) => d.eventId === eventId);
        if (dead.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.attempts, 3, 'one try and MaximumRetryAttempts=2 retries');
      assert.equal(dead[0]!.lastStatus, 500);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(failing.received.length, 3, 'no attempt after the dead letter');
      // The operator sees it, and puts it back once the receiver is fixed.
      const berth = (args: string[]) => run(process.execPath, ['bin/berth.js', 'events', ...args, '--data-dir', server.dataDir], { env: { PATH: process.env.PATH!, HOME: process.env.HOME! } });
      const listed = (await berth(['dead-letters', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(
        listed.map((l) => [l.eventId, l.rule, l.target, l.attempts, l.lastStatus, l.source]),
        [[eventId, 'failing', 'f', 3, 500, 'failing.test']],
      );
      failing.status = 200;
      assert.match((await berth(['retry', '--all'])).stdout, /^1 deliveries queued again/);
      await failing.waitFor(4);
      const stateOf = async () => (await server.berth.events!.store.deliveries({})).find((d) => d.eventId === eventId)!.state;
      for (let i = 0; i < 50 && (await stateOf()) !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await stateOf(), 'delivered');
      // Other targets are not held up by the failing one.
      const before = hook.received.length;
      await client.send(new PutEventsCommand({ Entries: [{ Source: 'my.shop', DetailType: 'Order', Detail: '{"amount": 1000}' }] }));
      await hook.waitFor(before + 1);
    } finally {
      await failing.close();
    }
  });
});
