// Strategic merge patch fidelity: the same (object, patch) pairs go through applyPatch and through
// kubectl 1.20's own Go implementation (`kubectl patch --local --type strategic`); the results
// must be identical. Skipped when the kubectl binary (.tools/kubectl) is not installed.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { applyPatch } from './patch.ts';
import { resolveResourceName } from './resources.ts';
import type { KubeObject } from './types.ts';

const KUBECTL = fileURLToPath(new URL('../../.tools/kubectl', import.meta.url));
const run = promisify(execFile);

const dep: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'default',
    labels: { app: 'web', tier: 'front' },
    finalizers: ['a/x', 'b/y'],
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx:1.25',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }],
          },
          { name: 'side', image: 'busybox', ports: [{ containerPort: 9000 }] },
        ],
        volumes: [{ name: 'v1', emptyDir: {} }],
        tolerations: [{ key: 'k', operator: 'Exists' }],
      },
    },
  },
};
const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'p',
    namespace: 'default',
    finalizers: ['x/a', 'x/b'],
    ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: 'u1' }],
  },
  spec: {
    containers: [
      {
        name: 'a',
        image: 'i',
        env: [
          { name: 'E1', value: '1' },
          { name: 'E2', value: '2' },
          { name: 'E3', value: '3' },
        ],
        volumeMounts: [{ name: 'v', mountPath: '/m' }],
      },
    ],
    volumes: [
      { name: 'v', emptyDir: {} },
      { name: 'w', configMap: { name: 'c' } },
    ],
    imagePullSecrets: [{ name: 's1' }],
  },
  status: {
    conditions: [
      { type: 'Ready', status: 'False' },
      { type: 'PodScheduled', status: 'True' },
    ],
    podIPs: [{ ip: '10.244.1.5' }],
  },
};
const svc: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 's', namespace: 'default' },
  spec: {
    selector: { app: 'a' },
    type: 'ClusterIP',
    ports: [
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
      { name: 'https', port: 443, protocol: 'TCP' },
    ],
  },
};

const CASES: Array<[string, KubeObject, object]> = [
  [
    'apply: new image',
    dep,
    {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'side' }],
            containers: [{ name: 'web', image: 'nginx:1.26' }],
          },
        },
      },
    },
  ],
  [
    'apply: added port and env, removed label, reordered containers',
    dep,
    {
      metadata: { labels: { tier: null } },
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }],
            containers: [
              {
                name: 'web',
                '$setElementOrder/ports': [{ containerPort: 443 }, { containerPort: 80 }],
                ports: [{ containerPort: 443 }],
                env: [{ name: 'B', value: '2' }],
              },
            ],
          },
        },
      },
    },
  ],
  [
    'apply: removed port',
    dep,
    {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'web', '$setElementOrder/ports': [], ports: [{ containerPort: 80, $patch: 'delete' }] },
            ],
          },
        },
      },
    },
  ],
  [
    'apply: removed container',
    dep,
    {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }],
            containers: [{ name: 'side', $patch: 'delete' }],
          },
        },
      },
    },
  ],
  [
    'replace list',
    dep,
    { spec: { template: { spec: { containers: [{ name: 'only', image: 'z' }, { $patch: 'replace' }] } } } },
  ],
  [
    'retainKeys strategy switch',
    dep,
    { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } } },
  ],
  [
    'tolerations replaced',
    dep,
    { spec: { template: { spec: { tolerations: [{ key: 'new', operator: 'Exists' }] } } } },
  ],
  ['finalizers merged', dep, { metadata: { finalizers: ['c/z', 'a/x'] } }],
  [
    'deleteFromPrimitiveList',
    dep,
    { metadata: { '$deleteFromPrimitiveList/finalizers': ['a/x'], finalizers: ['n/q'] } },
  ],
  ['primitive reorder', dep, { metadata: { '$setElementOrder/finalizers': ['b/y', 'a/x'] } }],
  [
    'volume source switch',
    dep,
    {
      spec: {
        template: {
          spec: {
            volumes: [
              { name: 'v1', $retainKeys: ['name', 'configMap'], configMap: { name: 'cm' } },
              { name: 'v2', emptyDir: {} },
            ],
          },
        },
      },
    },
  ],
  [
    'map replace',
    dep,
    {
      spec: {
        template: {
          $patch: 'replace',
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'r', image: 'r' }] },
        },
      },
    },
  ],
  ['map delete', dep, { spec: { strategy: { $patch: 'delete' } } }],
  [
    'ownerReferences by uid',
    pod,
    { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Y', name: 'o2', uid: 'u2' }] } },
  ],
  [
    'env merge order',
    pod,
    {
      spec: {
        containers: [
          {
            name: 'a',
            env: [
              { name: 'E2', value: '22' },
              { name: 'E0', value: '0' },
            ],
          },
        ],
      },
    },
  ],
  [
    'env with setElementOrder',
    pod,
    {
      spec: {
        containers: [
          {
            name: 'a',
            '$setElementOrder/env': [{ name: 'E3' }, { name: 'E0' }, { name: 'E1' }],
            env: [{ name: 'E0', value: '0' }],
          },
        ],
      },
    },
  ],
  [
    'env delete',
    pod,
    {
      spec: {
        containers: [
          {
            name: 'a',
            '$setElementOrder/env': [{ name: 'E1' }, { name: 'E3' }],
            env: [{ name: 'E2', $patch: 'delete' }],
          },
        ],
      },
    },
  ],
  [
    'conditions by type',
    pod,
    {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'Initialized', status: 'True' },
        ],
      },
    },
  ],
  [
    'secrets and volumes',
    pod,
    { spec: { imagePullSecrets: [{ name: 's2' }], volumes: [{ name: 'w', $patch: 'delete' }] } },
  ],
  [
    'service ports by port',
    svc,
    {
      spec: {
        ports: [
          { port: 443, targetPort: 8443 },
          { port: 53, protocol: 'UDP', name: 'dns' },
        ],
      },
    },
  ],
  [
    'service port order',
    svc,
    { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }], ports: [{ port: 80, name: 'web' }] } },
  ],
  ['selector and type', svc, { spec: { selector: { app: null, tier: 'x' }, type: 'NodePort' } }],
];

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted((v as any)[k])]),
    );
  return v;
}

describe.skipIf(!existsSync(KUBECTL))('strategic merge patch matches kubectl 1.20', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-smp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same result on every case', async () => {
    // All kubectl runs in parallel: each one is a process start, the comparison is cheap.
    const results = await Promise.all(
      CASES.map(async ([name, obj, patch], i) => {
        const file = join(dir, `obj-${i}.json`);
        writeFileSync(file, JSON.stringify(obj));
        const args = [
          'patch',
          '--local',
          '-f',
          file,
          '--type',
          'strategic',
          '-o',
          'json',
          '-p',
          JSON.stringify(patch),
        ];
        const { stdout } = await run(KUBECTL, args);
        const got = applyPatch(
          resolveResourceName(obj.kind)!,
          obj,
          'application/strategic-merge-patch+json',
          patch,
        );
        return { name, want: sorted(JSON.parse(stdout)), got: sorted(got) };
      }),
    );
    for (const r of results) expect(r.got, r.name).toEqual(r.want);
    expect(results).toHaveLength(CASES.length);
  });
});
