// Robustness: defaulting, validation and patching must answer malformed objects with causes or
// ApiErrors, never with a TypeError. Mutates realistic objects at random (seeded) positions.
import { describe, expect, it } from 'vitest';
import { applyDefaults } from './defaults.ts';
import { ApiError } from './errors.ts';
import { applyPatch } from './patch.ts';
import { resourceForKind } from './resources.ts';
import { prepareForCreate, prepareForUpdate } from './strategy.ts';
import type { KubeObject } from './types.ts';
import { validate, validateUpdate } from './validation.ts';

const SEEDS: KubeObject[] = [
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'd', labels: { a: 'b' } },
    spec: {
      hostNetwork: false,
      containers: [
        {
          name: 'c',
          image: 'i',
          ports: [{ containerPort: 80, name: 'http' }],
          env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
          readinessProbe: { httpGet: { port: 'http' } },
          resources: { limits: { cpu: '1' } },
          volumeMounts: [{ name: 'v', mountPath: '/v' }],
        },
      ],
      volumes: [{ name: 'v', configMap: { name: 'x' } }],
      tolerations: [{ key: 'k', operator: 'Exists' }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['b'] }] }],
          },
        },
      },
      dnsConfig: { nameservers: ['10.96.0.10'] },
    },
    status: {
      podIP: '10.244.1.5',
      podIPs: [{ ip: '10.244.1.5' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's', namespace: 'd' },
    spec: {
      type: 'LoadBalancer',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      ipFamilies: ['IPv4'],
      selector: { a: 'b' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080 }],
      externalIPs: ['172.31.0.9'],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } },
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      loadBalancerSourceRanges: ['172.31.0.0/24'],
    },
    status: { loadBalancer: { ingress: [{ ip: '172.31.0.200' }] } },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'd' },
    spec: {
      selector: { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'x', operator: 'Exists' }] },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      template: {
        metadata: { labels: { a: 'b', x: 'y' } },
        spec: { containers: [{ name: 'c', image: 'i' }] },
      },
    },
  },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'e', namespace: 'd' },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true } }],
    ports: [{ name: 'http', port: 80 }],
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'i', namespace: 'd' },
    spec: {
      tls: [{ hosts: ['a.example'], secretName: 's' }],
      rules: [
        {
          host: 'a.example',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'n', namespace: 'd' },
    spec: {
      podSelector: {},
      ingress: [
        {
          from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [{ port: 80, endPort: 90 }],
        },
      ],
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', namespace: 'd' },
    data: { a: 'YQ==' },
    stringData: { b: 'c' },
  },
  {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n' },
    spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'k', effect: 'NoSchedule' }] },
    status: { addresses: [{ type: 'InternalIP', address: '172.31.0.2' }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'e', namespace: 'd' },
    subsets: [{ addresses: [{ ip: '10.244.1.5', nodeName: 'n' }], ports: [{ name: 'a', port: 80 }] }],
  },
  {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'e', namespace: 'd' },
    involvedObject: { kind: 'Pod', namespace: 'd', name: 'p' },
    type: 'Normal',
    reason: 'R',
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: 'c' },
    spec: {
      controller: 'podnet.dev/ingress',
      parameters: { kind: 'K', name: 'n', scope: 'Namespace', namespace: 'd' },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'd' },
    data: { a: 'b' },
    immutable: true,
  },
  {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'n', finalizers: ['a/b'] },
    spec: { finalizers: ['kubernetes'] },
  },
];

const JUNK: unknown[] = [
  null,
  'x',
  -1,
  0,
  70000,
  1.5,
  true,
  [],
  {},
  [null],
  [1, 'a'],
  { a: null },
  '10.0.0.1',
  'None',
  '',
];

/** Small seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) out.push(...paths(x, [...prefix, i]));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function setAt(o: any, p: (string | number)[], v: unknown): void {
  let cur = o;
  for (const k of p.slice(0, -1)) cur = cur[k];
  cur[p[p.length - 1]!] = v;
}

function runAll(seed: KubeObject, mutated: KubeObject): void {
  const res = resourceForKind(seed.apiVersion, seed.kind)!;
  const tolerate = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
    }
  };
  tolerate(() => {
    const o = structuredClone(mutated);
    prepareForCreate(res, o);
    applyDefaults(res, o);
    validate(res, o);
  });
  tolerate(() => {
    const o = structuredClone(mutated);
    prepareForUpdate(res, seed, o);
    applyDefaults(res, o);
    validateUpdate(res, seed, o);
  });
  tolerate(() => applyPatch(res, seed, 'application/strategic-merge-patch+json', mutated));
  tolerate(() => applyPatch(res, mutated, 'application/strategic-merge-patch+json', seed));
  tolerate(() => applyPatch(res, seed, 'application/merge-patch+json', mutated));
}

describe('robustness', () => {
  it('never throws anything but ApiError on randomly corrupted objects', () => {
    const next = rng(42);
    let runs = 0;
    for (const seed of SEEDS) {
      const ps = paths(seed).filter((p) => p.length > 0 && p[0] !== 'apiVersion' && p[0] !== 'kind');
      for (let i = 0; i < 100; i++) {
        const m = structuredClone(seed) as any;
        const nMut = 1 + Math.floor(next() * 3);
        for (let j = 0; j < nMut; j++) {
          const p = ps[Math.floor(next() * ps.length)]!;
          try {
            setAt(m, p, structuredClone(JUNK[Math.floor(next() * JUNK.length)]));
          } catch {
            // the path vanished under an earlier mutation
          }
        }
        expect(() => runAll(seed, m)).not.toThrow();
        runs++;
      }
    }
    expect(runs).toBe(SEEDS.length * 100);
  });
});
