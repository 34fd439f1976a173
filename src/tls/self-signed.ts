import { execFile } from 'node:child_process';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// `--tls-self-signed`: a local certificate authority and a server certificate it signs, kept
// under <data-dir>/tls/ and reused on later starts. Made with the `openssl` command (OpenSSL
// ships with every Debian and container base image Berth targets; it is the reference X.509
// implementation, so no certificate code of our own and no extra npm dependency). Clients
// trust ca.pem (skopeo --cert-dir, containerd hosts.toml ca, aws --ca-bundle, NODE_EXTRA_CA_CERTS).

const run = promisify(execFile);

export interface SelfSignedFiles {
  dir: string;
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  /** True when this call made them (first start). */
  created: boolean;
}

export async function ensureSelfSigned(dataDir: string, extraNames: string[] = []): Promise<SelfSignedFiles> {
  const dir = join(dataDir, 'tls');
  const files = { dir, caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca.key'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  const exists = async (p: string) => access(p).then(() => true, () => false);
  if ((await exists(files.cert)) && (await exists(files.key)) && (await exists(files.caCert))) return { ...files, created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = [...new Set(['localhost', hostname(), ...extraNames])];
  const san = [...names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)), 'IP:127.0.0.1', 'IP:::1'].join(',');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await run('openssl', ['req', '-x509', ...ec, '-keyout', files.caKey, '-out', files.caCert, '-days', '3650', '-subj', `/CN=Berth local CA ${hostname()}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    const csr = join(dir, 'server.csr');
    const ext = join(dir, 'server.ext');
    await run('openssl', ['req', '-new', ...ec, '-keyout', files.key, '-out', csr, '-subj', `/CN=${names[0]}`]);
    await writeFile(ext, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
    // 397 days: the longest validity browsers and Apple clients accept for a server certificate.
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', files.caCert, '-CAkey', files.caKey, '-CAcreateserial', '-days', '397', '-sha256', '-extfile', ext, '-out', files.cert]);
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('--tls-self-signed needs the openssl command (apt-get install openssl)');
    throw new Error(`openssl failed making the self-signed certificate: ${e.stderr ?? e.message}`);
  }
  return { ...files, created: true };
}

/** What to tell people on the first start, so their clients trust the local CA. */
export function trustInstructions(files: SelfSignedFiles, hostPort: string): string {
  return (
    `\nTLS: a local CA and a server certificate were made in ${files.dir}; trust ${files.caCert}:\n` +
    `  skopeo/podman/buildah: mkdir -p /etc/containers/certs.d/${hostPort} && cp ${files.caCert} /etc/containers/certs.d/${hostPort}/ca.crt  (or --cert-dir)\n` +
    `  docker:                mkdir -p /etc/docker/certs.d/${hostPort} && cp ${files.caCert} /etc/docker/certs.d/${hostPort}/ca.crt\n` +
    `  containerd:            hosts.toml [host."https://${hostPort}"] ca = "${files.caCert}"\n` +
    `  aws CLI:               aws --ca-bundle ${files.caCert} ...   (or AWS_CA_BUNDLE)\n` +
    `  node / JS SDK:         NODE_EXTRA_CA_CERTS=${files.caCert}\n` +
    `  system-wide (Debian):  cp ${files.caCert} /usr/local/share/ca-certificates/berth.crt && update-ca-certificates\n`
  );
}
