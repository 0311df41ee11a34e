import { describe, expect, it } from 'vitest';
import { resolveResourceName } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { PodnetError } from '../util/errors.ts';
import {
  appliedConfig,
  applyMergePatch,
  coveredBy,
  describeObject,
  eventIsFor,
  formatObjects,
  formatTable,
  intFlag,
  LAST_APPLIED,
  outputFormat,
  parseManifests,
  parseTarget,
  planApply,
  resourceRef,
  threeWayPatch,
} from './kubectl.ts';

const pods = resolveResourceName('pods')!;
const deployments = resolveResourceName('deployments')!;
const services = resolveResourceName('services')!;

describe('parseTarget', () => {
  it('reads TYPE, TYPE NAME… and TYPE/NAME with short names', () => {
    expect(parseTarget(['po'])).toEqual({ res: pods, names: [] });
    expect(parseTarget(['deploy', 'a', 'b'])).toEqual({ res: deployments, names: ['a', 'b'] });
    expect(parseTarget(['svc/web', 'service/api'])).toEqual({ res: services, names: ['web', 'api'] });
  });

  it('rejects unknown types, mixed forms and mixed types', () => {
    expect(() => parseTarget(['widgets'])).toThrow(/resource type "widgets"/);
    expect(() => parseTarget(['pods', 'svc/web'])).toThrow(PodnetError);
    expect(() => parseTarget(['pod/a', 'svc/b'])).toThrow(/same resource type/);
    expect(() => parseTarget(['pod/'])).toThrow(PodnetError);
    expect(() => parseTarget([])).toThrow(/type of resource/);
  });

  it('names resources the kubectl way', () => {
    expect(resourceRef(deployments)).toBe('deployment.apps');
    expect(resourceRef(services)).toBe('service');
  });
});

describe('flags', () => {
  it('checks integers and output formats', () => {
    expect(intFlag('tail', '10')).toBe(10);
    expect(intFlag('tail', undefined)).toBeUndefined();
    expect(() => intFlag('tail', 'x')).toThrow(/--tail "x"/);
    expect(() => intFlag('to-revision', '-2')).toThrow(/>= 0/);
    expect(outputFormat(undefined)).toBe('table');
    expect(outputFormat('wide')).toBe('wide');
    expect(() => outputFormat('jsonpath')).toThrow(/-o "jsonpath"/);
  });
});

const svc = (name: string, ns = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{}] },
  spec: {
    type: 'ClusterIP',
    clusterIP: '10.96.0.5',
    ports: [{ port: 80, protocol: 'TCP' }],
    selector: { app: name },
  },
});

