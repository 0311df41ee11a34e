// Address plan: cluster h7u; node-1 LAN 172.31.0.11 with pods in 10.244.1.0/24. The server runs on
// 127.0.0.1 (any port) over informers fed by FakeSources; `ip` is a fake Exec, so no root needed.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Node, Pod } from '../api/kinds/core.ts';
import { FakeSource, InformerFactory } from '../client/index.ts';
import type { Exec } from '../kernel/exec.ts';
import { sandboxName } from '../node/names.ts';
import { isLoopbackHost, startUiServer, type UiServer, type UiSnapshot } from './server.ts';

const node1: Node = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'node-1' },
  spec: { podCIDR: '10.244.1.0/24' },
  status: {
    addresses: [{ type: 'InternalIP', address: '172.31.0.11' }],
    conditions: [{ type: 'Ready', status: 'True' }],
  },
};

function makePod(name: string, ip?: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { nodeName: ip ? 'node-1' : undefined, containers: [{ name: 'c', image: 'nginx' }] },
    status: ip ? { phase: 'Running', podIP: ip } : { phase: 'Pending' },
  };
}

const ADDR = JSON.stringify([
  {
    ifname: 'eth0',
    operstate: 'UP',
    mtu: 1500,
    link_type: 'ether',
    address: '0a:58:0a:f4:01:05',
    addr_info: [{ family: 'inet', local: '10.244.1.5', prefixlen: 24, scope: 'global' }],
  },
]);
const ROUTE = JSON.stringify([{ dst: 'default', gateway: '10.244.1.1', dev: 'eth0', flags: [] }]);

interface Harness {
  server: UiServer;
  sources: Record<string, FakeSource>;
  factory: InformerFactory;
  execCalls: string[][];
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.server.dispose();
  await h?.factory.dispose();
  h = undefined;
});

async function start(existing: string[] = []): Promise<Harness> {
  const sources: Record<string, FakeSource> = {};
  const factory = new InformerFactory({
    listerWatcher: (res) => {
      sources[res.plural] ??= new FakeSource();
      return sources[res.plural]!;
    },
  });
  const execCalls: string[][] = [];
  const exec: Exec = {
    async run(cmd, args) {
      execCalls.push([cmd, ...args]);
      return { code: 0, stderr: '', stdout: args.includes('addr') ? ADDR : ROUTE };
    },
  };
  const server = await startUiServer({
    factory,
    clusterName: 'h7u',
    exec,
    netnsExists: (n) => existing.includes(n),
    coalesceMs: 100,
  });
  h = { server, sources, factory, execCalls };
  return h;
}

