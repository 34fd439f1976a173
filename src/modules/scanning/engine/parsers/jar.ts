import yauzl from 'yauzl';
import type { LangEntry } from './lang.js';

// Java archives are zips, read from a size-capped buffer (a zip's index is at its end, so a
// tar stream cannot be read in place): META-INF/maven/<g>/<a>/pom.properties names each
// artifact; nested jars (Spring Boot's BOOT-INF/lib, WEB-INF/lib) are opened in turn.

export interface JarLimits {
  maxNestedBytes: number;
  maxDepth: number;
  maxEntries: number;
}

function openZip(buf: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => yauzl.fromBuffer(buf, { lazyEntries: true, strictFileNames: false, validateEntrySizes: true }, (err, zip) => (err ? reject(err) : resolve(zip!))));
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, cap: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (entry.uncompressedSize > cap) return reject(new Error(`${entry.fileName} is larger than ${cap} bytes`));
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error('no stream'));
      const parts: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        size += c.length;
        if (size > cap) stream.destroy(new Error(`${entry.fileName} expands past ${cap} bytes`));
        else parts.push(c);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(parts)));
    });
  });
}

export function parsePomProperties(text: string): LangEntry | null {
  const get = (k: string) => new RegExp(`^\\s*${k}\\s*[=:]\\s*(.+?)\\s*$`, 'm').exec(text)?.[1];
  const g = get('groupId');
  const a = get('artifactId');
  const v = get('version');
  return g && a && v ? { ecosystem: 'Maven', name: `${g}:${a}`, version: v } : null;
}

export async function scanJar(buf: Buffer, limits: JarLimits, depth = 0): Promise<LangEntry[]> {
  const zip = await openZip(buf);
  const out: LangEntry[] = [];
  let entries = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        if (++entries > limits.maxEntries) return reject(new Error(`more than ${limits.maxEntries} entries`));
        const name = entry.fileName;
        const next = () => zip.readEntry();
        if (/^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/.test(name)) {
          readEntry(zip, entry, 64 * 1024).then((b) => {
            const p = parsePomProperties(b.toString('utf8'));
            if (p) out.push(p);
            next();
          }, reject);
        } else if (/\.(jar|war|ear)$/i.test(name) && depth < limits.maxDepth && entry.uncompressedSize <= limits.maxNestedBytes) {
          readEntry(zip, entry, limits.maxNestedBytes)
            .then((b) => scanJar(b, limits, depth + 1))
            .then((inner) => {
              out.push(...inner);
              next();
            }, reject);
        } else next();
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return out;
}
