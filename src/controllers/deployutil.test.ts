// Pure deployment arithmetic: fenceposts rounding, rolling-update steps, hashing, revisions.
import { describe, expect, it } from 'vitest';
import type { Deployment, ReplicaSet } from '../api/kinds/apps.ts';
import {
  canonicalJson,
  maxRevision,
  newRSReplicas,
  planRollingUpdate,
  podTemplateHash,
  resolveFenceposts,
  templatesEqual,
} from './deployutil.ts';

function makeDeployment(replicas: number, surge: number | string, unavail: number | string): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'd' } },
      template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavail } },
    },
  };
}

function makeRS(
  name: string,
  replicas: number,
  available: number,
  created = 0,
  revision?: number,
): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      creationTimestamp: new Date(created * 1000).toISOString(),
      ...(revision ? { annotations: { 'deployment.kubernetes.io/revision': String(revision) } } : {}),
    },
    spec: { replicas, selector: {} },
    status: { replicas, availableReplicas: available },
  };
}

describe('resolveFenceposts', () => {
  it('rounds surge up and unavailable down', () => {
    expect(resolveFenceposts('25%', '25%', 10)).toEqual({ surge: 3, unavailable: 2 });
    expect(resolveFenceposts('25%', '25%', 6)).toEqual({ surge: 2, unavailable: 1 });
    expect(resolveFenceposts(2, 0, 5)).toEqual({ surge: 2, unavailable: 0 });
  });
  it('makes maxUnavailable 1 when both resolve to 0', () => {
    expect(resolveFenceposts('10%', '10%', 3)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts(0, '10%', 3)).toEqual({ surge: 0, unavailable: 1 });
  });
});

describe('planRollingUpdate', () => {
  it('grows the new ReplicaSet up to replicas + maxSurge in total', () => {
    const d = makeDeployment(6, 2, 1);
    const old = makeRS('old', 6, 6);
    const neu = makeRS('new', 0, 0, 1);
    expect(planRollingUpdate(d, neu, [old])).toEqual({ kind: 'scaleNew', replicas: 2 });
    expect(newRSReplicas(d, [old, neu], neu)).toBe(2);
  });
  it('shrinks old ReplicaSets only as far as availability allows', () => {
    const d = makeDeployment(6, 2, 1);
    // new has 2 not-yet-available pods: only 8 - 5 - 2 = 1 old replica may go.
    expect(planRollingUpdate(d, makeRS('new', 2, 0, 1), [makeRS('old', 6, 6)])).toEqual({
      kind: 'scaleOld',
      changes: [{ name: 'old', replicas: 5 }],
    });
    // new pods available: old can drop to 6 + 2 - ... limited by available - minAvailable = 8 - 5 = 3.
    expect(planRollingUpdate(d, makeRS('new', 2, 2, 1), [makeRS('old', 6, 6)])).toEqual({
      kind: 'scaleOld',
      changes: [{ name: 'old', replicas: 3 }],
    });
  });
  it('removes unhealthy old replicas first, oldest ReplicaSet first', () => {
    const d = makeDeployment(4, 0, 1);
    const a = makeRS('a', 2, 0, 0); // both unavailable
    const b = makeRS('b', 2, 2, 5);
    // maxScaledDown = 4 - 3 - 0 = 1: one unhealthy replica of `a` goes; healthy `b` is kept.
    const step = planRollingUpdate(d, makeRS('new', 0, 0, 9), [b, a]);
    expect(step).toEqual({ kind: 'scaleOld', changes: [{ name: 'a', replicas: 1 }] });
    const roomy = makeDeployment(4, 2, 1);
    expect(planRollingUpdate(roomy, makeRS('new', 2, 0, 9), [b, a])).toEqual({
      kind: 'scaleOld',
      changes: [{ name: 'a', replicas: 1 }],
    });
  });
  it('does nothing when nothing may change', () => {
    const d = makeDeployment(3, 0, 1);
    expect(planRollingUpdate(d, makeRS('new', 3, 3), [])).toEqual({ kind: 'none' });
    // at minimum availability with a not-ready new pod: wait
    expect(planRollingUpdate(d, makeRS('new', 1, 0, 1), [makeRS('old', 2, 2)])).toEqual({ kind: 'none' });
  });
  it('scales a new ReplicaSet down when replicas shrink', () => {
    expect(planRollingUpdate(makeDeployment(2, 1, 1), makeRS('new', 5, 5), [])).toEqual({
      kind: 'scaleNew',
      replicas: 2,
    });
  });
});

describe('pod-template-hash', () => {
  const t = { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'x' }] } };
  it('is stable across key order and ignores the hash label', () => {
    const reordered = {
      spec: { containers: [{ image: 'x', name: 'c' }] },
      metadata: { labels: { app: 'a' } },
    };
    expect(podTemplateHash(t)).toBe(podTemplateHash(reordered));
    const withHash = { ...t, metadata: { labels: { app: 'a', 'pod-template-hash': 'zzz' } } };
    expect(podTemplateHash(withHash)).toBe(podTemplateHash(t));
    expect(templatesEqual(withHash, t)).toBe(true);
    expect(podTemplateHash(t)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
  });
  it('changes with the template and with collisionCount', () => {
    const other = { ...t, spec: { containers: [{ name: 'c', image: 'y' }] } };
    expect(podTemplateHash(other)).not.toBe(podTemplateHash(t));
    expect(podTemplateHash(t, 1)).not.toBe(podTemplateHash(t));
    expect(templatesEqual(other, t)).toBe(false);
  });
  it('canonicalJson sorts keys and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
  });
  it('maxRevision reads the revision annotation', () => {
    expect(maxRevision([makeRS('a', 0, 0, 0, 3), makeRS('b', 0, 0, 0, 7), makeRS('c', 0, 0)])).toBe(7);
  });
});
