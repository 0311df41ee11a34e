// Which scenarios may share a cluster: equal cluster sections, none that kills an agent or cuts
// a node's link. Pure: parsed scenarios, no cluster.
import { describe, expect, it } from 'vitest';
import { parseScenario } from './format.ts';
import { clusterKey, groupForSharing, shareable } from './runner.ts';

function sc(name: string, cluster: string, step = 'wait: deployment/web') {
  return parseScenario(`name: ${name}\ncluster: ${cluster}\nsteps:\n  - ${step}\n`, `${name}.yaml`, '/tmp');
}

describe('groupForSharing', () => {
  it('groups scenarios with equal cluster sections, in order of first appearance', () => {
    const a = sc('a', '{ nodes: 2 }');
    const b = sc('b', '{ nodes: 2, proxyMode: nftables }');
    const c = sc('c', '{ nodes: 2, proxyMode: iptables }'); // the default spelled out: same cluster as a
    const d = sc('d', '{ nodes: 1 }');
    expect(clusterKey(a)).toBe(clusterKey(c));
    expect(groupForSharing([a, b, c, d]).map((g) => g.map((s) => s.name))).toEqual([
      ['a', 'c'],
      ['b'],
      ['d'],
    ]);
  });

  it('the cluster name does not matter; destructive scenarios get a cluster of their own', () => {
    const a = sc('a', '{ name: one, nodes: 2 }');
    const b = sc('b', '{ name: two, nodes: 2 }');
    const cut = sc('cut', '{ nodes: 2 }', 'partition: { node: node-2 }');
    const killer = sc('killer', '{ nodes: 2 }', 'kill: { agent: node:node-1 }');
    const podKill = sc('podkill', '{ nodes: 2 }', 'kill: { pod: pod:web-1 }');
    expect([cut, killer, podKill].map(shareable)).toEqual([false, false, true]);
    expect(groupForSharing([a, cut, b, killer, podKill]).map((g) => g.map((s) => s.name))).toEqual([
      ['a', 'b', 'podkill'],
      ['cut'],
      ['killer'],
    ]);
  });
});
