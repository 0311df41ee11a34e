/**
 * Per-cluster PKI and kubeconfig. The API server speaks only HTTPS: podnet makes its own CA and a
 * serving certificate for 127.0.0.1/localhost with the `openssl` CLI (no npm crypto dependency,
 * the same tool an administrator would use), and writes a kubeconfig that trusts that CA through
 * `certificate-authority-data` and authenticates with a bearer token. Keys and the kubeconfig are
 * mode 0600: they grant full access to the cluster.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { PodnetError } from '../util/errors.ts';

const execFileP = promisify(execFile);

/** The PEM texts and file paths of a cluster's PKI. */
export interface Pki {
  caPem: string;
  certPem: string;
  keyPem: string;
  caPath: string;
  caKeyPath: string;
  certPath: string;
  keyPath: string;
}

/** Options for generatePki. */
export interface PkiOptions {
  /** Extra subjectAltNames for the serving certificate (IPs or DNS names). */
  extraSans?: string[];
  /** Days the certificates are valid (default 3650 for the CA, 825 for the serving cert). */
  days?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (e: any) {
    if (e?.code === 'ENOENT') {
      throw new PodnetError('PN_ERR_CONFIG', 'openssl not found: install the Debian package "openssl"');
    }
    throw new PodnetError(
      'PN_ERR_INTERNAL',
      `openssl ${args[0]} failed: ${String(e?.stderr || e?.message).trim()}`,
    );
  }
}

function sanLine(extra: string[]): string {
  const sans = new Set(['IP:127.0.0.1', 'DNS:localhost', ...extra.map(sanEntry)]);
  return [...sans].join(',');
}

function sanEntry(s: string): string {
  if (/^(IP|DNS):/.test(s)) return s;
  return /^[0-9.]+$/.test(s) || s.includes(':') ? `IP:${s}` : `DNS:${s}`;
}

/**
 * Creates (or reuses, when all files are already there) a CA and a serving certificate under
 * `dir`: ca.crt, ca.key, apiserver.crt, apiserver.key. Keys are EC P-256, all files mode 0600.
 */
export async function generatePki(dir: string, opts: PkiOptions = {}): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  const certPath = join(dir, 'apiserver.crt');
  const keyPath = join(dir, 'apiserver.key');
  const all = [caPath, caKeyPath, certPath, keyPath];
  const present = await Promise.all(all.map(exists));
  if (!present.every(Boolean)) {
    const caDays = String(opts.days ?? 3650);
    const certDays = String(opts.days ?? 825);
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        caKeyPath,
        '-out',
        caPath,
        '-days',
        caDays,
        '-subj',
        '/CN=podnet-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    const csr = join(dir, 'apiserver.csr');
    const ext = join(dir, 'apiserver.ext');
    await openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        csr,
        '-subj',
        '/CN=podnet-apiserver',
      ],
      dir,
    );
    await writeFile(
      ext,
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${sanLine(opts.extraSans ?? [])}`,
        '',
      ].join('\n'),
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caPath,
        '-CAkey',
        caKeyPath,
        '-set_serial',
        `0x${randomBytes(8).toString('hex')}`,
        '-out',
        certPath,
        '-days',
        certDays,
        '-extfile',
        ext,
      ],
      dir,
    );
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
  await Promise.all(all.map((p) => chmod(p, 0o600)));
  const [caPem, certPem, keyPem] = await Promise.all(
    [caPath, certPath, keyPath].map((p) => readFile(p, 'utf8')),
  );
  return { caPem: caPem!, certPem: certPem!, keyPem: keyPem!, caPath, caKeyPath, certPath, keyPath };
}

/** What goes into a kubeconfig. */
export interface KubeconfigOptions {
  /** `https://127.0.0.1:PORT` */
  server: string;
  caPem: string;
  token: string;
  clusterName: string;
  /** Namespace of the context (default `default`). */
  namespace?: string;
}

/**
 * Writes a kubeconfig (mode 0600) with one cluster (server + CA data), one user (the token), one
 * context joining them, selected as current-context.
 */
export async function writeKubeconfig(path: string, o: KubeconfigOptions): Promise<void> {
  const user = `${o.clusterName}-admin`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [
      {
        name: o.clusterName,
        cluster: {
          server: o.server,
          'certificate-authority-data': Buffer.from(o.caPem).toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token: o.token } }],
    contexts: [
      {
        name: o.clusterName,
        context: { cluster: o.clusterName, user, namespace: o.namespace ?? 'default' },
      },
    ],
    'current-context': o.clusterName,
  };
  await writeFile(path, stringify(doc), { mode: 0o600 });
  // writeFile's mode only applies to new files; an existing kubeconfig may have been wider.
  await chmod(path, 0o600);
}

/** A fresh random bearer token (URL-safe, 256 bits). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}
