// Patch tests. Strategic-merge expectations were checked against kubectl 1.20's own
// implementation (`kubectl patch --local --type strategic`) on the same inputs.
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { applyPatch, jsonMergePatch, jsonPatch, strategicMergePatch } from './patch.ts';
import { resolveResourceName } from './resources.ts';
import type { KubeObject } from './types.ts';

const R = (n: string) => resolveResourceName(n)!;
const SMP = 'application/strategic-merge-patch+json';

function makeDeployment(): KubeObject {
  return {
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
}

function makeService(): KubeObject {
  return {
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
}

function fails(fn: () => unknown, code: number, text: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).code).toBe(code);
    expect((e as ApiError).message).toContain(text);
    return;
  }
  throw new Error(`expected a ${code}`);
}

describe('strategic merge patch, as kubectl 1.20 apply sends it', () => {
  const dep = R('deployments');

  it('changes a container image without touching the other container', () => {
    const d = makeDeployment();
    const out = applyPatch(dep, d, SMP, {
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'side' }],
            containers: [{ name: 'web', image: 'nginx:1.26' }],
          },
        },
      },
    });
    const cs = out.spec.template.spec.containers;
    expect(cs.map((c: any) => [c.name, c.image])).toEqual([
      ['web', 'nginx:1.26'],
      ['side', 'busybox'],
    ]);
    expect(cs[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(d.spec.template.spec.containers[0].image).toBe('nginx:1.25'); // input untouched
  });

  it('adds a port and an env var, removes a label, and orders as $setElementOrder says', () => {
    const out = applyPatch(dep, makeDeployment(), SMP, {
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
    });
    expect(out.metadata.labels).toEqual({ app: 'web' });
    const [side, web] = out.spec.template.spec.containers;
    expect(side.name).toBe('side');
    expect(web.ports).toEqual([{ containerPort: 443 }, { containerPort: 80, protocol: 'TCP' }]);
    // Without $setElementOrder, patch elements come before server-only ones (upstream order).
    expect(web.env).toEqual([
      { name: 'B', value: '2' },
      { name: 'A', value: '1' },
    ]);
  });

  it('deletes list elements with $patch: delete and replaces lists with $patch: replace', () => {
    const out = applyPatch(dep, makeDeployment(), SMP, {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'web', ports: [{ containerPort: 80, $patch: 'delete' }] },
              { name: 'side', $patch: 'delete' },
            ],
          },
        },
      },
    });
    expect(out.spec.template.spec.containers).toHaveLength(1);
    expect(out.spec.template.spec.containers[0].ports).toEqual([]);
    const rep = applyPatch(dep, makeDeployment(), SMP, {
      spec: { template: { spec: { containers: [{ name: 'only', image: 'z' }, { $patch: 'replace' }] } } },
    });
    expect(rep.spec.template.spec.containers).toEqual([{ name: 'only', image: 'z' }]);
  });

  it('honours $retainKeys when switching strategy to Recreate', () => {
    const out = applyPatch(dep, makeDeployment(), SMP, {
      spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } },
    });
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
    fails(
      () =>
        applyPatch(dep, makeDeployment(), SMP, {
          spec: { strategy: { $retainKeys: ['type'], rollingUpdate: { maxSurge: 1 } } },
        }),
      400,
      'not in $retainKeys',
    );
  });

  it('replaces tolerations (no merge key) but merges finalizers as a set', () => {
    const out = applyPatch(dep, makeDeployment(), SMP, {
      metadata: { finalizers: ['b/y', 'c/z'] },
      spec: { template: { spec: { tolerations: [{ key: 'new', operator: 'Exists' }] } } },
    });
    expect(out.spec.template.spec.tolerations).toEqual([{ key: 'new', operator: 'Exists' }]);
    expect(out.metadata.finalizers).toEqual(['a/x', 'b/y', 'c/z']);
  });

  it('supports $deleteFromPrimitiveList and a pure $setElementOrder on primitives', () => {
    const del = applyPatch(dep, makeDeployment(), SMP, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a/x'], finalizers: ['n/q'] },
    });
    // Patch elements the server did not have come first, as upstream orders them.
    expect(del.metadata.finalizers).toEqual(['n/q', 'b/y']);
    const ord = applyPatch(dep, makeDeployment(), SMP, {
      metadata: { '$setElementOrder/finalizers': ['b/y', 'a/x'] },
    });
    expect(ord.metadata.finalizers).toEqual(['b/y', 'a/x']);
  });

  it('switches a volume source with $retainKeys inside a merged list element', () => {
    const out = applyPatch(dep, makeDeployment(), SMP, {
      spec: {
        template: {
          spec: { volumes: [{ name: 'v1', $retainKeys: ['name', 'configMap'], configMap: { name: 'cm' } }] },
        },
      },
    });
    expect(out.spec.template.spec.volumes).toEqual([{ name: 'v1', configMap: { name: 'cm' } }]);
  });

  it('merges Service ports by port and pod conditions by type', () => {
    const out = applyPatch(R('services'), makeService(), SMP, {
      spec: {
        ports: [
          { port: 443, targetPort: 8443 },
          { port: 53, protocol: 'UDP', name: 'dns' },
        ],
        selector: { app: null, tier: 'x' },
      },
    });
    expect(out.spec.ports.map((p: any) => [p.port, p.targetPort ?? null])).toEqual([
      [80, 8080],
      [443, 8443],
      [53, null],
    ]);
    expect(out.spec.selector).toEqual({ tier: 'x' });
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'PodScheduled', status: 'True' },
        ],
      },
    };
    const p2 = applyPatch(R('pods'), pod, SMP, {
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(p2.status.conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'PodScheduled', status: 'True' },
    ]);
  });

  it('rejects a list element without its merge key (422) and a bad directive (400)', () => {
    fails(
      () => applyPatch(R('services'), makeService(), SMP, { spec: { ports: [{ name: 'x' }] } }),
      422,
      'does not contain declared merge key: port',
    );
    fails(
      () => applyPatch(dep, makeDeployment(), SMP, { spec: { $patch: 'explode' } }),
      400,
      'unknown $patch directive',
    );
  });

  it('uses merge semantics for kinds without a schema', () => {
    const out = strategicMergePatch({ a: [1, 2], b: { c: 1, d: 2 } }, { a: [3], b: { d: null } });
    expect(out).toEqual({ a: [3], b: { c: 1 } });
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  it('follows the RFC examples', () => {
    expect(jsonMergePatch({ a: 'b' }, { a: 'c' })).toEqual({ a: 'c' });
    expect(jsonMergePatch({ a: 'b' }, { b: 'c' })).toEqual({ a: 'b', b: 'c' });
    expect(jsonMergePatch({ a: 'b' }, { a: null })).toEqual({});
    expect(jsonMergePatch({ a: ['b'] }, { a: 'c' })).toEqual({ a: 'c' });
    expect(jsonMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(jsonMergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(jsonMergePatch({}, { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });

  it('replaces lists through applyPatch', () => {
    const out = applyPatch(
      R('services'),
      makeService(),
      'application/merge-patch+json; charset=utf-8',
      '{"spec":{"ports":[{"port":1}]}}',
    );
    expect(out.spec.ports).toEqual([{ port: 1 }]);
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc = { a: { b: [1, 2, 3] }, 'x/y': { '~t': 1 } };

  it('applies add/remove/replace/move/copy/test', () => {
    const out = jsonPatch(doc, [
      { op: 'test', path: '/a/b/0', value: 1 },
      { op: 'add', path: '/a/b/-', value: 4 },
      { op: 'add', path: '/a/b/0', value: 0 },
      { op: 'remove', path: '/a/b/1' },
      { op: 'replace', path: '/x~1y/~0t', value: 2 },
      { op: 'copy', from: '/a/b', path: '/c' },
      { op: 'move', from: '/c', path: '/d' },
    ]);
    expect(out).toEqual({ a: { b: [0, 2, 3, 4] }, 'x/y': { '~t': 2 }, d: [0, 2, 3, 4] });
    expect(doc.a.b).toEqual([1, 2, 3]);
  });

  it('fails with 422 on a failed test or missing path, 400 on a malformed op', () => {
    fails(() => jsonPatch(doc, [{ op: 'test', path: '/a/b/0', value: 9 }]), 422, 'test operation failed');
    fails(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }]), 422, 'does not exist');
    fails(() => jsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 1 }]), 422, 'does not exist');
    fails(() => jsonPatch(doc, [{ op: 'add', path: '/a/b/9', value: 1 }]), 422, 'out of bounds');
    fails(() => jsonPatch(doc, [{ op: 'move', from: '/a', path: '/a/b/x' }]), 422, 'own child');
    fails(() => jsonPatch(doc, [{ op: 'frob', path: '/a' }]), 400, 'unknown op');
    fails(() => jsonPatch(doc, { op: 'add' }), 400, 'JSON array');
    fails(() => jsonPatch(doc, [{ op: 'add', path: 'a', value: 1 }]), 400, "must start with '/'");
  });

  it('scales replicas through applyPatch', () => {
    const out = applyPatch(R('deploy'), makeDeployment(), 'application/json-patch+json', [
      { op: 'replace', path: '/spec/replicas', value: 5 },
    ]);
    expect(out.spec.replicas).toBe(5);
  });
});

describe('applyPatch', () => {
  it('rejects unknown content types, bad JSON and kind changes', () => {
    fails(
      () => applyPatch(R('svc'), makeService(), 'application/apply-patch+yaml', '{}'),
      415,
      'accepted media types',
    );
    fails(() => applyPatch(R('svc'), makeService(), SMP, '{not json'), 400, 'error decoding patch');
    fails(
      () => applyPatch(R('svc'), makeService(), SMP, { kind: 'Pod' }),
      400,
      'may not change apiVersion or kind',
    );
  });
});
