import { randomBytes } from 'node:crypto';
import type { Berth } from '../../src/app.js';
import { newUserId } from '../../src/domain/iam/ids.js';

// IAM users made straight in the identity store of a running Berth, for tests about
// what they may do (the IAM API itself is tested elsewhere).

export interface TestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const ADMIN_POLICY = 'arn:aws:iam::aws:policy/AdministratorAccess';
export const ECR_READ_ONLY = 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly';
export const ECR_POWER_USER = 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser';

/** Creates the account unless it exists. */
export async function ensureAccount(berth: Berth, accountId: string): Promise<void> {
  if (!(await berth.identity.store.getAccount(accountId))) await berth.identity.createAccount(accountId);
}

/** A user of `accountId` with the given AWS-managed policies and inline documents, and an access key. */
export async function createTestUser(berth: Berth, accountId: string, name: string, options: { attach?: string[]; inline?: object[] } = {}): Promise<TestCredentials> {
  await ensureAccount(berth, accountId);
  const store = berth.identity.store;
  const user = await store.createUser({ accountId, userId: newUserId(), name, path: '/', createdAt: Date.now() });
  for (const arn of options.attach ?? []) await store.attachPolicy({ kind: 'user', id: user.userId }, arn, Date.now());
  for (const [i, doc] of (options.inline ?? []).entries()) await store.putInlinePolicy({ kind: 'user', id: user.userId }, `inline-${i}`, JSON.stringify(doc), Date.now());
  const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  await store.createAccessKey(accountId, name, { accessKeyId, secret: secretAccessKey, createdAt: Date.now() });
  return { accessKeyId, secretAccessKey };
}

/** A policy document with the given statements. */
export const policy = (...statements: object[]) => ({ Version: '2012-10-17', Statement: statements });