describe('get output', () => {
  const now = new Date('2026-01-01T00:05:00Z');

  it('prints kubectl columns, wide columns only with wide, and NAMESPACE with -A', () => {
    const t = formatTable(services, [svc('web')], { now });
    expect(t.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    expect(t).toMatch(/^web\s+ClusterIP\s+10\.96\.0\.5\s+<none>\s+80\/TCP\s+5m$/m);
    expect(formatTable(services, [svc('web')], { now, wide: true })).toMatch(/SELECTOR\n.*app=web\n$/);
    expect(formatTable(services, [svc('web')], { now, noHeaders: true })).toMatch(/^web\s+ClusterIP\s.*\n$/);
    const all = formatTable(services, [svc('web'), svc('dns', 'kube-system')], { now, allNamespaces: true });
    expect(all.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+TYPE/);
    expect(all).toMatch(/^kube-system\s+dns\s+ClusterIP/m);
  });

  it('prints one object alone and several as a List, without managedFields', () => {
    const one = JSON.parse(formatObjects([svc('web')], 'json', true));
    expect(one.kind).toBe('Service');
    expect(one.metadata.managedFields).toBeUndefined();
    const list = formatObjects([svc('a'), svc('b')], 'yaml', false);
    expect(list).toMatch(/^apiVersion: v1\nkind: List\nitems:\n/);
    expect(list).not.toMatch(/managedFields/);
  });
});

describe('parseManifests', () => {
  it('reads multi-document YAML, skips empty documents and flattens Lists', () => {
    const text = `apiVersion: v1
kind: Service
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: b}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
`;
    const m = parseManifests(text, 'f.yaml');
    expect(m.map((x) => `${x.res.plural}/${x.obj.metadata.name}`)).toEqual([
      'services/a',
      'deployments/b',
      'configmaps/c',
    ]);
  });

  it('names the document and the field that is wrong', () => {
    expect(() => parseManifests('kind: Service\nmetadata: {name: a}\n', 'f.yaml')).toThrow(
      /f\.yaml \(document 1\): apiVersion is required/,
    );
    expect(() => parseManifests('apiVersion: v1\nkind: Service\n---\n', 'f.yaml')).toThrow(/metadata\.name/);
    expect(() => parseManifests('apiVersion: v9\nkind: Gizmo\nmetadata: {name: a}\n', 'f.yaml')).toThrow(
      /no resource for kind "Gizmo"/,
    );
    expect(() => parseManifests('a: [\n', 'bad.yaml')).toThrow(/bad\.yaml \(document 1\)/);
  });
});

describe('apply planning', () => {
  const manifest = (): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'fe' } },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
  });

  it('creates with a last-applied record, without server-owned fields', () => {
    const m = { ...manifest(), status: { x: 1 } } as KubeObject;
    m.metadata.resourceVersion = '7';
    const plan = planApply(m, undefined);
    expect(plan.action).toBe('create');
    if (plan.action !== 'create') return;
    expect(plan.body.status).toBeUndefined();
    expect(plan.body.metadata.resourceVersion).toBeUndefined();
    expect(JSON.parse(plan.body.metadata.annotations![LAST_APPLIED]!)).toEqual(appliedConfig(manifest()));
  });

  it('is unchanged when re-applied over server defaults, and patches drift and removals', () => {
    const created = planApply(manifest(), undefined);
    if (created.action !== 'create') throw new Error('expected create');
    // The server adds defaults (protocol, clusterIP, uid): still unchanged.
    const live = structuredClone(created.body);
    live.metadata.uid = 'u1';
    live.spec.clusterIP = '10.96.0.9';
    live.spec.ports[0].protocol = 'TCP';
    expect(planApply(manifest(), live)).toEqual({ action: 'unchanged' });
    // Someone edited a field the manifest sets: apply restores it.
    const drifted = structuredClone(live);
    drifted.spec.selector.app = 'other';
    const p1 = planApply(manifest(), drifted);
    expect(p1.action).toBe('patch');
    // A label dropped from the manifest is removed (null in the merge patch).
    const next = manifest();
    delete next.metadata.labels!.tier;
    const p2 = planApply(next, live);
    if (p2.action !== 'patch') throw new Error('expected patch');
    expect((p2.patch.metadata as any).labels).toEqual({ app: 'web', tier: null });
    const after = applyMergePatch(live, p2.patch) as KubeObject;
    expect(after.metadata.labels).toEqual({ app: 'web' });
    expect(after.metadata.uid).toBe('u1');
    expect(planApply(next, after)).toEqual({ action: 'unchanged' });
  });

  it('coveredBy ignores extra live fields but not list length or values', () => {
    expect(coveredBy({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }], b: 3 })).toBe(true);
    expect(coveredBy({ a: [{ x: 1 }] }, { a: [{ x: 1 }, { x: 2 }] })).toBe(false);
    expect(coveredBy({ a: 1 }, { a: '1' })).toBe(false);
  });

  it('threeWayPatch nulls only what the last apply set and the new one drops', () => {
    expect(threeWayPatch({ a: 1, b: { c: 1, d: 2 } }, { b: { c: 1 } })).toEqual({
      a: null,
      b: { c: 1, d: null },
    });
    expect(threeWayPatch(undefined, { a: 1 })).toEqual({ a: 1 });
  });
});

describe('describeObject', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-1',
      namespace: 'default',
      uid: 'p1',
      labels: { app: 'web' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'r', controller: true },
      ],
    },
    spec: {
      nodeName: 'node-1',
      containers: [{ name: 'web', image: 'podnet/http-echo', ports: [{ containerPort: 8080 }] }],
    },
    status: {
      phase: 'Running',
      hostIP: '172.31.0.11',
      podIP: '10.244.1.5',
      podIPs: [{ ip: '10.244.1.5' }],
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 2, state: { running: {} } }],
    },
  };

  it('shows metadata, pod essentials, conditions and only this pod’s events', () => {
    const events = [
      {
        involvedObject: { kind: 'Pod', name: 'web-1', uid: 'p1' },
        type: 'Normal',
        reason: 'Scheduled',
        message: 'assigned',
        lastTimestamp: '2026-01-01T00:00:00Z',
        source: { component: 'scheduler' },
      },
      {
        involvedObject: { kind: 'Pod', name: 'web-1', uid: 'old' },
        type: 'Warning',
        reason: 'Stale',
        message: 'x',
      },
    ];
    const text = describeObject(pod, events, new Date('2026-01-01T00:01:00Z'));
    expect(text).toMatch(/^Name:\s+web-1$/m);
    expect(text).toMatch(/^Labels:\s+app=web$/m);
    expect(text).toMatch(/^Node:\s+node-1\/172\.31\.0\.11$/m);
    expect(text).toMatch(/^IP:\s+10\.244\.1\.5$/m);
    expect(text).toMatch(/^Controlled By:\s+ReplicaSet\/web-abc$/m);
    expect(text).toMatch(/Restart Count:\s+2/);
    expect(text).toMatch(/^\s+Ready\s+True/m);
    expect(text).toMatch(/Normal\s+Scheduled\s+60s\s+scheduler\s+assigned/);
    expect(text).not.toMatch(/Stale/);
  });

  it('says <none> without events and falls back to spec YAML for other kinds', () => {
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { k: 'v' },
    } as never;
    const text = describeObject(cm, []);
    expect(text).toMatch(/Events:\s+<none>/);
    expect(text).toMatch(/k: v/);
  });

  it('matches events by kind and name when there is no uid', () => {
    const o = svc('web');
    expect(eventIsFor({ involvedObject: { kind: 'Service', name: 'web', namespace: 'default' } }, o)).toBe(
      true,
    );
    expect(eventIsFor({ involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' } }, o)).toBe(false);
  });
});
