import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { CreateUserCommand, GetUserPolicyCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

// The credential scope must fit the endpoint: a request signed for another service (or,
// at ECR's one-region endpoint, another region) is refused as AWS refuses it, whichever
// client signed it (the JS SDK's signer, botocore through boto3 and the aws CLI). And the
// query protocol's form bodies decode '+' as a space, as botocore and the CLI send them.

const run = promisify(execFile);

const cliEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH!,
  HOME: process.env.HOME!,
  AWS_ACCESS_KEY_ID: testAdmin.accessKeyId,
  AWS_SECRET_ACCESS_KEY: testAdmin.secretAccessKey,
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  AWS_MAX_ATTEMPTS: '1',
  ...extra,
});

/** A request signed by the JS SDK's own signer for any service and region. */
async function signedFetch(server: TestServer, opts: { service: string; region?: string; body: string; headers: Record<string, string>; presign?: boolean }): Promise<Response> {
  const { hostname, port } = new URL(server.url);
  const signer = new SignatureV4({ service: opts.service, region: opts.region ?? 'us-east-1', credentials: { ...testAdmin }, sha256: Hash.bind(null, 'sha256') });
  const request = new HttpRequest({ method: 'POST', protocol: 'http:', hostname, port: Number(port), path: '/', headers: { host: `${hostname}:${port}`, ...opts.headers }, body: opts.body });
  if (opts.presign) {
    const signed = await signer.presign(request, { expiresIn: 300, unhoistableHeaders: new Set(['x-amz-target', 'content-type']) });
    const query = new URLSearchParams(signed.query as Record<string, string>).toString();
    return fetch(`${server.url}/?${query}`, { method: 'POST', headers: signed.headers, body: opts.body });
  }
  const signed = await signer.sign(request);
  return fetch(`${server.url}/`, { method: 'POST', headers: signed.headers, body: opts.body });
}

