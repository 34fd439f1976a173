import { cvss2BaseScore, cvss3BaseScore, severityOfScore, type Severity } from './cvss.js';
import type { OsvAffected, OsvRecord } from './record.js';

// A record's severity for ECR: the CVSS v3.x base score computed from its vector, in the
// standard bands; else the record's own severity word; else UNDEFINED.

export interface RecordSeverity {
  severity: Severity;
  cvss3?: { vector: string; score: number };
  cvss2?: { vector: string; score: number };
  vendorSeverity?: string;
}

const WORDS: Record<string, Severity> = {
  critical: 'CRITICAL',
  high: 'HIGH',
  important: 'HIGH',
  moderate: 'MEDIUM',
  medium: 'MEDIUM',
  low: 'LOW',
  negligible: 'INFORMATIONAL',
  unimportant: 'INFORMATIONAL',
  informational: 'INFORMATIONAL',
};

function ownWord(record: OsvRecord, affected?: OsvAffected): string | undefined {
  const candidates: unknown[] = [
    affected?.ecosystem_specific?.severity,
    affected?.ecosystem_specific?.urgency,
    affected?.database_specific?.severity,
    record.database_specific?.severity,
    ...(record.severity ?? []).filter((s) => !s.type.startsWith('CVSS')).map((s) => s.score),
  ];
  return candidates.find((c): c is string => typeof c === 'string' && c.toLowerCase().replace(/\*$/, '') in WORDS);
}

export function severityOf(record: OsvRecord, affected?: OsvAffected): RecordSeverity {
  const all = [...(affected?.severity ?? []), ...(record.severity ?? [])];
  const out: RecordSeverity = { severity: 'UNDEFINED' };
  const v3 = all.find((s) => s.type === 'CVSS_V3' && cvss3BaseScore(s.score) !== null);
  if (v3) out.cvss3 = { vector: v3.score, score: cvss3BaseScore(v3.score)! };
  const v2 = all.find((s) => s.type === 'CVSS_V2' && cvss2BaseScore(s.score) !== null);
  if (v2) out.cvss2 = { vector: v2.score, score: cvss2BaseScore(v2.score)! };
  const word = ownWord(record, affected);
  if (word) out.vendorSeverity = word;
  if (out.cvss3) out.severity = severityOfScore(out.cvss3.score);
  else if (word) out.severity = WORDS[word.toLowerCase().replace(/\*$/, '')]!;
  return out;
}

/** The finding's name: the record's id if it is a CVE, else its first CVE alias (or upstream), else its id. */
export function findingName(record: OsvRecord): string {
  if (/^CVE-\d{4}-\d+$/.test(record.id)) return record.id;
  const cve = [...(record.aliases ?? []), ...(record.upstream ?? [])].find((a) => /^CVE-\d{4}-\d+$/.test(a));
  return cve ?? record.id;
}
