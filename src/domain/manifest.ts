import { parseDigest } from './digest.js';
import { DomainError } from './errors.js';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export const manifestMediaTypes: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
];

export const indexMediaTypes: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

/** What the registry needs to know about a manifest: its kind and what it refers to. */
export interface ParsedManifest {
  mediaType: string;
  /** Referrers-API artifact type: `artifactType`, else the config media type (null for an index without one). */
  artifactType: string | null;
  subject: Descriptor | null;
  config: Descriptor | null;
  /** Blobs that must exist in the repository (config and layers without external urls). */
  blobs: Descriptor[];
  /** Child manifests that must exist in the repository (index entries). */
  manifests: Descriptor[];
  annotations: Record<string, string> | null;
}

function fail(message: string): never {
  throw new DomainError('ManifestInvalid', message);
}

function descriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where}: descriptor must be an object`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType.length === 0) fail(`${where}: mediaType must be a non-empty string`);
  if (typeof d.digest !== 'string') fail(`${where}: digest must be a string`);
  try {
    parseDigest(d.digest);
  } catch {
    fail(`${where}: invalid digest ${String(d.digest).slice(0, 150)}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) fail(`${where}: size must be a non-negative integer`);
  if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== 'string'))) fail(`${where}: urls must be strings`);
  if (d.annotations !== undefined && !isStringMap(d.annotations)) fail(`${where}: annotations must map strings to strings`);
  if (d.artifactType !== undefined && typeof d.artifactType !== 'string') fail(`${where}: artifactType must be a string`);
  return d as unknown as Descriptor;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/**
 * Parses and validates a manifest as pushed. `contentType` is the request's Content-Type;
 * when it is missing or generic the manifest's own mediaType field decides.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    fail('manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('manifest must be a JSON object');
  const m = doc as Record<string, unknown>;
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const headerIsSpecific = header !== undefined && header !== '' && header !== 'application/json' && header !== 'application/octet-stream';

  let mediaType: string;
  if (headerIsSpecific) {
    mediaType = header;
    if (declared !== undefined && declared !== mediaType) fail(`mediaType ${declared} does not match Content-Type ${mediaType}`);
  } else if (declared !== undefined) {
    mediaType = declared;
  } else if (Array.isArray(m.manifests)) {
    mediaType = MediaTypes.ociIndex;
  } else {
    mediaType = MediaTypes.ociManifest;
  }
  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed) {
    fail('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  }
  if (!manifestMediaTypes.includes(mediaType)) fail(`unsupported manifest media type: ${mediaType.slice(0, 200)}`);
  if (m.schemaVersion !== 2) fail('schemaVersion must be 2');
  if (m.annotations !== undefined && !isStringMap(m.annotations)) fail('annotations must map strings to strings');
  if (m.artifactType !== undefined && typeof m.artifactType !== 'string') fail('artifactType must be a string');
  const subject = m.subject === undefined ? null : descriptor(m.subject, 'subject');
  const annotations = (m.annotations as Record<string, string> | undefined) ?? null;

  if (indexMediaTypes.includes(mediaType)) {
    if (!Array.isArray(m.manifests)) fail('an index must have a manifests array');
    const manifests = m.manifests.map((d, i) => descriptor(d, `manifests[${i}]`));
    return {
      mediaType,
      artifactType: (m.artifactType as string | undefined) ?? null,
      subject,
      config: null,
      blobs: [],
      manifests,
      annotations,
    };
  }

  const config = descriptor(m.config, 'config');
  if (!Array.isArray(m.layers)) fail('a manifest must have a layers array');
  const layers = m.layers.map((d, i) => descriptor(d, `layers[${i}]`));
  if (mediaType === MediaTypes.dockerManifest && layers.length === 0) fail('a Docker image manifest needs at least one layer');
  // distribution-spec (Referrers API): when a manifest has no artifactType, its config's
  // media type stands in, image configs included.
  const artifactType = (m.artifactType as string | undefined) || config.mediaType;
  // Non-distributable layers (with external urls) are not expected to be in the registry.
  const blobs = [config, ...layers.filter((l) => !l.urls || l.urls.length === 0)];
  return { mediaType, artifactType, subject, config, blobs, manifests: [], annotations };
}
