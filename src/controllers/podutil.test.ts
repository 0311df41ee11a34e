// Pod readiness, availability and the scale-down ranking.
import { describe, expect, it } from 'vitest';
import type { Pod } from '../api/kinds/core.ts';
import { isPodAvailable, rankPodsForDeletion } from './podutil.ts';

function makePod(name: string, f: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c' }], nodeName: 'node-1' },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:10Z' }],
    },
  };
  f(p);
  return p;
}

describe('rankPodsForDeletion', () => {
  it('puts unscheduled, pending, not-ready, doubled-up, newer pods first', () => {
    const pods = [
      makePod('ready-old'),
      makePod('ready-new', (p) => {
        p.metadata.creationTimestamp = '2026-01-02T00:00:00Z';
        p.spec!.nodeName = 'node-2';
        p.status!.conditions![0]!.lastTransitionTime = '2026-01-01T00:00:10Z';
      }),
      makePod('notready', (p) => {
        p.status!.conditions![0]!.status = 'False';
        p.spec!.nodeName = 'node-3';
      }),
      makePod('pending', (p) => {
        p.status = { phase: 'Pending' };
        p.spec!.nodeName = 'node-3';
      }),
      makePod('unscheduled', (p) => {
        delete p.spec!.nodeName;
        p.status = { phase: 'Pending' };
      }),
    ];
    expect(rankPodsForDeletion(pods).map((p) => p.metadata.name)).toEqual([
      'unscheduled',
      'pending',
      'notready',
      'ready-new',
      'ready-old',
    ]);
  });
  it('prefers pods sharing a node with siblings, then the more recently ready', () => {
    const a = makePod('a', (p) => (p.spec!.nodeName = 'n1'));
    const b = makePod('b', (p) => (p.spec!.nodeName = 'n1'));
    const c = makePod('c', (p) => {
      p.spec!.nodeName = 'n2';
      p.status!.conditions![0]!.lastTransitionTime = '2026-01-05T00:00:00Z';
    });
    expect(rankPodsForDeletion([c, a, b])[2]!.metadata.name).toBe('c');
    const e = makePod('e', (p) => (p.spec!.nodeName = 'n3'));
    expect(rankPodsForDeletion([e, c]).map((p) => p.metadata.name)).toEqual(['c', 'e']);
  });
});

describe('isPodAvailable', () => {
  it('needs Ready for minReadySeconds', () => {
    const p = makePod('p');
    const t = Date.parse('2026-01-01T00:00:10Z');
    expect(isPodAvailable(p, 0, t)).toBe(true);
    expect(isPodAvailable(p, 5, t + 4000)).toBe(false);
    expect(isPodAvailable(p, 5, t + 5000)).toBe(true);
    expect(
      isPodAvailable(
        makePod('q', (x) => (x.status!.conditions![0]!.status = 'False')),
        0,
        t,
      ),
    ).toBe(false);
  });
});
