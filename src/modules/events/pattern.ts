import { BlockList, isIP } from 'node:net';

// EventBridge event patterns (the grammar of aws/event-ruler, which EventBridge runs):
// a pattern is a JSON object shaped like the events it matches. A key whose value is an
// object descends into the event; a key whose value is an array is a leaf test that holds
// when ANY of its matchers holds for ANY of the event's values there (event arrays are
// flattened); all keys must hold (AND); `"$or": [{...}, {...}]` holds when any branch does.
// Matchers: exact values (strings, numbers compared numerically, true/false/null),
// prefix, suffix (each optionally {"equals-ignore-case": ...}), equals-ignore-case,
// wildcard, anything-but (values, prefix, suffix, equals-ignore-case, wildcard), numeric,
// exists and cidr. Patterns are checked when compiled: a bad one is refused with the
// reason, as PutRule and TestEventPattern answer InvalidEventPatternException.

export class InvalidPatternError extends Error {
  constructor(reason: string) {
    super(`Event pattern is not valid. Reason: ${reason}`);
    this.name = 'InvalidPatternError';
  }
}

type Leaf = string | number | boolean | null;
type Test = (value: Leaf) => boolean;
type Matcher = { kind: 'exists'; present: boolean } | { kind: 'value'; test: Test };

interface PatternNode {
  leaves: { key: string; matchers: Matcher[] }[];
  children: { key: string; node: PatternNode }[];
  ors: PatternNode[][];
}

export interface CompiledPattern {
  matches(event: unknown): boolean;
}

/** Numbers in patterns are limited as EventBridge limits them. */
const NUMERIC_LIMIT = 5e9;

/** Parses and checks a pattern given as JSON text; throws InvalidPatternError. */
export function compilePattern(text: string): CompiledPattern {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidPatternError(`Filter is not valid JSON: ${(err as Error).message}`);
  }
  const root = compileObject(parsed, '');
  return { matches: (event) => matchNode(root, event) };
}

