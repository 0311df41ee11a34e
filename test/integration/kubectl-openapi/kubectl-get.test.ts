/**
 * kubectl 1.20's `get` against podnet's server-side Tables (served by the test-only HTTPS server on
 * 127.0.0.1): kubectl accepts the meta.k8s.io/v1 Table, and its output is byte for byte what
 * printTable (used by `podnet get`) lays out from the same Table, plain and `-o wide`.
 * Ages are days old so that they cannot tick between the two renderings.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiVersionOf, RESOURCES, resolveResourceName } from '../../../src/api/resources.ts';
import type { KubeObject } from '../../../src/api/types.ts';
import { printTable } from '../../../src/apiserver/tables.ts';
import { type FakeApiServer, startFakeApiServer } from './fake-apiserver.ts';

const KUBECTL = join(import.meta.dirname, '../../../.tools/kubectl');
const haveTools = existsSync(KUBECTL) && existsSync('/usr/bin/openssl');
const DAY = 86_400_000;
const created = (days: number) => new Date(Date.now() - days * DAY).toISOString();

function pod(name: string, node: string, ip: string, status: any): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `u-${name}`, creationTimestamp: created(3) },
    spec: { nodeName: node, containers: [{ name: 'web', image: 'web:1' }] },
    status: { phase: 'Running', podIPs: [{ ip }], ...status },
  };
}

const PODS = [
  pod('web-7d4b9c-x2x4z', 'node-1', '10.244.1.5', {
    containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: {} } }],
  }),
  pod('crashy', 'node-2', '10.244.2.9', {
    containerStatuses: [
      {
        name: 'web',
        ready: false,
        restartCount: 12,
        state: { waiting: { reason: 'CrashLoopBackOff' } },
        lastState: { terminated: { exitCode: 1, finishedAt: created(2) } },
      },
    ],
  }),
];

const SERVICES: KubeObject[] = [
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: created(10) },
    spec: {
      type: 'NodePort',
      clusterIPs: ['10.96.12.7'],
      selector: { app: 'web' },
      ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }],
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'lb', namespace: 'default', creationTimestamp: created(1) },
    spec: {
      type: 'LoadBalancer',
      clusterIPs: ['10.96.0.50'],
      ports: [{ port: 443, nodePort: 31443, protocol: 'TCP' }],
    },
  },
];

/** A bare object of every served kind (printers must cope with absent spec and status). */
const BARE = Object.fromEntries(
  RESOURCES.map((res) => {
    const prefix = res.group ? `/apis/${apiVersionOf(res)}` : `/api/${res.version}`;
    const path = `${prefix}${res.namespaced ? '/namespaces/default' : ''}/${res.plural}`;
    const item: KubeObject = {
      apiVersion: apiVersionOf(res),
      kind: res.kind,
      metadata: {
        name: `a-${res.singular}`,
        ...(res.namespaced ? { namespace: 'default' } : {}),
        creationTimestamp: created(4),
      },
    };
    return [path, { res, items: [item] }];
  }),
);

function kubectl(
  server: FakeApiServer,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', server.kubeconfig, '--cache-dir', join(server.dir, 'cache'), ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!haveTools)('kubectl 1.20 get prints podnet Tables', () => {
  let server: FakeApiServer;
  beforeAll(async () => {
    server = await startFakeApiServer(
      {},
      {
        ...BARE,
        '/api/v1/namespaces/default/pods': { res: resolveResourceName('pods')!, items: PODS },
        '/api/v1/namespaces/default/services': { res: resolveResourceName('services')!, items: SERVICES },
      },
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['pods', false],
    ['pods', true],
    ['services', false],
    ['services', true],
  ])('get %s (wide: %s) matches printTable', async (resource, wide) => {
    const before = server.tables.length;
    const r = await kubectl(server, ['get', resource, ...(wide ? ['-o', 'wide'] : [])]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const table = server.tables[before];
    expect(table, 'kubectl asked for a Table').toBeDefined();
    expect(r.stdout).toBe(printTable(table!, { wide }));
  });

  it.each(RESOURCES.filter((r) => r.kind !== 'Pod' && r.kind !== 'Service').map((r) => [r.plural, r]))(
    'get %s -o wide matches printTable',
    async (_, res) => {
      const before = server.tables.length;
      const r = await kubectl(server, [
        'get',
        `${res.plural}${res.group ? `.${res.group}` : ''}`,
        '-o',
        'wide',
      ]);
      expect(r.stderr).toBe('');
      expect(server.tables[before]?.columnDefinitions).toBeDefined();
      expect(r.stdout).toBe(printTable(server.tables[before]!, { wide: true }));
      expect(r.stdout).toContain(`a-${res.singular}`);
    },
  );

  it('explain reads field docs, types and required markers from the document', async () => {
    const r = await kubectl(server, ['explain', 'service.spec.ports']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/port\s+<integer> -required-/);
    expect(r.stdout).toContain('For NodePort and LoadBalancer: the port opened on every node');
  });

  it('shows the cells kubectl users expect', async () => {
    const r = await kubectl(server, ['get', 'pods', '-o', 'wide']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/,
    );
    expect(lines[2]).toMatch(
      /^crashy\s+0\/1\s+CrashLoopBackOff\s+12 \(2d ago\)\s+3d\s+10\.244\.2\.9\s+node-2/,
    );
    const svc = await kubectl(server, ['get', 'svc', '--no-headers']);
    expect(svc.stdout).toMatch(/^web\s+NodePort\s+10\.96\.12\.7\s+<none>\s+80:30080\/TCP\s+10d\n/);
    expect(svc.stdout).toMatch(/\nlb\s+LoadBalancer\s+10\.96\.0\.50\s+<pending>\s+443:31443\/TCP\s+24h\n$/);
  });
});
