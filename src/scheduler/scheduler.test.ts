// The scheduler's binding cycle, over fake pod/node sources and a fake client whose binds the test
// releases by hand: decisions do not wait for binds, at most `maxBindsInFlight` run at once, the
// assumed pods spread a burst over the nodes before any bind lands, and a failed bind is retried.
// Address plan: none (no network; nodes n1..n3, pods default/p0..p9).
import { afterEach, describe, expect, it } from 'vitest';
import { errors } from '../api/errors.ts';
import type { Node, Pod } from '../api/kinds/core.ts';
import { FakeSource, InformerFactory } from '../client/index.ts';
import type { ApiClient } from '../client/rest.ts';
import type { Disposable } from '../util/disposable.ts';
import { Scheduler } from './scheduler.ts';

function makeNode(name: string): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: {
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

function makePod(name: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { containers: [{ name: 'c', resources: { requests: { cpu: '100m' } } }] },
  };
}

interface PendingBind {
  pod: string;
  node: string;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A client whose binds stay pending until the test settles them; events succeed at once. */
function fakeClient() {
  const pending: PendingBind[] = [];
  const calls: Array<{ pod: string; node: string }> = [];
  const client = {
    bind: (_r: unknown, _ns: string, pod: string, node: string) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ pod, node });
        pending.push({ pod, node, resolve, reject });
      }),
    create: async (_r: unknown, obj: unknown) => obj,
    updateStatus: async (_r: unknown, obj: unknown) => obj,
  };
  return { client: client as unknown as ApiClient, pending, calls };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const owned: Array<Disposable> = [];
afterEach(async () => {
  for (const d of owned.splice(0).reverse()) await d.dispose();
});

async function start(maxBindsInFlight?: number) {
  const pods = new FakeSource<Pod>();
  const nodes = new FakeSource<Node>();
  for (const n of ['n1', 'n2', 'n3']) nodes.add(makeNode(n));
  for (let i = 0; i < 10; i++) pods.add(makePod(`p${i}`));
  const informers = new InformerFactory({
    listerWatcher: (res) => (res.plural === 'pods' ? pods : nodes) as never,
  });
  owned.push(informers);
  const f = fakeClient();
  const s = new Scheduler({ client: f.client, informers, maxBindsInFlight, retryPeriodMs: 60_000 });
  owned.push(await s.start());
  return { ...f, pods, scheduler: s };
}

describe('scheduler binding cycle', () => {
  it('decides every pod of a burst without waiting for binds, spread by the assumptions', async () => {
    const { pending } = await start();
    // No bind has completed, yet all ten are in flight: the loop did not wait for any.
    await until(() => pending.length === 10);
    const perNode = new Map<string, number>();
    for (const b of pending) perNode.set(b.node, (perNode.get(b.node) ?? 0) + 1);
    expect([...perNode.values()].sort()).toEqual([3, 3, 4]);
    for (const b of pending.splice(0)) b.resolve();
  });

  it('keeps at most maxBindsInFlight binds running and continues as they finish', async () => {
    const { pending, calls } = await start(3);
    await until(() => pending.length === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toHaveLength(3);
    pending.shift()!.resolve();
    await until(() => calls.length === 4);
    expect(pending).toHaveLength(3);
    while (calls.length < 10 || pending.length > 0) {
      await until(() => pending.length > 0);
      pending.shift()!.resolve();
    }
    expect(new Set(calls.map((c) => c.pod)).size).toBe(10);
  });

  it('retries a pod whose bind failed with a server error, and drops one that is gone', async () => {
    const { pending, calls } = await start();
    await until(() => pending.length === 10);
    const failed = pending.find((b) => b.pod === 'p3')!;
    const gone = pending.find((b) => b.pod === 'p4')!;
    failed.reject(errors.internal('etcd timeout'));
    gone.reject(errors.notFound('pods', 'p4'));
    await until(() => calls.filter((c) => c.pod === 'p3').length === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(calls.filter((c) => c.pod === 'p4')).toHaveLength(1);
    for (const b of pending.splice(0)) if (b !== failed && b !== gone) b.resolve();
  });
});