/** Reads Server-Sent Events from the page stream. */
async function openEvents(url: string) {
  const ac = new AbortController();
  const res = await fetch(new URL('events', url), { signal: ac.signal });
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const events: UiSnapshot[] = [];
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) {
        ended = true;
        return;
      }
      buf += decoder.decode(value, { stream: true });
      let i = buf.indexOf('\n\n');
      while (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (block.includes('event: scene') && data) events.push(JSON.parse(data.slice(6)));
        i = buf.indexOf('\n\n');
      }
    }
  })();
  return {
    events,
    ended: () => ended,
    close: async () => {
      ac.abort();
      await pump;
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startUiServer', () => {
  it('serves the page and its script', async () => {
    const { server } = await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script type="module" src="app.js">');
    const js = await fetch(new URL('app.js', server.url));
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).toContain("new EventSource('events')");
    const missing = await fetch(new URL('nope', server.url));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no such page: /nope' });
  });

  it('pushes the synced picture, then every change over SSE, bursts merged', async () => {
    const { server, sources } = await start();
    sources.nodes!.add(node1);
    sources.pods!.add(makePod('web-a', '10.244.1.5'));
    await server.waitForSync(5000);
    await until(() => server.snapshot().graph.nodes[0]?.pods.length === 1, 'the pod in the picture');
    const graph = (await (await fetch(new URL('api/graph', server.url))).json()) as UiSnapshot;
    expect(graph.graph.nodes.map((n) => [n.name, n.lanIP, n.bridge.ip, n.pods.map((p) => p.ip)])).toEqual([
      ['node-1', '172.31.0.11', '10.244.1.1', ['10.244.1.5']],
    ]);
    expect(graph.scene.boxes.map((b) => b.id)).toContain('pod:default/web-a');

    const stream = await openEvents(server.url);
    try {
      await until(() => stream.events.length >= 1, 'the first snapshot');
      expect(stream.events[0]!.version).toBe(graph.version);
      // Three pods at once: one update carries them all.
      for (const n of ['web-b', 'web-c', 'web-d'])
        sources.pods!.add(makePod(n, `10.244.1.${n.charCodeAt(4) - 90}`));
      await until(() => stream.events.at(-1)!.graph.nodes[0]!.pods.length === 4, 'the new pods');
      expect(stream.events.length).toBe(2);
      expect(stream.events[1]!.version).toBeGreaterThan(stream.events[0]!.version);
      expect(stream.events[1]!.graph.nodes[0]!.pods.map((p) => p.ip)).toEqual([
        '10.244.1.5',
        '10.244.1.8',
        '10.244.1.9',
        '10.244.1.10',
      ]);
      // A deletion is pushed too.
      sources.pods!.delete(makePod('web-a'));
      await until(() => stream.events.at(-1)!.graph.nodes[0]!.pods.length === 3, 'the deletion');
      expect(server.openStreams()).toBe(1);
    } finally {
      await stream.close();
    }
    // A page that goes away is forgotten.
    await until(() => server.openStreams() === 0, 'the closed stream to be dropped');
  });

  it("reads a pod's interfaces and routes in its sandbox namespace", async () => {
    const netns = sandboxName('h7u', { namespace: 'default', name: 'web-a', uid: 'uid-web-a' });
    const { server, sources, execCalls } = await start([netns]);
    sources.nodes!.add(node1);
    sources.pods!.add(makePod('web-a', '10.244.1.5'));
    sources.pods!.add(makePod('waiting'));
    sources.pods!.add(makePod('elsewhere', '10.244.1.6'));
    await server.waitForSync(5000);
    await until(() => server.snapshot().graph.nodes[0]?.pods.length === 2, 'the pods in the cache');
    const res = await fetch(new URL('api/pods/default/web-a/network', server.url));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      kind: 'pod',
      name: 'default/web-a',
      nodeName: 'node-1',
      ip: '10.244.1.5',
      netns,
      interfaces: [{ name: 'eth0', addresses: [{ cidr: '10.244.1.5/24' }] }],
      routes: [{ text: 'default via 10.244.1.1 dev eth0' }],
    });
    expect(execCalls.map((c) => c.join(' ')).sort()).toEqual([
      `ip -j -n ${netns} addr show`,
      `ip -j -n ${netns} route show`,
    ]);

    const unknown = await fetch(new URL('api/pods/default/nobody/network', server.url));
    expect([unknown.status, ((await unknown.json()) as { error: string }).error]).toEqual([
      404,
      'pod default/nobody not found',
    ]);
    const pending = await fetch(new URL('api/pods/default/waiting/network', server.url));
    expect(pending.status).toBe(409);
    expect(((await pending.json()) as { error: string }).error).toMatch(/not on a node yet/);
    const noNs = await fetch(new URL('api/pods/default/elsewhere/network', server.url));
    expect(noNs.status).toBe(404);
    expect(((await noNs.json()) as { error: string }).error).toMatch(
      /network namespace pn-h7u-pod-[0-9a-f]{12} does not exist/,
    );
    expect(execCalls).toHaveLength(2);
  });

  it("reads a node's interfaces and routes in the namespace recorded on the Node", async () => {
    const { server, sources, execCalls } = await start(['pn-h7u-node-1']);
    sources.nodes!.add({
      ...node1,
      metadata: { name: 'node-1', annotations: { 'podnet.io/netns': 'pn-h7u-node-1' } },
    });
    sources.nodes!.add({ ...node1, metadata: { name: 'foreign' } });
    await server.waitForSync(5000);
    await until(() => server.snapshot().graph.nodes.length === 2, 'the nodes in the cache');
    const res = await fetch(new URL('api/nodes/node-1/network', server.url));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      kind: 'node',
      name: 'node-1',
      ip: '172.31.0.11',
      netns: 'pn-h7u-node-1',
      routes: [{ text: 'default via 10.244.1.1 dev eth0' }],
    });
    expect(execCalls.map((c) => c.join(' ')).sort()).toEqual([
      'ip -j -n pn-h7u-node-1 addr show',
      'ip -j -n pn-h7u-node-1 route show',
    ]);
    const foreign = await fetch(new URL('api/nodes/foreign/network', server.url));
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: string }).error).toBe(
      'node foreign has no podnet.io/netns annotation: it is not a podnet node',
    );
    const none = await fetch(new URL('api/nodes/node-9/network', server.url));
    expect(none.status).toBe(404);
  });

  it('answers only requests addressed to a loopback name', async () => {
    const { server } = await start();
    expect(await getWithHost(server.url, 'evil.example')).toBe(403);
    expect(await getWithHost(server.url, `localhost:${server.port}`)).toBe(200);
    expect(isLoopbackHost('127.0.0.1:8099')).toBe(true);
    expect(isLoopbackHost('[::1]:8099')).toBe(true);
    expect(isLoopbackHost('127.0.0.1.nip.io')).toBe(false);
    expect(isLoopbackHost('localhost.evil.example:80')).toBe(false);
  });

  it('ends open streams and stops listening when disposed', async () => {
    const { server } = await start();
    await server.waitForSync(5000);
    const stream = await openEvents(server.url);
    await until(() => stream.events.length >= 1, 'the first snapshot');
    await server.dispose();
    await until(stream.ended, 'the stream to end');
    await expect(fetch(server.url)).rejects.toThrow();
    await stream.close();
  });
});
