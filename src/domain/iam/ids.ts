import { randomBytes, randomInt } from 'node:crypto';

// Identifiers in AWS's shapes: a four-letter prefix naming the kind, then 16 (access
// keys) or 17 characters of base32. AKIA long-term key, ASIA temporary key, AIDA user,
// AROA role, ANPA managed policy.

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += BASE32[bytes[i]! & 31];
  return out;
}

export const newAccessKeyId = () => `AKIA${base32(16)}`;
export const newSessionKeyId = () => `ASIA${base32(16)}`;
export const newUserId = () => `AIDA${base32(17)}`;
export const newRoleId = () => `AROA${base32(17)}`;
export const newPolicyId = () => `ANPA${base32(17)}`;

/** 40 characters from the same alphabet AWS secrets use. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, '/').slice(0, 40);
}

export function newSessionToken(): string {
  return randomBytes(96).toString('base64');
}

/** A random 12-digit account id that does not start with 0. */
export function newAccountId(): string {
  let id = String(randomInt(1, 10));
  for (let i = 0; i < 11; i++) id += String(randomInt(0, 10));
  return id;
}
