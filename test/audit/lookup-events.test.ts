import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startBerth, testAdmin } from '../helpers/server.js';

const run = promisify(execFile);

// LookupEvents over boto3 (botocore's own cloudtrail model): paging with NextToken, time
// ranges, the service's error names; and ECR pulls switched off as data events.

const script = `
import json, sys, time, boto3, botocore
url, key, secret = sys.argv[1:4]
ct = boto3.client('cloudtrail', region_name='us-east-1', endpoint_url=url, aws_access_key_id=key, aws_secret_access_key=secret)
out = {}
def err(**kw):
    try:
        ct.lookup_events(**kw)
        return None
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
pages, token = [], None
while True:
    kw = {'MaxResults': 2, 'LookupAttributes': [{'AttributeKey': 'EventName', 'AttributeValue': 'CreateRepository'}]}
    if token: kw['NextToken'] = token
    r = ct.lookup_events(**kw)
    def name(e):
        record = json.loads(e['CloudTrailEvent'])
        if 'Username' not in e: return record['userIdentity']['type'] + ':' + record['errorCode']
        return e['Username'] + '/' + record['requestParameters']['repositoryName']
    pages.append([name(e) for e in r['Events']])
    token = r.get('NextToken')
    if not token: break
out['pages'] = pages
out['paginator'] = sum(len(p['Events']) for p in ct.get_paginator('lookup_events').paginate(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'CreateRepository'}], PaginationConfig={'PageSize': 3}))
out['future'] = len(ct.lookup_events(StartTime=time.time() + 3600)['Events'])
out['past'] = len(ct.lookup_events(EndTime=time.time() - 3600)['Events'])
out['all'] = len(ct.lookup_events(StartTime=time.time() - 3600, EndTime=time.time() + 60, MaxResults=50)['Events'])
out['errors'] = {
  'max': err(MaxResults=51),
  'two': err(LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'a'}, {'AttributeKey': 'Username', 'AttributeValue': 'b'}]),
  'key': err(LookupAttributes=[{'AttributeKey': 'Nope', 'AttributeValue': 'a'}]),
  'range': err(StartTime=time.time(), EndTime=time.time() - 10),
  'token': err(NextToken='garbage'),
  'other-params-token': err(NextToken=ct.lookup_events(MaxResults=1)['NextToken'], LookupAttributes=[{'AttributeKey': 'EventName', 'AttributeValue': 'CreateRepository'}]),
  'category': err(EventCategory='nope'),
}
out['insight'] = len(ct.lookup_events(EventCategory='insight')['Events'])
print(json.dumps(out))
`;

test('LookupEvents pages, filters by time and answers with CloudTrail error names (boto3)', { timeout: 120_000 }, async () => {
  const server = await startBerth({ audit: { dataEvents: false } });
  try {
    const ecr = (target: string, body: object) =>
      fetch(`${server.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonEC2ContainerRegistry_V20150921.${target}` }, body: JSON.stringify(body) });
    // An unsigned call is refused, and recorded.
    assert.equal((await ecr('CreateRepository', { repositoryName: 'x' })).status, 403);
    // Five repositories, created by the administrator with boto3.
    const create = `
import sys, boto3
c = boto3.client('ecr', region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
for i in range(5): c.create_repository(repositoryName='paging/r%d' % i)
`;
    await run('python3', ['-c', create, server.url, testAdmin.accessKeyId, testAdmin.secretAccessKey], { timeout: 60_000 });
    // A pull over /v2 (anonymous here: this server serves /v2 without a login).
    await fetch(`${server.url}/v2/paging/r0/manifests/latest`);
    await server.berth.audit.writer!.flush();
    const { stdout } = await run('python3', ['-c', script, server.url, testAdmin.accessKeyId, testAdmin.secretAccessKey], { timeout: 60_000 });
    const out = JSON.parse(stdout);
    // Newest first, two a page, every page usable with the same parameters.
    // The unsigned call is there too, refused, with no one to attribute it to.
    assert.deepEqual(out.pages, [['admin/paging/r4', 'admin/paging/r3'], ['admin/paging/r2', 'admin/paging/r1'], ['admin/paging/r0', 'AWSAccount:MissingAuthenticationTokenException']]);
    assert.equal(out.paginator, 6);
    assert.equal(out.future, 0);
    assert.equal(out.past, 0);
    assert.ok(out.all >= 6, `all: ${out.all}`);
    assert.deepEqual(out.errors, {
      max: ['InvalidMaxResultsException', 400],
      two: ['InvalidLookupAttributesException', 400],
      key: ['InvalidLookupAttributesException', 400],
      range: ['InvalidTimeRangeException', 400],
      token: ['InvalidNextTokenException', 400],
      'other-params-token': ['InvalidNextTokenException', 400],
      category: ['InvalidEventCategoryException', 400],
    });
    assert.equal(out.insight, 0);
    // Data events are off on this server: the /v2 pull left no record; management events did.
    await server.berth.audit.writer!.flush();
    const names = (await server.berth.audit.store.db.selectFrom('audit_events').select('event_name').execute()).map((r) => r.event_name);
    assert.ok(!names.includes('BatchGetImage'), names.join(','));
    assert.ok(names.includes('CreateRepository') && names.includes('LookupEvents'));
  } finally {
    await server.stop();
  }
});
