import { createHash, randomUUID } from 'node:crypto';
import type { Inventory } from './engine/inventory.js';

// An image's inventory as an SBOM: CycloneDX 1.6 JSON and SPDX 2.3 JSON, written directly
// (both are small, fixed shapes; every component carries its package-url).

export interface SbomSubject {
  repository: string;
  digest: string;
  registryHost: string;
  createdAt: number;
}

export function cycloneDx(inventory: Inventory, subject: SbomSubject) {
  const image = `${subject.registryHost}/${subject.repository}@${subject.digest}`;
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: new Date(subject.createdAt).toISOString(),
      tools: { components: [{ type: 'application', name: 'berth', version: '0.1.0' }] },
      component: {
        type: 'container',
        'bom-ref': subject.digest,
        name: subject.repository,
        version: subject.digest,
        purl: `pkg:oci/${encodeURIComponent(subject.repository.split('/').pop()!)}@${encodeURIComponent(subject.digest)}?repository_url=${encodeURIComponent(`${subject.registryHost}/${subject.repository}`)}`,
        ...(inventory.os ? { properties: [{ name: 'berth:os', value: inventory.os.name }] } : {}),
      },
      properties: [{ name: 'berth:image', value: image }],
    },
    components: [
      ...(inventory.os ? [{ type: 'operating-system', 'bom-ref': `os:${inventory.os.id}`, name: inventory.os.id, version: inventory.os.versionId, description: inventory.os.name }] : []),
      ...inventory.packages.map((p) => ({
        type: 'library',
        'bom-ref': `${p.purl}#${p.path}`,
        name: p.name,
        version: p.version,
        purl: p.purl,
        properties: [
          { name: 'berth:ecosystem', value: p.ecosystem },
          { name: 'berth:path', value: p.path },
          ...(p.sourceName ? [{ name: 'berth:source-package', value: p.sourceName }] : []),
        ],
      })),
    ],
  };
}

function spdxId(s: string): string {
  return `SPDXRef-${createHash('sha256').update(s).digest('hex').slice(0, 16)}`;
}

export function spdx(inventory: Inventory, subject: SbomSubject) {
  const root = 'SPDXRef-image';
  const packages = inventory.packages.map((p) => ({
    SPDXID: spdxId(`${p.purl}#${p.path}`),
    name: p.name,
    versionInfo: p.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    ...(p.sourceName && p.sourceName !== p.name ? { sourceInfo: `built from source package ${p.sourceName}` } : {}),
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
  }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${subject.repository}@${subject.digest}`,
    documentNamespace: `https://${subject.registryHost}/spdx/${subject.repository}/${subject.digest}/${randomUUID()}`,
    creationInfo: { created: new Date(subject.createdAt).toISOString().replace(/\.\d{3}Z$/, 'Z'), creators: ['Tool: berth-0.1.0'] },
    packages: [
      {
        SPDXID: root,
        name: subject.repository,
        versionInfo: subject.digest,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        primaryPackagePurpose: 'CONTAINER',
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
      },
      ...packages,
    ],
    relationships: [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: root }, ...packages.map((p) => ({ spdxElementId: root, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID }))],
  };
}
