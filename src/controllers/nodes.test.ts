// Node IPAM subnetting and the lifecycle's condition rewrite. Address plan: cluster CIDR
// 10.244.0.0/16 split into /24s; a tiny 10.0.0.0/30 split into /31s to exhaust.
import { describe, expect, it } from 'vitest';
import type { Node } from '../api/kinds/core.ts';
import { lastHeartbeat, NodeCIDRAllocator, unknownConditions } from './nodes.ts';

function makeNode(name: string, f: (n: Node) => void = () => {}): Node {
  const n: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, creationTimestamp: '2026-01-01T00:00:00Z' },
    status: {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2026-01-01T00:01:00Z' },
        { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: '2026-01-01T00:01:00Z' },
      ],
    },
  };
  f(n);
  return n;
}

describe('NodeCIDRAllocator', () => {
  it('hands out /24s in order, keeps a node its subnet, reuses freed ones', () => {
    const a = new NodeCIDRAllocator('10.244.0.0/16', 24);
    expect(a.count).toBe(256);
    expect(a.allocate('node-1')).toBe('10.244.0.0/24');
    expect(a.allocate('node-2')).toBe('10.244.1.0/24');
    expect(a.allocate('node-1')).toBe('10.244.0.0/24');
    a.release('node-1');
    expect(a.allocate('node-3')).toBe('10.244.0.0/24');
  });
  it('rebuilds from existing assignments so restarts are stable', () => {
    const a = new NodeCIDRAllocator('10.244.0.0/16', 24);
    expect(a.occupy('10.244.7.0/24', 'node-7')).toBe(true);
    expect(a.occupy('10.244.7.0/24', 'node-8')).toBe(false);
    expect(a.occupy('10.245.0.0/24', 'node-9')).toBe(false);
    expect(a.occupy('10.244.8.0/25', 'node-9')).toBe(false);
    expect(a.allocate('node-7')).toBe('10.244.7.0/24');
    expect(a.indexOf('10.244.255.0/24')).toBe(255);
  });
  it('reports exhaustion and refuses impossible mask sizes', () => {
    const a = new NodeCIDRAllocator('10.0.0.0/30', 31);
    expect([a.allocate('a'), a.allocate('b'), a.allocate('c')]).toEqual([
      '10.0.0.0/31',
      '10.0.0.2/31',
      undefined,
    ]);
    expect(() => new NodeCIDRAllocator('10.244.0.0/16', 8)).toThrow(/nodeCIDRMaskSize 8 does not fit/);
    expect(() => new NodeCIDRAllocator('nonsense', 24)).toThrow(/invalid CIDR/);
  });
  it('splits IPv6 cluster CIDRs too', () => {
    const a = new NodeCIDRAllocator('fd00:10:244::/56', 64);
    expect(a.allocate('n1')).toBe('fd00:10:244::/64');
    expect(a.allocate('n2')).toBe('fd00:10:244:1::/64');
  });
});

describe('node lifecycle helpers', () => {
  it('reads the Ready heartbeat, else the creation time', () => {
    expect(lastHeartbeat(makeNode('a'))).toBe(Date.parse('2026-01-01T00:01:00Z'));
    expect(lastHeartbeat(makeNode('b', (n) => (n.status!.conditions = [])))).toBe(
      Date.parse('2026-01-01T00:00:00Z'),
    );
  });
  it('turns every condition Unknown once, keeping heartbeats', () => {
    const now = Date.parse('2026-01-01T00:05:00Z');
    const conds = unknownConditions(makeNode('a'), now)!;
    expect(conds.map((c) => [c.type, c.status, c.reason, c.lastHeartbeatTime, c.lastTransitionTime])).toEqual(
      [
        ['Ready', 'Unknown', 'NodeStatusUnknown', '2026-01-01T00:01:00Z', '2026-01-01T00:05:00Z'],
        ['MemoryPressure', 'Unknown', 'NodeStatusUnknown', '2026-01-01T00:01:00Z', '2026-01-01T00:05:00Z'],
      ],
    );
    expect(
      unknownConditions(
        makeNode('b', (n) => (n.status!.conditions = conds)),
        now,
      ),
    ).toBeUndefined();
    const never = unknownConditions(
      makeNode('c', (n) => (n.status = {})),
      now,
    )!;
    expect(never).toEqual([
      expect.objectContaining({ type: 'Ready', status: 'Unknown', reason: 'NodeStatusNeverUpdated' }),
    ]);
  });
});
