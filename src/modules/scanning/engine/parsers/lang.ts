import { ScanRefused } from '../errors.js';

// Language package manifests: npm's package-lock.json (v1-v3) and installed package.json,
// Python's dist-info/egg-info METADATA, Ruby gemspecs, Rust's Cargo.lock.

export interface LangEntry {
  ecosystem: 'npm' | 'PyPI' | 'RubyGems' | 'crates.io' | 'Go' | 'Maven';
  name: string;
  version: string;
}

function json(text: string, path: string): any {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ScanRefused(`${path}: malformed JSON (${(err as Error).message})`);
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length < 512;

export function parsePackageLock(text: string, path: string): LangEntry[] {
  const doc = json(text, path);
  if (typeof doc !== 'object' || doc === null) throw new ScanRefused(`${path}: not a package-lock object`);
  const out: LangEntry[] = [];
  if (doc.packages && typeof doc.packages === 'object') {
    // v2/v3: keys are install paths; "" is the project itself.
    for (const [key, value] of Object.entries(doc.packages as Record<string, any>)) {
      if (key === '' || !value || typeof value !== 'object' || value.link) continue;
      const name = isStr(value.name) ? value.name : key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
      if (isStr(name) && isStr(value.version)) out.push({ ecosystem: 'npm', name, version: value.version });
    }
    return out;
  }
  // v1: nested dependencies.
  const walk = (deps: unknown, depth: number) => {
    if (!deps || typeof deps !== 'object' || depth > 64) return;
    for (const [name, value] of Object.entries(deps as Record<string, any>)) {
      if (value && isStr(value.version) && !value.version.startsWith('file:')) out.push({ ecosystem: 'npm', name, version: value.version });
      walk(value?.dependencies, depth + 1);
    }
  };
  walk(doc.dependencies, 0);
  return out;
}

export function parseInstalledPackageJson(text: string, path: string): LangEntry[] {
  const doc = json(text, path);
  return doc && isStr(doc.name) && isStr(doc.version) ? [{ ecosystem: 'npm', name: doc.name, version: doc.version }] : [];
}

/** Core metadata (RFC 822 headers): Name and Version. */
export function parsePythonMetadata(text: string): LangEntry[] {
  const head = text.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const name = /^Name:\s*(.+?)\s*$/im.exec(head)?.[1];
  const version = /^Version:\s*(.+?)\s*$/im.exec(head)?.[1];
  return name && version ? [{ ecosystem: 'PyPI', name, version }] : [];
}

/** specifications/<name>-<version>.gemspec: the name and version as the file name gives them, checked against s.name/s.version when present. */
export function parseGemspec(text: string, path: string): LangEntry[] {
  const name = /\.name\s*=\s*["']([^"']+)["']/.exec(text)?.[1];
  const version = /\.version\s*=\s*(?:Gem::Version\.new\()?["']([^"']+)["']/.exec(text)?.[1];
  if (name && version) return [{ ecosystem: 'RubyGems', name, version }];
  const base = path.slice(path.lastIndexOf('/') + 1).replace(/\.gemspec$/, '');
  const m = /^(.+)-(\d[^-]*)$/.exec(base);
  return m ? [{ ecosystem: 'RubyGems', name: m[1]!, version: m[2]! }] : [];
}

/** Cargo.lock: [[package]] tables with name and version. */
export function parseCargoLock(text: string): LangEntry[] {
  const out: LangEntry[] = [];
  for (const block of text.split(/^\[\[package\]\]\s*$/m).slice(1)) {
    const name = /^name\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    const version = /^version\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    const source = /^source\s*=\s*"([^"]+)"/m.exec(block)?.[1];
    // Only crates from a registry are crates.io packages (path and git crates are not).
    if (name && version && (source === undefined || source.startsWith('registry+'))) {
      if (source !== undefined) out.push({ ecosystem: 'crates.io', name, version });
    }
  }
  return out;
}
