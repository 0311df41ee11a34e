// ReplicaSet and Deployment status computation, including minReadySeconds.
import { describe, expect, it } from 'vitest';
import type { Deployment, ReplicaSet } from '../api/kinds/apps.ts';
import type { Pod } from '../api/kinds/core.ts';
import { computeDeploymentStatus } from './deployment.ts';
import { computeReplicaSetStatus, podFromTemplate } from './replicaset.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function makeRS(f: (r: ReplicaSet) => void = () => {}): ReplicaSet {
  const r: ReplicaSet = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 'default', uid: 'rs-uid', generation: 4 },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web', tier: 'fe' } },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      },
    },
  };
  f(r);
  return r;
}

function makePod(
  name: string,
  readySince?: number,
  labels: Record<string, string> = { app: 'web', tier: 'fe' },
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    status: {
      phase: 'Running',
      conditions:
        readySince === undefined
          ? [{ type: 'Ready', status: 'False' }]
          : [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(readySince).toISOString() }],
    },
  };
}

describe('computeReplicaSetStatus', () => {
  it('counts fully labeled, ready and available (minReadySeconds) pods', () => {
    const rs = makeRS((r) => (r.spec!.minReadySeconds = 10));
    const pods = [makePod('a', T0), makePod('b', T0 + 8000), makePod('c'), makePod('d', T0, { app: 'web' })];
    expect(computeReplicaSetStatus(rs, pods, T0 + 10_000)).toEqual({
      replicas: 4,
      fullyLabeledReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 2,
      observedGeneration: 4,
    });
  });
  it('podFromTemplate sets generateName, labels and the controller reference', () => {
    const p = podFromTemplate(makeRS());
    expect(p.metadata).toMatchObject({
      generateName: 'web-abc-',
      namespace: 'default',
      labels: { app: 'web', tier: 'fe' },
      ownerReferences: [
        { kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true },
      ],
    });
    expect(p.spec?.containers[0]?.image).toBe('x');
  });
});

describe('computeDeploymentStatus', () => {
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', generation: 2 },
    spec: {
      replicas: 4,
      selector: {},
      template: {},
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
    },
  };
  const rs = (name: string, replicas: number, ready: number, available: number): ReplicaSet => ({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name },
    status: { replicas, readyReplicas: ready, availableReplicas: available },
  });
  it('sums ReplicaSets and sets Available/Progressing', () => {
    const neu = rs('web-new', 2, 2, 1);
    const st = computeDeploymentStatus(d, [rs('web-old', 3, 3, 3), neu], neu, T0);
    expect(st).toMatchObject({
      observedGeneration: 2,
      replicas: 5,
      updatedReplicas: 2,
      readyReplicas: 5,
      availableReplicas: 4,
      unavailableReplicas: 0,
    });
    expect(st.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'ReplicaSetUpdated'],
    ]);
    const done = rs('web-new', 4, 4, 4);
    const st2 = computeDeploymentStatus(d, [done], done, T0);
    expect(st2.conditions?.[1]).toMatchObject({
      reason: 'NewReplicaSetAvailable',
      message: 'ReplicaSet "web-new" has successfully progressed.',
    });
    const low = rs('web-new', 4, 2, 2);
    expect(computeDeploymentStatus(d, [low], low, T0).conditions?.[0]).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });
  });
});
