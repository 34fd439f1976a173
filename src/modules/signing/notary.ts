import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Notary Project signatures (notaryproject/specifications: signature-specification.md and
// signature-envelope-jws.md): a JWS JSON Serialization envelope over the payload
// {"targetArtifact": <descriptor of the signed manifest>}, protected headers alg ES384, crit
// [io.cncf.notary.signingScheme], cty application/vnd.cncf.notary.payload.v1+json,
// signingScheme notary.x509, signingTime; the certificate chain (leaf first) in the
// unprotected header's x5c. Stored as an OCI image manifest whose artifactType is
// application/vnd.cncf.notary.signature, whose one layer is the envelope
// (application/jose+json), and whose subject is the signed manifest.

export const NOTARY_SIGNATURE_TYPE = 'application/vnd.cncf.notary.signature';
export const NOTARY_PAYLOAD_TYPE = 'application/vnd.cncf.notary.payload.v1+json';
export const JWS_MEDIA_TYPE = 'application/jose+json';
export const SIGNING_AGENT = 'Berth managed signing';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface SigningKey {
  /** PKCS#8 PEM of an ECDSA P-384 private key. */
  privateKeyPem: string;
  /** The certificate chain, leaf first, as PEM. */
  chainPem: string[];
}

/**
 * A fresh signing key with a self-signed certificate as Notary Project requires of a signing
 * certificate: X.509 v3, keyUsage digitalSignature (critical), extendedKeyUsage codeSigning,
 * basicConstraints CA:FALSE. Made with the openssl command (node:crypto reads X.509 but does
 * not issue it).
 */
export async function newSigningKey(subject: string, validDays: number): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const dir = await mkdtemp(join(tmpdir(), 'berth-signing-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await writeFile(keyFile, privateKeyPem, { mode: 0o600 });
    await promisify(execFile)('openssl', [
      'req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-sha384', '-days', String(validDays), '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', 'extendedKeyUsage=codeSigning',
    ]);
    return { privateKeyPem, chainPem: [await readFile(certFile, 'utf8')] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const b64url = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64url');

/** The JWS envelope signing `target` with `key` at `signingTime`. */
export function signEnvelope(target: Descriptor, key: SigningKey, signingTime: Date, extraSignedAttributes: Record<string, string> = {}): Buffer {
  const payload = JSON.stringify({ targetArtifact: target });
  const protectedHeader = JSON.stringify({
    alg: 'ES384',
    crit: ['io.cncf.notary.signingScheme'],
    cty: NOTARY_PAYLOAD_TYPE,
    'io.cncf.notary.signingScheme': 'notary.x509',
    // RFC 3339 at whole seconds, as the spec's examples.
    'io.cncf.notary.signingTime': signingTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...extraSignedAttributes,
  });
  const signingInput = `${b64url(protectedHeader)}.${b64url(payload)}`;
  // JWS ES384: the raw r||s, 96 bytes (RFC 7518 §3.4), over SHA-384.
  const signature = sign('sha384', Buffer.from(signingInput), { key: createPrivateKey(key.privateKeyPem), dsaEncoding: 'ieee-p1363' });
  const x5c = key.chainPem.map((pem) => new X509Certificate(pem).raw.toString('base64'));
  return Buffer.from(
    JSON.stringify({
      payload: b64url(payload),
      protected: b64url(protectedHeader),
      header: { 'io.cncf.notary.signingAgent': SIGNING_AGENT, x5c },
      signature: b64url(signature),
    }),
  );
}

/** The signature manifest that attaches an envelope to `subject` as a referrer. */
export function signatureManifest(subject: Descriptor, envelope: Buffer, chainPem: string[], annotations: Record<string, string> = {}): Buffer {
  const thumbprints = chainPem.map((pem) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex'));
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: NOTARY_SIGNATURE_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY_DIGEST, size: 2 },
      layers: [{ mediaType: JWS_MEDIA_TYPE, digest: `sha256:${createHash('sha256').update(envelope).digest('hex')}`, size: envelope.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: {
        'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(thumbprints),
        'org.opencontainers.image.created': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        ...annotations,
      },
    }),
  );
}

export const EMPTY_CONFIG = Buffer.from('{}');
export const EMPTY_DIGEST = `sha256:${createHash('sha256').update(EMPTY_CONFIG).digest('hex')}`;
