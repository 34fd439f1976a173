import type { Finding } from './match/findings.js';

// Findings as ECR answers them: basic ImageScanFinding, and Inspector's
// EnhancedImageScanFinding for ENHANCED scans.

export interface ImageContext {
  accountId: string;
  region: string;
  repository: string;
  digest: string;
  tags: string[];
  pushedAt: number;
  architecture?: string;
  platform?: string;
}

export function findingKey(f: Finding): string {
  return `${f.name}|${f.package.ecosystem}|${f.package.name}|${f.package.version}|${f.package.path}`;
}

function attr(key: string, value: string | number | undefined) {
  return value === undefined || value === '' ? [] : [{ key, value: String(value).slice(0, 256) }];
}

export function basicFinding(f: Finding) {
  return {
    name: f.name,
    description: f.description,
    uri: f.uri,
    severity: f.severity,
    attributes: [
      ...attr('package_version', f.package.version),
      ...attr('package_name', f.package.name),
      ...attr('CVSS2_VECTOR', f.cvss2?.vector),
      ...attr('CVSS2_SCORE', f.cvss2?.score),
      ...attr('CVSS3_VECTOR', f.cvss3?.vector),
      ...attr('CVSS3_SCORE', f.cvss3?.score),
      ...attr('fixed_in_version', f.fixedIn ?? undefined),
    ],
  };
}

const PACKAGE_MANAGERS: Record<string, string> = { Debian: 'OS', Ubuntu: 'OS', Alpine: 'OS', npm: 'NODE', PyPI: 'PYTHONPKG', Go: 'GOBINARY', Maven: 'JAR', RubyGems: 'GEMSPEC', 'crates.io': 'CARGO' };

function splitRpm(version: string): { epoch: number; version: string; release?: string } {
  const colon = version.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(version.slice(0, colon)) ? Number(version.slice(0, colon)) : 0;
  const rest = colon > 0 ? version.slice(colon + 1) : version;
  const dash = rest.lastIndexOf('-');
  return dash > 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest };
}

export function enhancedFinding(f: Finding, image: ImageContext, firstObservedAt: number, updatedAt: number, suppressed: boolean) {
  const v = f.package.kind === 'os' ? splitRpm(f.package.version) : { epoch: 0, version: f.package.version };
  const cvss = [
    ...(f.cvss3 ? [{ baseScore: f.cvss3.score, scoringVector: f.cvss3.vector, source: 'OSV', version: f.cvss3.vector.slice(5, 8) }] : []),
    ...(f.cvss2 ? [{ baseScore: f.cvss2.score, scoringVector: f.cvss2.vector, source: 'OSV', version: '2.0' }] : []),
  ];
  const hash = Buffer.from(findingKey(f)).toString('base64url').slice(0, 64);
  return {
    awsAccountId: image.accountId,
    description: f.description,
    findingArn: `arn:aws:inspector2:${image.region}:${image.accountId}:finding/${hash}`,
    firstObservedAt: new Date(firstObservedAt),
    lastObservedAt: new Date(updatedAt),
    packageVulnerabilityDetails: {
      cvss,
      referenceUrls: f.references,
      relatedVulnerabilities: f.aliases.filter((a) => a !== f.name),
      source: 'OSV',
      sourceUrl: f.uri,
      ...(f.published ? { vendorCreatedAt: new Date(f.published) } : {}),
      vendorSeverity: f.vendorSeverity ?? f.severity,
      vendorUpdatedAt: new Date(f.modified),
      vulnerabilityId: f.name,
      vulnerablePackages: [
        {
          ...(f.package.arch ? { arch: f.package.arch } : {}),
          epoch: v.epoch,
          filePath: f.package.path,
          name: f.package.name,
          packageManager: PACKAGE_MANAGERS[f.package.ecosystem] ?? 'OS',
          ...('release' in v && v.release ? { release: v.release } : {}),
          version: v.version,
          ...(f.fixedIn ? { fixedInVersion: f.fixedIn } : { fixedInVersion: 'NotAvailable' }),
        },
      ],
    },
    remediation: { recommendation: { text: f.fixedIn ? `Upgrade ${f.package.name} to ${f.fixedIn} or later.` : 'None Provided', url: f.uri } },
    resources: [
      {
        details: {
          awsEcrContainerImage: {
            ...(image.architecture ? { architecture: image.architecture } : {}),
            imageHash: image.digest,
            imageTags: image.tags,
            ...(image.platform ? { platform: image.platform } : {}),
            pushedAt: new Date(image.pushedAt),
            registry: image.accountId,
            repositoryName: image.repository,
          },
        },
        id: `arn:aws:ecr:${image.region}:${image.accountId}:repository/${image.repository}/${image.digest}`,
        type: 'AWS_ECR_CONTAINER_IMAGE',
      },
    ],
    ...(f.cvss3 ? { score: f.cvss3.score, scoreDetails: { cvss: { adjustments: [], score: f.cvss3.score, scoreSource: 'OSV', scoringVector: f.cvss3.vector, version: f.cvss3.vector.slice(5, 8) } } } : {}),
    severity: f.severity,
    status: suppressed ? 'SUPPRESSED' : 'ACTIVE',
    title: `${f.name} - ${f.package.name}`,
    type: 'PACKAGE_VULNERABILITY',
    updatedAt: new Date(updatedAt),
    fixAvailable: f.fixedIn ? 'YES' : 'NO',
    exploitAvailable: 'NO',
  };
}
