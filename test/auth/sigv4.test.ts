import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { hashSessionToken, verifySigV4, sigV4Error, type SigV4Result } from '../../src/auth/sigv4.js';
import type { StoredCredential } from '../../src/stores/identity-store.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);

// A loopback server that verifies every request with verifySigV4 and answers as STS
// would, so real clients (AWS SDK for JS v3, the aws CLI, botocore's presigner) sign the
// requests under test. Credentials resolve from a small in-memory table.
const ACCOUNT = '123456789012';
const KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SESSION_KEY = 'ASIAIOSFODNN7SESSION';
const SESSION_SECRET = 'sessionSecretsessionSecretsessionSecret1';
const SESSION_TOKEN = 'FwoGZXIvYXdzEJr//////////session+token/with=odd%chars';
const EXPIRED_KEY = 'ASIAIOSFODNN7EXPIRED';
const user = { accountId: ACCOUNT, userId: 'AIDAEXAMPLEUSER00001', name: 'alice', path: '/', createdAt: 0 };
const role = { accountId: ACCOUNT, roleId: 'AROAEXAMPLEROLE00001', name: 'r', path: '/', trustPolicy: '{}', description: null, maxSessionDuration: 3600, createdAt: 0 };
const session = (accessKeyId: string, expiresAt: number) => ({ accessKeyId, accountId: ACCOUNT, roleId: role.roleId, sessionName: 's', sourceArn: 'x', sessionPolicy: null, expiresAt, createdAt: 0 });

const credentials: Record<string, StoredCredential> = {
  [KEY]: { kind: 'user', accessKeyId: KEY, secret: SECRET, status: 'Active', user },
  AKIAINACTIVE00000000: { kind: 'user', accessKeyId: 'AKIAINACTIVE00000000', secret: SECRET, status: 'Inactive', user },
  [SESSION_KEY]: { kind: 'session', accessKeyId: SESSION_KEY, secret: SESSION_SECRET, tokenHash: hashSessionToken(SESSION_TOKEN), role, session: session(SESSION_KEY, Date.now() + 3600_000) },
  [EXPIRED_KEY]: { kind: 'session', accessKeyId: EXPIRED_KEY, secret: SESSION_SECRET, tokenHash: hashSessionToken(SESSION_TOKEN), role, session: session(EXPIRED_KEY, Date.now() - 1000) },
};

interface Captured {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

let server: Server;
let endpoint: string;
let lastResult: SigV4Result | undefined;
let lastRequest: Captured | undefined;

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      lastRequest = { method: req.method!, url, headers: req.headers, body };
      const result = await verifySigV4(
        { method: req.method!, path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers: req.headers, body },
        async (id) => credentials[id] ?? null,
      );
      lastResult = result;
      res.setHeader('content-type', 'text/xml');
      if (result.ok) {
        res.end(
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::${ACCOUNT}:user/alice</Arn><UserId>${user.userId}</UserId><Account>${ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
        );
      } else {
        const { code, status } = sigV4Error(result.reason, 'query');
        res.statusCode = status;
        res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(result.message)}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function escapeXml(s: string) {
  return s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
}

function sts(accessKeyId: string, secretAccessKey: string, sessionToken?: string, extra: Record<string, unknown> = {}) {
  return new STSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }, maxAttempts: 1, ...extra });
}

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  return 'no error';
}

