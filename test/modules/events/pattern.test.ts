import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePattern, InvalidPatternError } from '../../../src/modules/events/pattern.js';

// Table-driven from the examples of EventBridge's "content filtering" and "comparison
// operators" pages and aws/event-ruler's README: each row is a pattern, an event, and
// whether EventBridge matches it.

const ec2Event = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: { 'c-count': 5, 'd-count': 3, 'x-limit': 301.8, 'source-ip': '10.0.0.33', 'instance-id': 'i-000000aaaaaa00000', state: 'running' },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...ec2Event, detail });

type Row = [name: string, pattern: unknown, event: unknown, expected: boolean];

const rows: Row[] = [
  // exact values, AND across keys, OR within an array
  ['exact source', { source: ['aws.ec2'] }, ec2Event, true],
  ['exact source, other value', { source: ['aws.s3'] }, ec2Event, false],
  ['exact is case-sensitive', { source: ['AWS.EC2'] }, ec2Event, false],
  ['any of the listed values', { detail: { state: ['initializing', 'running'] } }, ec2Event, true],
  ['all keys must match', { source: ['aws.ec2'], detail: { state: ['stopped'] } }, ec2Event, false],
  ['README simple match', { 'detail-type': ['EC2 Instance State-change Notification'], resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'], detail: { state: ['initializing', 'running'] } }, ec2Event, true],
  ['a missing field does not match a value', { detail: { missing: ['x'] } }, ec2Event, false],
  ['event array: any element matches', { resources: ['arn:other', 'arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'] }, ec2Event, true],
  ['event array: no element matches', { resources: ['arn:other'] }, ec2Event, false],
  ['number matches numerically', { detail: { 'x-limit': [3.018e2] } }, ec2Event, true],
  ['number does not match its string', { detail: { 'c-count': ['5'] } }, ec2Event, false],
  ['string does not match a number', { detail: { state: [5] } }, withDetail({ state: '5' }), false],
  ['null matches null', { detail: { responseElements: [null] } }, withDetail({ responseElements: null }), true],
  ['null does not match a missing field', { detail: { responseElements: [null] } }, withDetail({}), false],
  ['empty string matches empty', { detail: { LastName: [''] } }, withDetail({ LastName: '' }), true],
  ['boolean true', { detail: { ok: [true] } }, withDetail({ ok: true }), true],
  ['boolean is not its string', { detail: { ok: ['true'] } }, withDetail({ ok: true }), false],
  ['nested objects', { detail: { a: { b: { c: ['deep'] } } } }, withDetail({ a: { b: { c: 'deep' } } }), true],
  ['a leaf pattern does not match an object', { detail: { a: ['x'] } }, withDetail({ a: { b: 'x' } }), false],
  ['an object pattern does not match a scalar', { detail: { a: { b: ['x'] } } }, withDetail({ a: 'x' }), false],
  // prefix / suffix / equals-ignore-case
  ['prefix on time', { time: [{ prefix: '2017-10-02' }] }, ec2Event, true],
  ['prefix no match', { time: [{ prefix: '2018' }] }, ec2Event, false],
  ['prefix only on strings', { detail: { 'c-count': [{ prefix: '5' }] } }, ec2Event, false],
  ['prefix ignore case', { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } }, withDetail({ service: 'eventbridge' }), true],
  ['prefix ignore case no match', { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } }, withDetail({ service: 'ebridge' }), false],
  ['suffix', { detail: { FileName: [{ suffix: '.png' }] } }, withDetail({ FileName: 'image.png' }), true],
  ['suffix is case-sensitive', { detail: { FileName: [{ suffix: '.png' }] } }, withDetail({ FileName: 'image.PNG' }), false],
  ['suffix ignore case', { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } }, withDetail({ FileName: 'image.PNG' }), true],
  ['suffix on source (README)', { source: [{ suffix: 'ec2' }] }, ec2Event, true],
  ['equals-ignore-case', { detail: { Name: [{ 'equals-ignore-case': 'alice' }] } }, withDetail({ Name: 'ALICE' }), true],
  ['equals-ignore-case differs', { detail: { Name: [{ 'equals-ignore-case': 'alice' }] } }, withDetail({ Name: 'alicia' }), false],
  // wildcard
  ['wildcard', { source: [{ wildcard: 'Simple*Service' }] }, { ...ec2Event, source: 'SimpleQueueService' }, true],
  ['wildcard star matches empty', { source: [{ wildcard: 'Simple*Service' }] }, { ...ec2Event, source: 'SimpleService' }, true],
  ['wildcard is anchored', { source: [{ wildcard: 'Simple*Service' }] }, { ...ec2Event, source: 'ASimpleQueueService' }, false],
  ['wildcard path', { detail: { FilePath: [{ wildcard: 'dir/*.png' }] } }, withDetail({ FilePath: 'dir/a/b.png' }), true],
  ['wildcard several stars', { detail: { FilePath: [{ wildcard: '*/lib/*' }] } }, withDetail({ FilePath: 'usr/lib/x.so' }), true],
  ['wildcard escaped star is literal', { detail: { v: [{ wildcard: 'a\\*b' }] } }, withDetail({ v: 'a*b' }), true],
  ['wildcard escaped star does not glob', { detail: { v: [{ wildcard: 'a\\*b' }] } }, withDetail({ v: 'axxb' }), false],
  ['wildcard regex characters are literal', { detail: { v: [{ wildcard: 'a.b*' }] } }, withDetail({ v: 'aXb' }), false],
  // anything-but
  ['anything-but string', { detail: { state: [{ 'anything-but': 'initializing' }] } }, ec2Event, true],
  ['anything-but string, the excluded value', { detail: { state: [{ 'anything-but': 'running' }] } }, ec2Event, false],
  ['anything-but number', { detail: { 'x-limit': [{ 'anything-but': 123 }] } }, ec2Event, true],
  ['anything-but number, the excluded value', { detail: { 'x-limit': [{ 'anything-but': 301.8 }] } }, ec2Event, false],
  ['anything-but list of strings', { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } }, ec2Event, true],
  ['anything-but list of strings, listed', { detail: { state: [{ 'anything-but': ['stopped', 'running'] }] } }, ec2Event, false],
  ['anything-but list of numbers', { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, ec2Event, true],
  ['anything-but list of numbers, listed', { detail: { 'c-count': [{ 'anything-but': [4, 5] }] } }, ec2Event, false],
  ['anything-but needs the field', { detail: { missing: [{ 'anything-but': 'x' }] } }, ec2Event, false],
  ['anything-but prefix', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, ec2Event, true],
  ['anything-but prefix, starts with it', { detail: { state: [{ 'anything-but': { prefix: 'run' } }] } }, ec2Event, false],
  ['anything-but prefix region', { region: [{ 'anything-but': { prefix: 'us-' } }] }, ec2Event, false],
  ['anything-but suffix', { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } }, withDetail({ FileName: 'a.txt' }), true],
  ['anything-but suffix, ends with it', { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } }, withDetail({ FileName: 'a.png' }), false],
  ['anything-but equals-ignore-case', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] } }, withDetail({ state: 'INITIALIZING' }), false],
  ['anything-but equals-ignore-case list', { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'Overloaded'] } }] } }, ec2Event, true],
  ['anything-but wildcard', { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } }, withDetail({ FilePath: 'usr/bin/x' }), true],
  ['anything-but wildcard, matching path', { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } }, withDetail({ FilePath: 'usr/lib/x' }), false],
  ['anything-but wildcard list', { detail: { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*/bin/*'] } }] } }, withDetail({ FilePath: 'usr/bin/x' }), false],
  // numeric
  ['numeric range (README)', { detail: { 'c-count': [{ numeric: ['>', 0, '<=', 5] }], 'd-count': [{ numeric: ['<', 10] }], 'x-limit': [{ numeric: ['=', 3.018e2] }] } }, ec2Event, true],
  ['numeric > bottom excluded', { detail: { 'c-count': [{ numeric: ['>', 5] }] } }, ec2Event, false],
  ['numeric >= bottom included', { detail: { 'c-count': [{ numeric: ['>=', 5] }] } }, ec2Event, true],
  ['numeric < top excluded', { detail: { 'c-count': [{ numeric: ['>', 0, '<', 5] }] } }, ec2Event, false],
  ['numeric only on numbers', { detail: { state: [{ numeric: ['>', 0] }] } }, withDetail({ state: '7' }), false],
  ['numeric = other value', { detail: { 'd-count': [{ numeric: ['=', 4] }] } }, ec2Event, false],
  ['numeric negative', { detail: { t: [{ numeric: ['<', 0] }] } }, withDetail({ t: -2.5 }), true],
  ['numeric over an event array', { detail: { n: [{ numeric: ['>', 10] }] } }, withDetail({ n: [1, 2, 30] }), true],
  // exists
  ['exists true', { detail: { 'c-count': [{ exists: true }] } }, ec2Event, true],
  ['exists true, absent', { detail: { 'e-count': [{ exists: true }] } }, ec2Event, false],
  ['exists false, absent', { detail: { 'e-count': [{ exists: false }] } }, ec2Event, true],
  ['exists false, present', { detail: { 'c-count': [{ exists: false }] } }, ec2Event, false],
  ['exists false on a non-leaf (README)', { detail: { 'c-count': [{ exists: false }] } }, withDetail({ 'c-count': { c1: 100 } }), true],
  ['exists true on a non-leaf', { detail: { 'c-count': [{ exists: true }] } }, withDetail({ 'c-count': { c1: 100 } }), false],
  ['exists true with null', { detail: { v: [{ exists: true }] } }, withDetail({ v: null }), true],
  ['exists false when the parent is missing', { detail: { x: { y: [{ exists: false }] } } }, withDetail({}), true],
  ['exists false on an empty array', { detail: { tags: [{ exists: false }] } }, withDetail({ tags: [] }), true],
  // cidr
  ['cidr IPv4', { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } }, ec2Event, true],
  ['cidr IPv4 outside', { detail: { 'source-ip': [{ cidr: '10.0.1.0/24' }] } }, ec2Event, false],
  ['cidr /8', { detail: { 'source-ip': [{ cidr: '10.0.0.0/8' }] } }, ec2Event, true],
  ['cidr IPv6', { detail: { ip: [{ cidr: '2001:db8::/32' }] } }, withDetail({ ip: '2001:db8:1::7' }), true],
  ['cidr IPv6 outside', { detail: { ip: [{ cidr: '2001:db8::/32' }] } }, withDetail({ ip: '2001:db9::1' }), false],
  ['cidr not an address', { detail: { ip: [{ cidr: '10.0.0.0/8' }] } }, withDetail({ ip: 'ten' }), false],
  // mixed matchers in one array are OR'ed
  ['mixed: prefix or exact', { detail: { state: [{ prefix: 'init' }, 'running'] } }, ec2Event, true],
  ['mixed: exists false or value', { detail: { v: [{ exists: false }, 'x'] } }, withDetail({ v: 'x' }), true],
  // $or
  ['$or: second branch', { source: ['aws.ec2'], $or: [{ 'detail-type': ['nope'] }, { detail: { state: ['running'] } }] }, ec2Event, true],
  ['$or: no branch', { $or: [{ 'detail-type': ['nope'] }, { detail: { state: ['stopped'] } }] }, ec2Event, false],
  ['$or nested in detail', { detail: { $or: [{ 'c-count': [{ numeric: ['>', 4] }] }, { 'd-count': [{ numeric: ['>', 100] }] }] } }, ec2Event, true],
  ['$or with AND inside a branch', { $or: [{ source: ['aws.s3'] }, { source: ['aws.ec2'], region: ['us-east-1'] }] }, ec2Event, true],
  ['$or with AND inside a branch fails', { $or: [{ source: ['aws.s3'] }, { source: ['aws.ec2'], region: ['eu-west-1'] }] }, ec2Event, false],
  ['nested $or', { source: ['aws.ec2'], $or: [{ region: ['eu-west-1'] }, { detail: { state: ['running'] }, $or: [{ detail: { 'c-count': [5] } }, { detail: { 'd-count': [99] } }] }] }, ec2Event, true],
  // arrays of objects in events
  ['array of objects: one element', { employees: { firstName: ['Anna'] } }, { employees: [{ firstName: 'John', lastName: 'Doe' }, { firstName: 'Anna', lastName: 'Smith' }] }, true],
  ['array of objects: fields from two elements do not combine', { employees: { firstName: ['Anna'], lastName: ['Jones'] } }, { employees: [{ firstName: 'Anna', lastName: 'Smith' }, { firstName: 'Peter', lastName: 'Jones' }] }, false],
  ['array of objects: both fields in one element', { employees: { firstName: ['Peter'], lastName: ['Jones'] } }, { employees: [{ firstName: 'Anna', lastName: 'Smith' }, { firstName: 'Peter', lastName: 'Jones' }] }, true],
  ['multi-level arrays', { employees: { firstName: ['Peter'] } }, { employees: [[{ firstName: 'John' }, { firstName: 'Anna' }], [{ firstName: 'Peter' }]] }, true],
  // ECR events as Berth sends them
  ['ECR push with tag', { source: ['aws.ecr'], 'detail-type': ['ECR Image Action'], detail: { 'action-type': ['PUSH'], result: ['SUCCESS'], 'repository-name': [{ prefix: 'team/' }], 'image-tag': [{ exists: true }] } }, { ...ec2Event, source: 'aws.ecr', 'detail-type': 'ECR Image Action', detail: { result: 'SUCCESS', 'repository-name': 'team/app', 'image-digest': 'sha256:ab', 'action-type': 'PUSH', 'image-tag': '1.0' } }, true],
  ['ECR delete is not a push', { source: ['aws.ecr'], detail: { 'action-type': ['PUSH'] } }, { ...ec2Event, source: 'aws.ecr', detail: { 'action-type': 'DELETE' } }, false],
];

describe('EventBridge event patterns', () => {
  for (const [name, pattern, event, expected] of rows) {
    test(`${expected ? 'matches' : 'does not match'}: ${name}`, () => {
      assert.equal(compilePattern(JSON.stringify(pattern)).matches(event), expected);
    });
  }
});

const invalid: [name: string, text: string, reason: RegExp][] = [
  ['not JSON', '{"source": ["aws.ec2"]', /not valid JSON/],
  ['not an object', '["aws.ec2"]', /not an object/],
  ['empty object', '{}', /Empty objects/],
  ['a bare string value', '{"source": "aws.ec2"}', /must be an object or an array/],
  ['a bare number value', '{"detail": {"n": 5}}', /must be an object or an array/],
  ['an empty array', '{"source": []}', /Empty arrays/],
  ['an array in an array', '{"source": [["aws.ec2"]]}', /Arrays are not allowed/],
  ['unknown operator', '{"source": [{"contains": "ec2"}]}', /Unrecognized match type contains/],
  ['two operators in one object', '{"source": [{"prefix": "a", "suffix": "b"}]}', /exactly one key/],
  ['prefix of a number', '{"source": [{"prefix": 5}]}', /prefix match pattern must be a string/],
  ['prefix with an unknown inner key', '{"source": [{"prefix": {"wildcard": "a*"}}]}', /only equals-ignore-case/],
  ['exists not boolean', '{"source": [{"exists": "yes"}]}', /exists match pattern must be either true or false/],
  ['numeric odd length', '{"n": [{"numeric": [">", 0, "<"]}]}', /array of one or two comparisons/],
  ['numeric bad operator', '{"n": [{"numeric": ["!=", 0]}]}', /Unrecognized numeric range operator/],
  ['numeric value not a number', '{"n": [{"numeric": [">", "0"]}]}', /must be a number/],
  ['numeric range upside down', '{"n": [{"numeric": [">", 10, "<", 5]}]}', /bottom must be less than the top/],
  ['numeric range starting with <', '{"n": [{"numeric": ["<", 0, ">", 5]}]}', /starts with > or >=/],
  ['numeric out of range', '{"n": [{"numeric": [">", 6e9]}]}', /between/],
  ['anything-but mixed list', '{"s": [{"anything-but": ["a", 1]}]}', /all-strings or all-numbers/],
  ['anything-but empty list', '{"s": [{"anything-but": []}]}', /Empty arrays/],
  ['anything-but unknown inner', '{"s": [{"anything-but": {"numeric": [">", 1]}}]}', /Unsupported anything-but pattern/],
  ['anything-but empty prefix', '{"s": [{"anything-but": {"prefix": ""}}]}', /Null prefix/],
  ['anything-but boolean', '{"s": [{"anything-but": true}]}', /Inside anything-but/],
  ['wildcard with consecutive stars', '{"s": [{"wildcard": "a**b"}]}', /Consecutive wildcard/],
  ['wildcard with a bad escape', '{"s": [{"wildcard": "a\\\\b"}]}', /Invalid escape/],
  ['cidr without a prefix length', '{"ip": [{"cidr": "10.0.0.0"}]}', /Malformed CIDR/],
  ['cidr bad address', '{"ip": [{"cidr": "10.0.0.300/8"}]}', /Malformed CIDR/],
  ['$or of one object is an ordinary key, whose array holds no matcher', '{"$or": [{"source": ["aws.ec2"]}]}', /Unrecognized match type source/],
  ['cidr prefix too long', '{"ip": [{"cidr": "10.0.0.0/33"}]}', /Malformed CIDR/],
];

describe('EventBridge event patterns: invalid ones are refused with a reason', () => {
  for (const [name, text, reason] of invalid) {
    test(name, () => {
      assert.throws(
        () => compilePattern(text),
        (err: unknown) => err instanceof InvalidPatternError && /^Event pattern is not valid\. Reason: /.test(err.message) && reason.test(err.message),
      );
    });
  }
});
