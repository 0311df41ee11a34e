/**
 * PKI, kubeconfig and the HTTP edge helpers: certificates made by openssl chain to the CA and name
 * 127.0.0.1/localhost, secrets are mode 0600 and reused on a second run, the kubeconfig carries
 * the CA and the token, and Accept negotiation picks what kubectl and client libraries ask for.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkBearer, negotiate } from './http.ts';
import { generatePki, type Pki, writeKubeconfig } from './pki.ts';

describe.skipIf(!existsSync('/usr/bin/openssl'))('generatePki / writeKubeconfig', () => {
  let dir: string;
  let pki: Pki;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pn-pki-'));
    pki = await generatePki(join(dir, 'pki'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a CA and a serving certificate for 127.0.0.1 and localhost', () => {
    const ca = new X509Certificate(pki.caPem);
    const cert = new X509Certificate(pki.certPem);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('example.com')).toBeUndefined();
  });

  it('writes every file mode 0600 and reuses them on the next run', async () => {
    for (const p of [pki.caPath, pki.caKeyPath, pki.certPath, pki.keyPath]) {
      expect((await stat(p)).mode & 0o777).toBe(0o600);
    }
    const again = await generatePki(join(dir, 'pki'));
    expect(again.caPem).toBe(pki.caPem);
    expect(again.certPem).toBe(pki.certPem);
  });

  it('writes a 0600 kubeconfig with CA data, token, context and current-context', async () => {
    const path = join(dir, 'kubeconfig');
    await writeKubeconfig(path, {
      server: 'https://127.0.0.1:1234',
      caPem: pki.caPem,
      token: 'tok',
      clusterName: 'c1',
    });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const kc = parse(await readFile(path, 'utf8'));
    expect(kc['current-context']).toBe('c1');
    expect(kc.clusters[0].cluster.server).toBe('https://127.0.0.1:1234');
    expect(Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(
      pki.caPem,
    );
    expect(kc.users[0].user.token).toBe('tok');
    expect(kc.contexts[0].context).toMatchObject({ cluster: 'c1', user: kc.users[0].name });
  });
});

describe('checkBearer', () => {
  it('accepts only the exact token in a Bearer header', () => {
    expect(checkBearer('Bearer abc', 'abc')).toBe(true);
    expect(checkBearer('bearer abc', 'abc')).toBe(true);
    expect(checkBearer('Bearer abcd', 'abc')).toBe(false);
    expect(checkBearer('Bearer ab', 'abc')).toBe(false);
    expect(checkBearer('Basic abc', 'abc')).toBe(false);
    expect(checkBearer(undefined, 'abc')).toBe(false);
    expect(checkBearer('Bearer ', 'abc')).toBe(false);
  });
});

describe('negotiate', () => {
  it('picks the first representation it can serve', () => {
    expect(negotiate(undefined)).toEqual({ as: 'object' });
    expect(negotiate('application/json, */*')).toEqual({ as: 'object' });
    expect(
      negotiate(
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
      ),
    ).toEqual({ as: 'Table', version: 'v1' });
    expect(negotiate('application/json;as=Table;v=v1beta1;g=meta.k8s.io')).toEqual({
      as: 'Table',
      version: 'v1beta1',
    });
    expect(
      negotiate('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'),
    ).toEqual({
      as: 'PartialObjectMetadata',
      version: 'v1',
    });
    // Aggregated discovery is skipped; the plain JSON after it is taken.
    expect(
      negotiate('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json'),
    ).toEqual({
      as: 'object',
    });
    expect(() => negotiate('application/vnd.kubernetes.protobuf')).toThrow(/only application\/json/);
  });
});
