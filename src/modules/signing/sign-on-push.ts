import { Readable } from 'node:stream';
import type { RegistryService } from '../../domain/registry-service.js';
import { digestOf } from '../../domain/digest.js';
import { PROFILE_ANNOTATION, ruleApplies, type SigningConfigurations } from './configuration.js';
import { EMPTY_CONFIG, EMPTY_DIGEST, signatureManifest, signEnvelope } from './notary.js';
import type { SigningProfiles } from './profiles.js';

// Berth signs a pushed image itself when a rule of its registry's signing configuration
// applies: one Notary Project signature per profile, attached as a referrer. Artifacts
// with a subject (signatures, SBOMs) are not signed, as ECR signs images.

export interface PushedImage {
  registryId: string;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  subjectDigest: string | null;
}

export async function signPushedImage(image: PushedImage, deps: { configurations: SigningConfigurations; profiles: SigningProfiles; registry: RegistryService; now?: () => number }): Promise<number> {
  if (image.subjectDigest !== null) return 0;
  const configuration = await deps.configurations.find(image.registryId);
  if (!configuration) return 0;
  const profileArns = [...new Set(configuration.rules.filter((r) => ruleApplies(r, image.repository)).map((r) => r.signingProfileArn))];
  let made = 0;
  for (const arn of profileArns) {
    const key = await deps.profiles.keyFor(arn);
    if (!key) continue; // a canceled or unknown profile signs nothing; DescribeImageSigningStatus shows FAILED
    const target = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const envelope = signEnvelope(target, key, new Date((deps.now ?? Date.now)()));
    await deps.registry.uploadMonolithic(image.registryId, image.repository, EMPTY_DIGEST, Readable.from([EMPTY_CONFIG]), EMPTY_CONFIG.length);
    await deps.registry.uploadMonolithic(image.registryId, image.repository, digestOf(envelope), Readable.from([envelope]), envelope.length);
    const manifest = signatureManifest(target, envelope, key.chainPem, { [PROFILE_ANNOTATION]: arn });
    await deps.registry.putManifest(image.registryId, image.repository, digestOf(manifest), 'application/vnd.oci.image.manifest.v1+json', manifest);
    made++;
  }
  return made;
}