describe('SigV4 verification with the AWS SDK for JavaScript', () => {
  test('a correctly signed request verifies', async () => {
    const out = await sts(KEY, SECRET).send(new GetCallerIdentityCommand({}));
    assert.equal(out.Account, ACCOUNT);
    assert.ok(lastResult?.ok);
    if (lastResult?.ok) {
      assert.equal(lastResult.service, 'sts');
      assert.equal(lastResult.region, 'us-east-1');
      assert.equal(lastResult.presigned, false);
    }
  });
  test('another region in the scope still verifies', async () => {
    const out = await sts(KEY, SECRET, undefined, { region: 'eu-central-1' }).send(new GetCallerIdentityCommand({}));
    assert.equal(out.Account, ACCOUNT);
  });
  test('wrong secret: SignatureDoesNotMatch', async () => {
    assert.equal(await errorName(sts(KEY, SECRET.replace('w', 'x')).send(new GetCallerIdentityCommand({}))), 'SignatureDoesNotMatch');
  });
  test('unknown key: InvalidClientTokenId', async () => {
    assert.equal(await errorName(sts('AKIAUNKNOWN000000000', SECRET).send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
  });
  test('inactive key: InvalidClientTokenId', async () => {
    assert.equal(await errorName(sts('AKIAINACTIVE00000000', SECRET).send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
  });
  test('temporary credentials with their session token verify', async () => {
    const out = await sts(SESSION_KEY, SESSION_SECRET, SESSION_TOKEN).send(new GetCallerIdentityCommand({}));
    assert.equal(out.Account, ACCOUNT);
  });
  test('temporary credentials without the token: InvalidClientTokenId', async () => {
    assert.equal(await errorName(sts(SESSION_KEY, SESSION_SECRET).send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
  });
  test('temporary credentials with a wrong token: InvalidClientTokenId', async () => {
    assert.equal(await errorName(sts(SESSION_KEY, SESSION_SECRET, `${SESSION_TOKEN}x`).send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
  });
  test('a session token with a long-term key: InvalidClientTokenId', async () => {
    assert.equal(await errorName(sts(KEY, SECRET, SESSION_TOKEN).send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
  });
  test('expired temporary credentials: ExpiredToken', async () => {
    assert.equal(await errorName(sts(EXPIRED_KEY, SESSION_SECRET, SESSION_TOKEN).send(new GetCallerIdentityCommand({}))), 'ExpiredToken');
  });
  test('clock 20 minutes behind: signature expired', async () => {
    const client = sts(KEY, SECRET, undefined, { systemClockOffset: -20 * 60 * 1000 });
    assert.equal(await errorName(client.send(new GetCallerIdentityCommand({}))), 'SignatureDoesNotMatch');
    assert.ok(lastResult && !lastResult.ok && lastResult.reason === 'request-expired');
    assert.match(lastResult.ok ? '' : lastResult.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than/);
  });
  test('clock 10 minutes ahead is inside the window', async () => {
    const out = await sts(KEY, SECRET, undefined, { systemClockOffset: 10 * 60 * 1000 }).send(new GetCallerIdentityCommand({}));
    assert.equal(out.Account, ACCOUNT);
  });
  test('replayed with a different body: SignatureDoesNotMatch', async () => {
    await sts(KEY, SECRET).send(new GetCallerIdentityCommand({}));
    const captured = lastRequest!;
    const headers = { ...captured.headers } as Record<string, string>;
    delete headers['content-length'];
    // The same signed headers and body verify again (we keep no nonce, as AWS keeps none)...
    let res = await fetch(endpoint + captured.url, { method: 'POST', headers, body: captured.body.toString() });
    assert.equal(res.status, 200);
    // ...but any change to the body does not.
    res = await fetch(endpoint + captured.url, { method: 'POST', headers, body: Buffer.from(captured.body.toString().replace('GetCallerIdentity', 'AssumeRole')) });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    // ...nor a change to a signed header, nor to the query.
    res = await fetch(endpoint + captured.url, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain' }, body: captured.body.toString() });
    assert.equal(res.status, 403);
    res = await fetch(`${endpoint}${captured.url}?Action=DeleteUser`, { method: 'POST', headers, body: captured.body.toString() });
    assert.equal(res.status, 403);
  });
  test('no Authorization at all: MissingAuthenticationToken', async () => {
    const res = await fetch(endpoint, { method: 'POST', body: 'Action=GetCallerIdentity&Version=2011-06-15', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<Code>MissingAuthenticationToken<\/Code>/);
  });
  test('malformed Authorization headers: IncompleteSignature', async () => {
    for (const auth of ['AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/sts/aws4_request', 'Basic dXNlcjpwYXNz', `AWS4-HMAC-SHA256 Credential=${KEY}/2026/us-east-1/sts, SignedHeaders=host, Signature=00`]) {
      const res = await fetch(endpoint, { method: 'POST', body: 'Action=GetCallerIdentity', headers: { authorization: auth, 'x-amz-date': '20260101T000000Z' } });
      assert.equal(res.status, 400, auth);
      assert.match(await res.text(), /<Code>IncompleteSignature<\/Code>/);
    }
  });
});

describe('SigV4 verification with the aws CLI and botocore', () => {
  const env = (key: string, secret: string, token?: string) => ({
    PATH: process.env.PATH!,
    HOME: process.env.HOME!,
    AWS_ACCESS_KEY_ID: key,
    AWS_SECRET_ACCESS_KEY: secret,
    ...(token ? { AWS_SESSION_TOKEN: token } : {}),
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_MAX_ATTEMPTS: '1',
  });

  test('aws sts get-caller-identity verifies', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const { stdout } = await run('aws', ['sts', 'get-caller-identity', '--endpoint-url', endpoint, '--output', 'json'], { env: env(KEY, SECRET) });
    assert.equal(JSON.parse(stdout).Account, ACCOUNT);
  });
  test('aws CLI with temporary credentials verifies', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const { stdout } = await run('aws', ['sts', 'get-caller-identity', '--endpoint-url', endpoint, '--output', 'json'], { env: env(SESSION_KEY, SESSION_SECRET, SESSION_TOKEN) });
    assert.equal(JSON.parse(stdout).Account, ACCOUNT);
  });
  test('aws CLI with a wrong secret fails with SignatureDoesNotMatch', async (t) => {
    if (!requireTool(t, 'aws')) return;
    await assert.rejects(run('aws', ['sts', 'get-caller-identity', '--endpoint-url', endpoint], { env: env(KEY, 'nope') }), (err: { stderr: string }) => /SignatureDoesNotMatch/.test(err.stderr));
  });
  test('botocore presigned GetCallerIdentity URL (as EKS tokens use) verifies; tampering fails', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const script = `
import sys, botocore.session
s = botocore.session.get_session()
c = s.create_client('sts', region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
print(c.generate_presigned_url('get_caller_identity', Params={}, ExpiresIn=60, HttpMethod='GET'))
`;
    const { stdout } = await run('python3', ['-c', script, endpoint, KEY, SECRET]);
    const url = stdout.trim();
    assert.match(url, /X-Amz-Signature=/);
    let res = await fetch(url);
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(lastResult?.ok && lastResult.presigned);
    res = await fetch(url.replace('GetCallerIdentity', 'GetCallerIdentitx'));
    assert.equal(res.status, 403);
    res = await fetch(url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=6000'));
    assert.equal(res.status, 403);
  });
  test('an expired presigned URL fails', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const script = `
import sys, botocore.session
s = botocore.session.get_session()
c = s.create_client('sts', region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
print(c.generate_presigned_url('get_caller_identity', Params={}, ExpiresIn=1, HttpMethod='GET'))
`;
    const { stdout } = await run('python3', ['-c', script, endpoint, KEY, SECRET]);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const res = await fetch(stdout.trim());
    assert.equal(res.status, 403);
    assert.ok(lastResult && !lastResult.ok && lastResult.reason === 'request-expired', JSON.stringify(lastResult));
  });
});
