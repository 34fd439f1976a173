// ARNs Berth hands out and reads. Partition is always `aws`: clients and policies copied
// from AWS keep working unchanged.

export const repositoryArn = (region: string, account: string, name: string) => `arn:aws:ecr:${region}:${account}:repository/${name}`;
export const registryArn = (region: string, account: string) => `arn:aws:ecr:${region}:${account}:registry`;
export const accountRootArn = (account: string) => `arn:aws:iam::${account}:root`;
export const userArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:user${path}${name}`;
export const roleArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:role${path}${name}`;
export const policyArn = (account: string, name: string, path = '/') => `arn:aws:iam::${account}:policy${path}${name}`;
export const assumedRoleArn = (account: string, role: string, session: string) => `arn:aws:sts::${account}:assumed-role/${role}/${session}`;

/** `arn:aws:iam::123456789012:role/path/name` → account, path and name. */
export function parseIamArn(arn: string, type: 'user' | 'role' | 'policy'): { account: string; path: string; name: string } | null {
  const m = new RegExp(`^arn:aws:iam::(\\d{12}|aws):${type}(/(?:[^/]+/)*)([^/]+)$`).exec(arn);
  return m ? { account: m[1]!, path: m[2]!, name: m[3]! } : null;
}
