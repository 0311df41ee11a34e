/**
 * runApiServer, the CLI's entry point: state (PKI, token, kubeconfig) under one directory, the
 * embedded durable store by default, and a restart that keeps objects, token and CA.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runApiServer } from './index.ts';

describe.skipIf(!existsSync('/usr/bin/openssl'))('runApiServer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pn-run-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function call(
    url: string,
    caPem: string,
    token: string,
    method: string,
    path: string,
    body?: unknown,
  ) {
    const agent = new Agent({ connect: { ca: caPem } });
    try {
      const r = await request(`${url}${path}`, {
        method: method as any,
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.statusCode, body: (await r.body.json()) as any };
    } finally {
      await agent.close();
    }
  }

  it('writes a working kubeconfig and keeps objects, token and CA across a restart', async () => {
    const first = await runApiServer({ stateDir: dir });
    let caPem: string;
    let token: string;
    try {
      expect((await stat(first.kubeconfigPath)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'token'))).mode & 0o777).toBe(0o600);
      const kc = parse(await readFile(first.kubeconfigPath, 'utf8'));
      caPem = Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
      token = kc.users[0].user.token;
      expect(token).toBe(first.token);
      expect(kc.clusters[0].cluster.server).toBe(first.url);
      const created = await call(first.url, caPem, token, 'POST', '/api/v1/namespaces/default/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'kept' },
        data: { k: 'v' },
      });
      expect(created.status).toBe(201);
    } finally {
      await first.dispose();
    }
    const second = await runApiServer({ stateDir: dir });
    try {
      expect(second.token).toBe(token);
      const got = await call(second.url, caPem, token, 'GET', '/api/v1/namespaces/default/configmaps/kept');
      expect(got.status).toBe(200);
      expect(got.body.data).toEqual({ k: 'v' });
      const nss = await call(second.url, caPem, token, 'GET', '/api/v1/namespaces');
      expect(nss.body.items.filter((n: any) => n.metadata.name === 'default')).toHaveLength(1);
    } finally {
      await second.dispose();
    }
  });
});
