/**
 * Certificates for the HTTPS listener: a self-signed default (made with the openssl CLI, as
 * ingress-nginx's "Kubernetes Ingress Controller Fake Certificate") used when no Ingress TLS
 * secret covers the SNI name, and a cache of secure contexts per secret version so a table
 * rebuild does not re-parse unchanged keys.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { TlsCert } from './routes.ts';

const run = promisify(execFile);

/** A PEM certificate and its key. */
export interface CertPair {
  certPem: string;
  keyPem: string;
}

/**
 * Makes a self-signed certificate (10 years) for `cn` with `dnsNames` as subjectAltName. Needs the
 * `openssl` CLI. The key is RSA 2048 by default (as ingress-nginx's default certificate): with an
 * EC certificate as the server's default, OpenSSL keeps serving it over TLS 1.3 even when the SNI
 * callback switches to a context holding an RSA certificate — an RSA default serves both kinds.
 */
export async function selfSignedCert(
  cn: string,
  dnsNames: string[] = [cn],
  keyType: 'rsa' | 'ec' = 'rsa',
): Promise<CertPair> {
  const dir = await mkdtemp(join(tmpdir(), 'pn-ingress-cert-'));
  try {
    const key = join(dir, 'key.pem');
    const crt = join(dir, 'crt.pem');
    const san = dnsNames.map((d) => `DNS:${d}`).join(',');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      ...(keyType === 'ec' ? ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['rsa:2048']),
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '3650',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${san}`,
    ]);
    return { certPem: await readFile(crt, 'utf8'), keyPem: await readFile(key, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Secure contexts by `secret@resourceVersion`; entries not used by the latest table are dropped. */
export class SecureContextCache {
  private map = new Map<string, tls.SecureContext | null>();

  constructor(private readonly log: (line: string) => void = () => {}) {}

  /** The context for a certificate (null when the PEMs do not load: the default cert is used). */
  get(c: TlsCert): tls.SecureContext | null {
    const k = `${c.secret}@${c.resourceVersion}@${c.certPem.length}`;
    let ctx = this.map.get(k);
    if (ctx === undefined) {
      try {
        ctx = tls.createSecureContext({ cert: c.certPem, key: c.keyPem });
      } catch (e) {
        this.log(`ingress: secret ${c.secret}: cannot load certificate: ${(e as Error).message}`);
        ctx = null;
      }
      this.map.set(k, ctx);
    }
    return ctx;
  }

  /** Keeps only the entries for `certs`. */
  retain(certs: Iterable<TlsCert>): void {
    const keep = new Set<string>();
    for (const c of certs) keep.add(`${c.secret}@${c.resourceVersion}@${c.certPem.length}`);
    for (const k of this.map.keys()) if (!keep.has(k)) this.map.delete(k);
  }
}
