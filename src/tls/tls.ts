import { readFile } from 'node:fs/promises';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { BerthConfig } from '../config/config.js';
import { ensureSelfSigned, type SelfSignedFiles } from './self-signed.js';

// HTTPS for every edge on the one port. TLS 1.2 and 1.3 only: 1.0 and 1.1 are refused at
// the handshake. The certificate and key are files, read again on SIGHUP (setSecureContext):
// a renewed certificate (certbot, cert-manager) takes effect without dropping connections.

export const TLS_MIN_VERSION = 'TLSv1.2' as const;

export interface TlsSetup {
  /** Options for Fastify's `https`. */
  options: TlsOptions;
  certFile: string;
  keyFile: string;
  /** Set with --tls-self-signed. */
  selfSigned: SelfSignedFiles | null;
  /** Reads the files again; what setSecureContext takes. */
  reload(): Promise<SecureContextOptions>;
}

export async function prepareTls(config: BerthConfig): Promise<TlsSetup | null> {
  const tls = config.tls;
  let selfSigned: SelfSignedFiles | null = null;
  let certFile = tls.cert;
  let keyFile = tls.key;
  if (tls.selfSigned && !(certFile && keyFile)) {
    selfSigned = await ensureSelfSigned(config.dataDir, config.host !== '0.0.0.0' && config.host !== '::' ? [config.host] : []);
    certFile = selfSigned.cert;
    keyFile = selfSigned.key;
  }
  if (!certFile || !keyFile) return null;
  const read = async (): Promise<SecureContextOptions> => ({ cert: await readFile(certFile!), key: await readFile(keyFile!), minVersion: TLS_MIN_VERSION });
  return { options: { ...(await read()), minVersion: TLS_MIN_VERSION }, certFile, keyFile, selfSigned, reload: read };
}
