// XML for the AWS query protocol (STS, IAM). Lists are written as <member> elements, the
// way AWS writes them; null and undefined fields are left out.

export type XmlValue = string | number | boolean | Date | null | undefined | XmlValue[] | { [name: string]: XmlValue };

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"\r]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;', '\r': '&#13;' })[c]!);
}

/** AWS's timestamp form in XML: ISO 8601 without milliseconds. */
export function isoTime(value: Date | number): string {
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function value(v: XmlValue): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return isoTime(v);
  if (Array.isArray(v)) return v.map((item) => `<member>${value(item)}</member>`).join('');
  if (typeof v === 'object') return toXml(v);
  return escapeXml(String(v));
}

export function toXml(fields: { [name: string]: XmlValue }): string {
  let out = '';
  for (const [name, v] of Object.entries(fields)) {
    if (v === null || v === undefined) continue;
    out += `<${name}>${value(v)}</${name}>`;
  }
  return out;
}
