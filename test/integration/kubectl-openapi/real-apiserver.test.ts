/**
 * kubectl 1.20 against the real podnet API server (src/apiserver, in-memory store, random port on
 * 127.0.0.1): what the server sends back must pass kubectl's validation against our own OpenAPI
 * document (`get -o yaml` → `apply`), and merge keys must make `apply` keep list entries another
 * client added (here `kubectl set env` adds an env var that the applied manifest never had).
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';

const KUBECTL = join(import.meta.dirname, '../../../.tools/kubectl');
const haveTools = existsSync(KUBECTL) && existsSync('/usr/bin/openssl');

const deployment = (sidecarImage: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'web:1',
            ports: [{ name: 'http', containerPort: 8080 }],
            env: [{ name: 'MODE', value: 'demo' }],
          },
          { name: 'sidecar', image: sidecarImage },
        ],
      },
    },
  },
});

const OTHERS = [
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web' },
    spec: {
      rules: [
        {
          host: 'web.example',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config' }, data: { a: '1' } },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web' },
    spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
  },
];

describe.skipIf(!haveTools)('kubectl 1.20 against the real podnet API server', () => {
  let ts: TestServer;
  const run = (args: string[]): Promise<{ code: number; out: string; stdout: string }> =>
    new Promise((resolve) => {
      execFile(
        KUBECTL,
        ['--kubeconfig', ts.kubeconfigPath, '--cache-dir', join(ts.dir, 'cache'), '-n', 'default', ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr, stdout }),
      );
    });
  const file = (name: string, content: unknown) => {
    const p = join(ts.dir, name);
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };

  beforeAll(async () => {
    ts = await startTestServer();
  });
  afterAll(async () => {
    await ts?.dispose();
  });

  it('applies manifests with default validation', async () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [deployment('side:1'), ...OTHERS] };
    const r = await run(['apply', '-f', file('v1.json', list)]);
    expect(r.out).toContain('deployment.apps/web created');
    expect(r.out).toContain('networkpolicy.networking.k8s.io/web created');
    expect(r.code).toBe(0);
  });

  it.each([
    ['deployment', 'web'],
    ['service', 'web'],
    ['ingress', 'web'],
    ['configmap', 'web-config'],
    ['networkpolicy', 'web'],
    ['namespace', 'default'],
  ])('what the server returns for %s/%s validates against the document', async (kind, name) => {
    const got = await run(['get', kind, name, '-o', 'yaml']);
    expect(got.code).toBe(0);
    const r = await run(['apply', '--dry-run=client', '-f', file(`${kind}.yaml`, got.stdout)]);
    expect(r.out).not.toMatch(/error validating|unknown field/);
    expect(r.code).toBe(0);
  });

  it('apply merges containers and env by name, keeping entries others added', async () => {
    const set = await run(['set', 'env', 'deployment/web', '-c', 'web', 'EXTRA=kept']);
    expect(set.code).toBe(0);
    const r = await run(['apply', '-f', file('v2.json', deployment('side:2'))]);
    expect(r.out).toContain('deployment.apps/web configured');
    const live = (await ts.req('GET', '/apis/apps/v1/namespaces/default/deployments/web')).body;
    const containers = live.spec.template.spec.containers;
    expect(containers.map((c: any) => [c.name, c.image])).toEqual([
      ['web', 'web:1'],
      ['sidecar', 'side:2'],
    ]);
    expect(containers[0].env).toEqual([
      { name: 'MODE', value: 'demo' },
      { name: 'EXTRA', value: 'kept' },
    ]);
  });
});