const ecrTarget = (op: string) => ({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonEC2ContainerRegistry_V20150921.${op}` });

/** boto3 (botocore's SigV4Auth) signs and sends one request; prints status, then body. */
const BOTO_SIGNED = `
import sys, json, urllib.request, botocore.auth, botocore.awsrequest, botocore.credentials
url, service, region, target, body, ctype = sys.argv[1:7]
headers = {'Content-Type': ctype}
if target: headers['X-Amz-Target'] = target
req = botocore.awsrequest.AWSRequest(method='POST', url=url + '/', data=body.encode(), headers=headers)
creds = botocore.credentials.Credentials(sys.argv[7], sys.argv[8])
botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
prepared = req.prepare()
r = urllib.request.Request(prepared.url, data=prepared.body, headers=dict(prepared.headers), method='POST')
try:
    resp = urllib.request.urlopen(r)
    print(resp.status); print(resp.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
`;

async function botoSigned(server: TestServer, service: string, region: string, target: string, body: string, contentType = 'application/x-amz-json-1.1'): Promise<{ status: number; body: string }> {
  const { stdout } = await run('python3', ['-c', BOTO_SIGNED, server.url, service, region, target, body, contentType, testAdmin.accessKeyId, testAdmin.secretAccessKey]);
  const [status, ...rest] = stdout.split('\n');
  return { status: Number(status), body: rest.join('\n').trim() };
}

describe('SigV4 credential scope: service and region', () => {
  let server: TestServer;
  before(async () => {
    server = await startBerth({ region: 'us-east-1' });
  });
  after(() => server.stop());

  test('the ECR API refuses requests signed for s3, iam or foo (JS SDK signer, header and presigned)', async () => {
    for (const service of ['s3', 'iam', 'foo']) {
      for (const presign of [false, true]) {
        const res = await signedFetch(server, { service, body: '{}', headers: ecrTarget('DescribeRepositories'), presign });
        assert.equal(res.status, 403, `${service} presign=${presign}`);
        assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
        assert.deepEqual(await res.json(), { __type: 'InvalidSignatureException', message: "Credential should be scoped to correct service: 'ecr'. " });
      }
    }
    const ok = await signedFetch(server, { service: 'ecr', body: '{}', headers: ecrTarget('DescribeRepositories') });
    assert.equal(ok.status, 200);
    const presigned = await signedFetch(server, { service: 'ecr', body: '{}', headers: ecrTarget('DescribeRepositories'), presign: true });
    assert.equal(presigned.status, 200);
  });

  test('nothing is created by a request signed for another service', async () => {
    const res = await signedFetch(server, { service: 's3', body: JSON.stringify({ repositoryName: 'scope/never' }), headers: ecrTarget('CreateRepository') });
    assert.equal(res.status, 403);
    const check = await signedFetch(server, { service: 'ecr', body: JSON.stringify({ repositoryNames: ['scope/never'] }), headers: ecrTarget('DescribeRepositories') });
    assert.equal(check.headers.get('x-amzn-errortype'), 'RepositoryNotFoundException');
  });

  test('GetAuthorizationToken (the AWS JSON edge) checks service and region; Organizations its own signing name', async () => {
    for (const [service, region, message] of [
      ['iam', 'us-east-1', "Credential should be scoped to correct service: 'ecr'. "],
      ['ecr', 'eu-west-1', "Credential should be scoped to a valid region, not 'eu-west-1'. This registry serves the region 'us-east-1'."],
    ] as const) {
      const res = await signedFetch(server, { service, region, body: '{}', headers: ecrTarget('GetAuthorizationToken') });
      assert.equal(res.status, 403, `${service}/${region}`);
      assert.deepEqual(await res.json(), { __type: 'InvalidSignatureException', message });
    }
    const orgHeaders = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSOrganizationsV20161128.ListAccounts' };
    const wrong = await signedFetch(server, { service: 'ecr', body: '{}', headers: orgHeaders });
    assert.equal(wrong.status, 403);
    assert.deepEqual(await wrong.json(), { __type: 'InvalidSignatureException', message: "Credential should be scoped to correct service: 'organizations'. " });
    const right = await signedFetch(server, { service: 'organizations', region: 'eu-west-1', body: '{}', headers: orgHeaders });
    assert.equal(right.status, 200, 'Organizations is global: any region');
  });

  test('the query protocol (IAM, STS) answers a foreign scope with a 403 SignatureDoesNotMatch', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
    for (const [service, body, expected] of [
      ['s3', 'Action=ListUsers&Version=2010-05-08', 'iam'],
      ['ecr', 'Action=GetCallerIdentity&Version=2011-06-15', 'sts'],
      ['foo', 'Action=GetCallerIdentity&Version=2011-06-15', 'sts'],
    ] as const) {
      const res = await signedFetch(server, { service, body, headers: form });
      assert.equal(res.status, 403, service);
      const text = await res.text();
      assert.match(text, /<Code>SignatureDoesNotMatch<\/Code>/);
      assert.match(text, new RegExp(`Credential should be scoped to correct service: &apos;${expected}&apos;\\.`));
      assert.match(res.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
    }
    const ok = await signedFetch(server, { service: 'sts', body: 'Action=GetCallerIdentity&Version=2011-06-15', headers: form });
    assert.equal(ok.status, 200);
  });

  test('boto3 (botocore signer) signing for s3/foo is refused by ECR and IAM; signing for ecr/iam passes', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const describe = 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories';
    for (const service of ['s3', 'foo', 'iam']) {
      const res = await botoSigned(server, service, 'us-east-1', describe, '{}');
      assert.equal(res.status, 403, service);
      assert.equal(JSON.parse(res.body).__type, 'InvalidSignatureException');
    }
    assert.equal((await botoSigned(server, 'ecr', 'eu-west-1', describe, '{}')).status, 403, 'another region');
    assert.equal((await botoSigned(server, 'ecr', 'us-east-1', describe, '{}')).status, 200);
    const iam = await botoSigned(server, 's3', 'us-east-1', '', 'Action=ListUsers&Version=2010-05-08', 'application/x-www-form-urlencoded; charset=utf-8');
    assert.equal(iam.status, 403);
    assert.match(iam.body, /SignatureDoesNotMatch/);
    assert.equal((await botoSigned(server, 'iam', 'us-east-1', '', 'Action=ListUsers&Version=2010-05-08', 'application/x-www-form-urlencoded; charset=utf-8')).status, 200);
  });

  test('the aws CLI: another region is refused; a model whose signing name is not ecr is refused', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const ecr = (args: string[], env: Record<string, string> = {}) => run('aws', ['ecr', ...args, '--endpoint-url', server.url, '--output', 'json'], { env: cliEnv(env) });
    await ecr(['describe-repositories']);
    await assert.rejects(ecr(['describe-repositories', '--region', 'eu-west-1']), (err: { stderr: string }) => /InvalidSignatureException/.test(err.stderr) && /valid region/.test(err.stderr));
    // The CLI signs with the model's signingName: a copy of ECR's model that names another
    // service makes the real CLI sign for it (AWS_DATA_PATH models win over botocore's own).
    const { stdout } = await run('python3', ['-c', 'import botocore,os;print(os.path.dirname(botocore.__file__))']);
    const modelDir = join(stdout.trim(), 'data', 'ecr', '2015-09-21');
    const model = JSON.parse(gunzipSync(await readFile(join(modelDir, 'service-2.json.gz'))).toString('utf8'));
    const dataPath = await mkdtemp(join(tmpdir(), 'berth-model-'));
    try {
      for (const signingName of ['s3', 'foo']) {
        const dir = join(dataPath, signingName, 'ecr', '2015-09-21');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'service-2.json'), JSON.stringify({ ...model, metadata: { ...model.metadata, signingName } }));
        await assert.rejects(ecr(['describe-repositories'], { AWS_DATA_PATH: join(dataPath, signingName) }), (err: { stderr: string }) => /InvalidSignatureException/.test(err.stderr) && /correct service: 'ecr'/.test(err.stderr));
      }
    } finally {
      await rm(dataPath, { recursive: true, force: true });
    }
  });
});

describe("query-protocol form bodies: '+' is a space", () => {
  let server: TestServer;
  before(async () => {
    server = await startBerth({});
  });
  after(() => server.stop());

  // A pretty-printed document (spaces and newlines) with a literal '+' in a value.
  const pretty = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Pull', Effect: 'Allow', Action: ['ecr:BatchGetImage'], Resource: 'arn:aws:ecr:*:*:repository/a+b c' }] }, null, 2);

  test('aws iam put-user-policy --policy-document file://p.json (pretty-printed) round-trips exactly', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const iam = async (args: string[]) => (await run('aws', ['iam', ...args, '--endpoint-url', server.url, '--output', 'json'], { env: cliEnv() })).stdout;
    await iam(['create-user', '--user-name', 'cli-plus']);
    const dir = await mkdtemp(join(tmpdir(), 'berth-policy-'));
    try {
      await writeFile(join(dir, 'p.json'), `${pretty}\n`);
      await iam(['put-user-policy', '--user-name', 'cli-plus', '--policy-name', 'pull', '--policy-document', `file://${join(dir, 'p.json')}`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const got = JSON.parse(await iam(['get-user-policy', '--user-name', 'cli-plus', '--policy-name', 'pull']));
    // botocore decodes the URL-encoded document (and parses it to an object).
    assert.deepEqual(got.PolicyDocument, JSON.parse(pretty));
  });

  test('boto3 put_user_policy with spaces and a literal +', async (t) => {
    if (!requireTool(t, 'python3')) return;
    const script = `
import sys, boto3, json
iam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
iam.create_user(UserName='boto-plus')
iam.put_user_policy(UserName='boto-plus', PolicyName='pull', PolicyDocument=sys.argv[4])
print(json.dumps(iam.get_user_policy(UserName='boto-plus', PolicyName='pull')['PolicyDocument']))
`;
    const { stdout } = await run('python3', ['-c', script, server.url, testAdmin.accessKeyId, testAdmin.secretAccessKey, pretty], { env: cliEnv() });
    assert.deepEqual(JSON.parse(stdout), JSON.parse(pretty));
  });

  test('the JS SDK (which sends %20) stores the same document', async () => {
    const iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });
    try {
      await iam.send(new CreateUserCommand({ UserName: 'js-plus' }));
      await iam.send(new PutUserPolicyCommand({ UserName: 'js-plus', PolicyName: 'js', PolicyDocument: pretty }));
      const got = await iam.send(new GetUserPolicyCommand({ UserName: 'js-plus', PolicyName: 'js' }));
      assert.equal(decodeURIComponent(got.PolicyDocument!), pretty);
    } finally {
      iam.destroy();
    }
  });
});