/** Whether `text` is an acceptable pattern; returns the reason when it is not. */
export function checkPattern(text: string): string | null {
  try {
    compilePattern(text);
    return null;
  } catch (err) {
    if (err instanceof InvalidPatternError) return err.message;
    throw err;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function compileObject(value: unknown, path: string): PatternNode {
  if (!isObject(value)) throw new InvalidPatternError(path ? `"${path}" must be an object or an array` : 'Filter is not an object');
  const keys = Object.keys(value);
  if (keys.length === 0) throw new InvalidPatternError('Empty objects are not allowed');
  const node: PatternNode = { leaves: [], children: [], ors: [] };
  for (const key of keys) {
    const v = value[key];
    const here = path ? `${path}.${key}` : key;
    if (key === '$or' && isOrArray(v)) {
      node.ors.push(v.map((branch) => compileObject(branch, here)));
    } else if (Array.isArray(v)) {
      if (v.length === 0) throw new InvalidPatternError(`Empty arrays are not allowed (at "${here}")`);
      node.leaves.push({ key, matchers: v.map((m) => compileMatcher(m, here)) });
    } else if (isObject(v)) {
      node.children.push({ key, node: compileObject(v, here) });
    } else {
      throw new InvalidPatternError(`"${here}" must be an object or an array`);
    }
  }
  return node;
}

/** `$or` is the OR primitive only for an array of 2+ objects (otherwise an ordinary key, as in event-ruler). */
function isOrArray(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.length >= 2 && v.every(isObject) && v.every((o) => !Object.keys(o).some((k) => MATCH_KEYS.has(k)));
}

const MATCH_KEYS = new Set(['prefix', 'suffix', 'equals-ignore-case', 'wildcard', 'anything-but', 'numeric', 'exists', 'cidr']);

function compileMatcher(m: unknown, path: string): Matcher {
  if (m === null || typeof m === 'string' || typeof m === 'boolean') return { kind: 'value', test: (v) => v === m };
  if (typeof m === 'number') return { kind: 'value', test: (v) => typeof v === 'number' && v === m };
  if (Array.isArray(m)) throw new InvalidPatternError(`Arrays are not allowed inside match arrays (at "${path}")`);
  if (!isObject(m)) throw new InvalidPatternError(`Unsupported value at "${path}"`);
  const keys = Object.keys(m);
  if (keys.length !== 1) throw new InvalidPatternError(`A match expression must have exactly one key (at "${path}")`);
  const op = keys[0]!;
  const arg = m[op];
  switch (op) {
    case 'prefix':
      return stringMatcher(arg, op, path, (v, p) => v.startsWith(p), (v, p) => v.toLowerCase().startsWith(p.toLowerCase()));
    case 'suffix':
      return stringMatcher(arg, op, path, (v, s) => v.endsWith(s), (v, s) => v.toLowerCase().endsWith(s.toLowerCase()));
    case 'equals-ignore-case': {
      const s = requireString(arg, op, path).toLowerCase();
      return { kind: 'value', test: (v) => typeof v === 'string' && v.toLowerCase() === s };
    }
    case 'wildcard': {
      const re = wildcardRegex(requireString(arg, op, path), path);
      return { kind: 'value', test: (v) => typeof v === 'string' && re.test(v) };
    }
    case 'anything-but':
      return anythingBut(arg, path);
    case 'numeric':
      return numeric(arg, path);
    case 'exists':
      if (typeof arg !== 'boolean') throw new InvalidPatternError(`exists match pattern must be either true or false (at "${path}")`);
      return { kind: 'exists', present: arg };
    case 'cidr':
      return cidr(arg, path);
    default:
      throw new InvalidPatternError(`Unrecognized match type ${op} (at "${path}")`);
  }
}

function requireString(arg: unknown, op: string, path: string): string {
  if (typeof arg !== 'string') throw new InvalidPatternError(`${op} match pattern must be a string (at "${path}")`);
  return arg;
}

function stringMatcher(arg: unknown, op: string, path: string, exact: (v: string, p: string) => boolean, ignoreCase: (v: string, p: string) => boolean): Matcher {
  if (isObject(arg)) {
    const keys = Object.keys(arg);
    if (keys.length !== 1 || keys[0] !== 'equals-ignore-case') throw new InvalidPatternError(`Unsupported ${op} pattern: only equals-ignore-case may be nested in ${op} (at "${path}")`);
    const p = requireString(arg['equals-ignore-case'], `${op} equals-ignore-case`, path);
    return { kind: 'value', test: (v) => typeof v === 'string' && ignoreCase(v, p) };
  }
  const p = requireString(arg, op, path);
  return { kind: 'value', test: (v) => typeof v === 'string' && exact(v, p) };
}

/** `*` matches any run of characters; `\*` is a literal star and `\\` a backslash; `**` is refused. */
function wildcardRegex(pattern: string, path: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next !== '*' && next !== '\\') throw new InvalidPatternError(`Invalid escape character at pos ${i} of wildcard pattern (at "${path}")`);
      re += `\\${next}`;
      i++;
    } else if (c === '*') {
      if (pattern[i + 1] === '*') throw new InvalidPatternError(`Consecutive wildcard characters at pos ${i + 1} of wildcard pattern (at "${path}")`);
      re += '[\\s\\S]*';
    } else {
      re += c.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

function anythingBut(arg: unknown, path: string): Matcher {
  const negate = (inner: Matcher): Matcher => {
    const test = (inner as { test: Test }).test;
    return { kind: 'value', test: (v) => typeof v === 'string' && !test(v) };
  };
  if (typeof arg === 'string') return { kind: 'value', test: (v) => typeof v === 'string' && v !== arg };
  if (typeof arg === 'number') return { kind: 'value', test: (v) => typeof v === 'number' && v !== arg };
  if (Array.isArray(arg)) {
    if (arg.length === 0) throw new InvalidPatternError(`Empty arrays are not allowed (at "${path}" anything-but)`);
    if (arg.every((a) => typeof a === 'string')) {
      const set = new Set(arg as string[]);
      return { kind: 'value', test: (v) => typeof v === 'string' && !set.has(v) };
    }
    if (arg.every((a) => typeof a === 'number')) {
      const nums = arg as number[];
      return { kind: 'value', test: (v) => typeof v === 'number' && !nums.includes(v) };
    }
    throw new InvalidPatternError(`Inside anything-but list, only all-strings or all-numbers are supported (at "${path}")`);
  }
  if (isObject(arg)) {
    const keys = Object.keys(arg);
    if (keys.length !== 1) throw new InvalidPatternError(`Only one key allowed in anything-but match expression (at "${path}")`);
    const op = keys[0]!;
    const inner = arg[op];
    switch (op) {
      case 'prefix':
      case 'suffix': {
        const s = requireString(inner, `anything-but ${op}`, path);
        if (s === '') throw new InvalidPatternError(`Null ${op} not allowed in anything-but (at "${path}")`);
        return { kind: 'value', test: (v) => typeof v === 'string' && !(op === 'prefix' ? v.startsWith(s) : v.endsWith(s)) };
      }
      case 'equals-ignore-case': {
        const list = typeof inner === 'string' ? [inner] : Array.isArray(inner) && inner.length > 0 && inner.every((x) => typeof x === 'string') ? (inner as string[]) : null;
        if (!list) throw new InvalidPatternError(`anything-but equals-ignore-case takes a string or a list of strings (at "${path}")`);
        const set = new Set(list.map((s) => s.toLowerCase()));
        return { kind: 'value', test: (v) => typeof v === 'string' && !set.has(v.toLowerCase()) };
      }
      case 'wildcard': {
        const list = typeof inner === 'string' ? [inner] : Array.isArray(inner) && inner.length > 0 && inner.every((x) => typeof x === 'string') ? (inner as string[]) : null;
        if (!list) throw new InvalidPatternError(`anything-but wildcard takes a string or a list of strings (at "${path}")`);
        const res = list.map((w) => wildcardRegex(w, path));
        return negate({ kind: 'value', test: (v) => typeof v === 'string' && res.some((re) => re.test(v)) });
      }
      default:
        throw new InvalidPatternError(`Unsupported anything-but pattern: ${op} (at "${path}")`);
    }
  }
  throw new InvalidPatternError(`Inside anything-but, only strings, numbers, lists of them, or prefix, suffix, equals-ignore-case and wildcard are supported (at "${path}")`);
}

function numeric(arg: unknown, path: string): Matcher {
  const bad = (why: string) => new InvalidPatternError(`${why} (at "${path}" numeric)`);
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) throw bad('Value of numeric must be an array of one or two comparisons');
  const checkNumber = (n: unknown): number => {
    if (typeof n !== 'number' || !Number.isFinite(n)) throw bad('Value of numeric comparison must be a number');
    if (Math.abs(n) > NUMERIC_LIMIT) throw bad(`Value of numeric comparison must be between -${NUMERIC_LIMIT} and ${NUMERIC_LIMIT}`);
    return n;
  };
  const [op1, v1, op2, v2] = arg as unknown[];
  const tests: Test[] = [];
  const compare = (op: unknown, n: number): Test => {
    switch (op) {
      case '=':
        return (v) => v === n;
      case '<':
        return (v) => (v as number) < n;
      case '<=':
        return (v) => (v as number) <= n;
      case '>':
        return (v) => (v as number) > n;
      case '>=':
        return (v) => (v as number) >= n;
      default:
        throw bad(`Unrecognized numeric range operator: ${JSON.stringify(op)}`);
    }
  };
  const first = checkNumber(v1);
  tests.push(compare(op1, first));
  if (arg.length === 4) {
    if (op1 !== '>' && op1 !== '>=') throw bad('Bad numeric range: a range starts with > or >=');
    if (op2 !== '<' && op2 !== '<=') throw bad('Bad numeric range: a range ends with < or <=');
    const second = checkNumber(v2);
    if (second <= first) throw bad('Bad numeric range: the bottom must be less than the top');
    tests.push(compare(op2, second));
  }
  return { kind: 'value', test: (v) => typeof v === 'number' && tests.every((t) => t(v)) };
}

function cidr(arg: unknown, path: string): Matcher {
  const bad = () => new InvalidPatternError(`Malformed CIDR, one '/' required (at "${path}" cidr)`);
  if (typeof arg !== 'string') throw bad();
  const [address, bitsText, extra] = arg.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined || bitsText === undefined || !/^\d{1,3}$/.test(bitsText)) throw bad();
  const bits = Number(bitsText);
  if (bits > (family === 4 ? 32 : 128)) throw bad();
  const list = new BlockList();
  list.addSubnet(address!, bits, family === 4 ? 'ipv4' : 'ipv6');
  return {
    kind: 'value',
    test: (v) => {
      if (typeof v !== 'string') return false;
      const f = isIP(v);
      return f !== 0 && list.check(v, f === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

// ---- matching

/** The leaf values at a key: a scalar, or the scalars of a (nested) array; objects are not leaves. */
function leavesOf(value: unknown, out: Leaf[] = []): Leaf[] {
  if (Array.isArray(value)) for (const v of value) leavesOf(v, out);
  else if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out.push(value);
  return out;
}

/** The objects at a key: the object itself, or the objects of a (nested) array. */
function objectsOf(value: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) for (const v of value) objectsOf(v, out);
  else if (isObject(value)) out.push(value);
  return out;
}

/**
 * A nested pattern must match within ONE element of an event array (event-ruler's
 * array consistency): `{"a": {"x": [1], "y": [2]}}` does not match `{"a": [{"x": 1}, {"y": 2}]}`.
 */
function matchNode(node: PatternNode, event: unknown): boolean {
  const obj = isObject(event) ? event : undefined;
  for (const { key, matchers } of node.leaves) {
    const values = leavesOf(obj && Object.hasOwn(obj, key) ? obj[key] : undefined);
    const ok = matchers.some((m) => (m.kind === 'exists' ? m.present === values.length > 0 : values.some((v) => m.test(v))));
    if (!ok) return false;
  }
  for (const { key, node: child } of node.children) {
    const candidates = objectsOf(obj && Object.hasOwn(obj, key) ? obj[key] : undefined);
    if (candidates.length === 0 ? !matchNode(child, undefined) : !candidates.some((c) => matchNode(child, c))) return false;
  }
  for (const branches of node.ors) if (!branches.some((b) => matchNode(b, obj))) return false;
  return true;
}
