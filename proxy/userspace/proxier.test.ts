// Address plan: the conformance table (proxy/testing/fixtures.ts: node-1 192.168.0.2, pods
// 10.244.0.0/16, services 10.96.0.0/12) for traces; the socket tests use only 127.0.0.1 —
// backends on ephemeral loopback ports, the proxy's listeners bound to 127.0.0.1 and dialled
// directly (no device: kube-svc0 is exercised through FakeDeviceExec, which only keeps state).
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackendConformance } from '../conformance/suite.ts';
import { FakeIptablesRunner } from '../iptables/runner.ts';
import { ep, makeService, makeSlice } from '../testing/builders.ts';
import { FakeDeviceExec } from './fake-exec.ts';
import { UserspaceProxier } from './proxier.ts';
import type { TcpRelayKind } from './tcp-relay.ts';

// The tracer-only conformance table does not depend on the TCP relay; the socket tests below
// run with each relay.
runBackendConformance({
  name: 'userspace (fake runner, loopback listeners)',
  alwaysSourceNAT: true,
  newBackend: (cfg) =>
    new UserspaceProxier({ runner: new FakeIptablesRunner(), bindAddress: '127.0.0.1', ...cfg }),
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A TCP server on 127.0.0.1 answering its own name; returns its port. */
async function tcpBackend(name: string): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => s.write(`${name}:${d}`));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}

function request(port: number, msg = 'hi'): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end(msg));
    s.on('data', (d) => (buf += d));
    s.on('end', () => resolve(buf));
    s.on('error', reject);
  });
}

/** Service web (one port, targetPort from the slice) with the given loopback endpoint ports. */
function objects(ports: number[], edit: Parameters<typeof makeService>[2] = () => {}) {
  const svc = makeService('ns1', 'web', edit);
  const slices = ports.map((p, i) =>
    makeSlice('ns1', 'web', `web-${i}`, (s) => {
      s.endpoints = [ep('127.0.0.1', { node: 'node-1' })];
      s.ports = [{ name: 'http', port: p, protocol: 'TCP' }];
    }),
  );
  return { svc, slices };
}

/** The TCP relay the proxiers of the current test use (set per run of the socket tests). */
let tcpRelay: TcpRelayKind = 'uv';

async function proxier(): Promise<{ p: UserspaceProxier; runner: FakeIptablesRunner }> {
  const runner = new FakeIptablesRunner();
  const p = new UserspaceProxier({
    runner,
    tcpRelay,
    nodeName: 'node-1',
    nodeIPs: ['192.168.0.2'],
    clusterCIDR: '10.244.0.0/16',
    bindAddress: '127.0.0.1',
    udpIdleTimeoutMs: 5000,
  });
  cleanups.push(() => p.dispose());
  return { p, runner };
}

describe.each(['uv', 'net'] as const)('UserspaceProxier relays real connections (%s relay)', (relay) => {
  beforeEach(() => {
    tcpRelay = relay;
  });
  it('round-robins TCP connections through its listener, with no nat rule', async () => {
    const [a, b] = [await tcpBackend('a'), await tcpBackend('b')];
    const { p, runner } = await proxier();
    const { svc, slices } = objects([a, b]);
    p.onServiceUpdate(undefined, svc);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    const r = await p.sync();
    expect(r).toMatchObject({ services: 1, listeners: 1, applied: true });
    const port = p.listenerPort('ns1/web:http/TCP')!;
    expect(p.listenerAddresses('ns1/web:http/TCP')).toEqual([`127.0.0.1:${port}`]);
    expect(await runner.save(['nat'])).not.toMatch(/KUBE-|REDIRECT|DNAT/);
    const [hit] = await p.trace({ src: '10.244.1.100', dst: '10.96.0.10', proto: 'tcp', dport: 80 });
    expect(hit?.hits[0]?.rule).toMatch(
      new RegExp(`^internal listener 127\\.0\\.0\\.1:${port} -> 127\\.0\\.0\\.1:\\d+$`),
    );
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await request(port, `m${i}`));
    // Strict alternation (endpoints are ordered by port, so either may come first).
    const names = got.map((g) => g.split(':')[0]);
    expect(new Set(names)).toEqual(new Set(['a', 'b']));
    for (let i = 0; i < 6; i++) expect(names[i]).toBe(names[i % 2]);
    expect(got.map((g) => g.split(':')[1])).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    // An unchanged sync writes nothing.
    expect((await p.sync()).applied).toBe(false);
  });

  it('retries the next endpoint when one refuses', async () => {
    const dead = await deadPort();
    const live = await tcpBackend('live');
    const { p } = await proxier();
    const { svc, slices } = objects([dead, live]);
    p.onServiceUpdate(undefined, svc);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const port = p.listenerPort('ns1/web:http/TCP')!;
    for (let i = 0; i < 4; i++) expect(await request(port, 'x')).toBe('live:x');
    expect(p.stats.connectFailures).toBeGreaterThanOrEqual(2);
  });

  it('keeps an established connection through an endpoint removal; new ones go elsewhere', async () => {
    const [a, b] = [await tcpBackend('a'), await tcpBackend('b')];
    const { p } = await proxier();
    const { svc, slices } = objects([a, b]);
    p.onServiceUpdate(undefined, svc);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const port = p.listenerPort('ns1/web:http/TCP')!;
    // A long-lived connection lands on whichever endpoint comes first.
    const s = net.connect({ host: '127.0.0.1', port });
    const replies: string[] = [];
    s.on('data', (d) => replies.push(String(d)));
    await new Promise((r) => s.once('connect', r));
    s.write('1');
    await expect.poll(() => replies.join('')).toMatch(/^[ab]:1$/);
    const first = replies[0]![0]!;
    const [gone, other] = first === 'a' ? [0, 'b'] : [1, 'a'];
    p.onEndpointSliceUpdate(slices[gone]!, true);
    await p.sync();
    s.write('2');
    await expect.poll(() => replies.join('')).toBe(`${first}:1${first}:2`);
    expect(await request(port, 'n')).toBe(`${other}:n`);
    expect(await request(port, 'n')).toBe(`${other}:n`);
    s.destroy();
  });

  it('has no listener and no rule for a service without endpoints (the kernel refuses it)', async () => {
    const a = await tcpBackend('a');
    const { p, runner } = await proxier();
    const { svc, slices } = objects([a]);
    p.onServiceUpdate(undefined, svc);
    expect(await p.sync()).toMatchObject({ listeners: 0, rules: 0 });
    expect(p.listenerPort('ns1/web:http/TCP')).toBeUndefined();
    expect(await runner.save(['nat', 'filter'])).not.toContain('10.96.0.10');
    const [t] = await p.trace({ src: '10.244.1.100', dst: '10.96.0.10', proto: 'tcp', dport: 80 });
    expect(t?.verdict).toBe('REJECT');
    // Endpoints arrive: the listener opens; they go again: it closes and the port refuses.
    p.onEndpointSliceUpdate(slices[0]!, false);
    expect(await p.sync()).toMatchObject({ listeners: 1 });
    const port = p.listenerPort('ns1/web:http/TCP')!;
    expect(await request(port)).toBe('a:hi');
    p.onEndpointSliceUpdate(slices[0]!, true);
    expect(await p.sync()).toMatchObject({ listeners: 0 });
    await expect(request(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('relays UDP per client flow and moves a flow off a removed endpoint', async () => {
    const servers: dgram.Socket[] = [];
    const ports: number[] = [];
    for (const name of ['a', 'b']) {
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send(`${name}:${m}`, r.port, r.address));
      await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
      servers.push(u);
      ports.push(u.address().port);
    }
    cleanups.push(() => Promise.all(servers.map((u) => new Promise<void>((r) => u.close(() => r())))));
    const { p } = await proxier();
    const svc = makeService('ns1', 'dns', (s) => {
      s.spec.clusterIP = '10.96.0.53';
      s.spec.ports = [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }];
    });
    const slice = (ps: number[]) =>
      ps.map((pt, i) =>
        makeSlice('ns1', 'dns', `dns-${i}`, (s) => {
          s.endpoints = [ep('127.0.0.1', { node: 'node-1' })];
          s.ports = [{ name: 'dns', port: pt, protocol: 'UDP' }];
        }),
      );
    p.onServiceUpdate(undefined, svc);
    for (const s of slice(ports)) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const port = p.listenerPort('ns1/dns:dns/UDP')!;
    const client = (): Promise<{ ask: (m: string) => Promise<string>; close: () => void }> =>
      new Promise((res) => {
        const c = dgram.createSocket('udp4');
        c.bind(0, '127.0.0.1', () =>
          res({
            ask: (m) =>
              new Promise((r) => {
                c.once('message', (d) => r(String(d)));
                c.send(m, port, '127.0.0.1');
              }),
            close: () => c.close(),
          }),
        );
      });
    const c1 = await client();
    const c2 = await client();
    cleanups.push(() => {
      c1.close();
      c2.close();
    });
    // One flow per client: each client stays on its endpoint; the two clients are spread.
    const r1 = await c1.ask('1');
    const first = r1[0]!;
    const other = first === 'a' ? 'b' : 'a';
    expect(await c1.ask('2')).toBe(`${first}:2`);
    expect(await c2.ask('1')).toBe(`${other}:1`);
    expect(p.udpFlows).toBe(2);
    // c1's endpoint goes away: its flow is closed, its next datagram lands on the other one.
    p.onEndpointSliceUpdate(slice(ports)[first === 'a' ? 0 : 1]!, true);
    await p.sync();
    expect(p.udpFlows).toBe(1);
    expect(await c1.ask('3')).toBe(`${other}:3`);
  });

  it('closes listeners when a service goes away and everything on dispose', async () => {
    const a = await tcpBackend('a');
    const { p } = await proxier();
    const { svc, slices } = objects([a]);
    p.onServiceUpdate(undefined, svc);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const port = p.listenerPort('ns1/web:http/TCP')!;
    expect(await request(port)).toBe('a:hi');
    const open = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => open.once('connect', r));
    await expect.poll(() => p.openSockets).toBe(2);
    p.onServiceUpdate(svc, undefined);
    await p.sync();
    expect(p.listenerPort('ns1/web:http/TCP')).toBeUndefined();
    await expect(request(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // The established connection still drains until dispose ends it.
    expect(p.openSockets).toBe(2);
    const closed = new Promise((r) => open.once('close', r));
    await p.dispose();
    await closed;
    expect(p.openSockets).toBe(0);
  });

  it('drain(): stops accepting, keeps relaying the established connection, resolves when it ends', async () => {
    const a = await tcpBackend('a');
    const { p, runner } = await proxier();
    const { svc, slices } = objects([a]);
    p.onServiceUpdate(undefined, svc);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    const port = p.listenerPort('ns1/web:http/TCP')!;
    const rulesBefore = await runner.save(['nat', 'filter']);
    const s = net.connect({ host: '127.0.0.1', port });
    const replies: string[] = [];
    s.on('data', (d) => replies.push(String(d)));
    await new Promise((r) => s.once('connect', r));
    s.write('1');
    await expect.poll(() => replies.join('')).toBe('a:1');
    let done = false;
    const drained = p.drain(20_000).then((r) => {
      done = true;
      return r;
    });
    // The listener is gone at once; the relayed connection is not.
    await expect.poll(() => p.listening).toBe(0);
    await expect(request(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    s.write('2');
    await expect.poll(() => replies.join('')).toBe('a:1a:2');
    expect(p.openConnections).toBe(1);
    expect(done).toBe(false);
    // Draining leaves the steering rules to the next proxy: nothing written, nothing removed.
    expect(await runner.save(['nat', 'filter'])).toBe(rulesBefore);
    await expect(p.sync()).rejects.toThrow(/sync while draining/);
    s.end();
    expect(await drained).toEqual({ connections: 1, cut: 0 });
    expect(p.openSockets).toBe(0);
    // A second drain (e.g. SIGTERM after a drain call) is the same one.
    expect(await p.drain()).toEqual({ connections: 1, cut: 0 });
  });

  it('drain(): ends connections still open when the timeout passes; 0 ends them at once', async () => {
    const a = await tcpBackend('a');
    for (const timeout of [300, 0]) {
      const { p } = await proxier();
      const { svc, slices } = objects([a]);
      p.onServiceUpdate(undefined, svc);
      for (const sl of slices) p.onEndpointSliceUpdate(sl, false);
      await p.sync();
      const port = p.listenerPort('ns1/web:http/TCP')!;
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      await expect.poll(() => p.openSockets).toBe(2);
      const closed = new Promise((r) => s.once('close', r));
      expect(await p.drain(timeout)).toEqual({ connections: 1, cut: 1 });
      await closed;
      expect(p.openConnections).toBe(0);
    }
  });
});

describe('UserspaceProxier service addresses (kube-svc0 over a fake exec)', () => {
  function withDevice() {
    const exec = new FakeDeviceExec();
    const runner = new FakeIptablesRunner();
    const p = new UserspaceProxier({
      runner,
      exec,
      nodeName: 'node-1',
      nodeIPs: ['192.168.0.2'],
      clusterCIDR: '10.244.0.0/16',
      bindAddress: '127.0.0.1',
    });
    cleanups.push(() => p.dispose());
    return { p, exec, runner };
  }
  const held = (exec: FakeDeviceExec) => [...(exec.devices.get('kube-svc0') ?? [])].sort();

  it('holds every ClusterIP, externalIP and LB IP, with or without endpoints; drops removed ones', async () => {
    const a = await tcpBackend('a');
    const { p, exec } = withDevice();
    const { svc, slices } = objects([a], (s) => {
      s.spec.type = 'LoadBalancer';
      s.spec.externalIPs = ['192.168.0.201'];
      s.spec.ports![0]!.nodePort = 30080;
    });
    svc.status = { loadBalancer: { ingress: [{ ip: '192.168.0.200' }] } };
    const noep = makeService('ns1', 'noep', (s) => (s.spec.clusterIP = '10.96.0.17'));
    p.onServiceUpdate(undefined, svc);
    p.onServiceUpdate(undefined, noep);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    expect(await p.sync()).toMatchObject({ addresses: 4 });
    expect(held(exec)).toEqual(['10.96.0.10', '10.96.0.17', '192.168.0.200', '192.168.0.201']);
    expect(exec.sysctls.get('net.ipv4.conf.all.arp_ignore')).toBe('1');
    expect(exec.sysctls.get('net.ipv4.conf.all.arp_announce')).toBe('2');
    // Unchanged: not even a read.
    const before = exec.log.length;
    await p.sync();
    expect(exec.log.length).toBe(before);
    // A removed Service takes its address with it; a full sync re-reads the device.
    p.onServiceUpdate(noep, undefined);
    await p.sync();
    expect(held(exec)).toEqual(['10.96.0.10', '192.168.0.200', '192.168.0.201']);
    exec.devices.get('kube-svc0')!.delete('10.96.0.10');
    p.requestFullSync();
    await p.sync();
    expect(held(exec)).toEqual(['10.96.0.10', '192.168.0.200', '192.168.0.201']);
    await p.dispose();
    expect(exec.devices.has('kube-svc0')).toBe(false);
  });

  it('drain() leaves the device and its addresses to the next proxy', async () => {
    const a = await tcpBackend('a');
    const { p, exec } = withDevice();
    const { svc, slices } = objects([a]);
    p.onServiceUpdate(undefined, svc);
    for (const s of slices) p.onEndpointSliceUpdate(s, false);
    await p.sync();
    expect(await p.drain(0)).toEqual({ connections: 0, cut: 0 });
    expect(held(exec)).toEqual(['10.96.0.10']);
  });

  it('renders only filter DROPs: Local policies without a local endpoint, LB source ranges', async () => {
    const { p, runner } = withDevice();
    const itp = makeService('ns1', 'itp', (s) => {
      s.spec.clusterIP = '10.96.0.14';
      s.spec.internalTrafficPolicy = 'Local';
    });
    const lb = makeService('ns1', 'lb', (s) => {
      s.spec.clusterIP = '10.96.0.19';
      s.spec.type = 'LoadBalancer';
      s.spec.loadBalancerSourceRanges = ['192.168.0.0/24'];
      s.spec.ports![0]!.nodePort = 30083;
    });
    lb.status = { loadBalancer: { ingress: [{ ip: '192.168.0.200' }] } };
    p.onServiceUpdate(undefined, itp);
    p.onServiceUpdate(undefined, lb);
    p.onEndpointSliceUpdate(
      makeSlice('ns1', 'itp', 'itp-0', (s) => (s.endpoints = [ep('10.244.2.9', { node: 'node-2' })])),
      false,
    );
    p.onEndpointSliceUpdate(
      makeSlice('ns1', 'lb', 'lb-0', (s) => (s.endpoints = [ep('10.244.1.5')])),
      false,
    );
    expect(await p.sync()).toMatchObject({ rules: 3 });
    const filter = await runner.save(['filter']);
    expect(filter).toMatch(/-A INPUT .*-j KUBE-SERVICES/);
    expect(filter).toMatch(/-A INPUT .*-j KUBE-EXTERNAL-SERVICES/);
    expect(filter).toMatch(/-A KUBE-SERVICES .*-d 10\.96\.0\.14\/32 -p tcp -m tcp --dport 80 -j DROP/);
    expect(filter).toMatch(/-s 192\.168\.0\.0\/24 -d 192\.168\.0\.200\/32 .*-j RETURN/);
    expect(filter).toMatch(
      /-A KUBE-EXTERNAL-SERVICES .*-d 192\.168\.0\.200\/32 -p tcp -m tcp --dport 80 -j DROP/,
    );
    expect(await runner.save(['nat'])).not.toMatch(/KUBE-/);
  });

  it('removes the old REDIRECT layout (nat chains and hooks) on its first sync', async () => {
    const { p, runner } = withDevice();
    await runner.restore(
      [
        '*nat',
        ':KUBE-PORTALS-CONTAINER - [0:0]',
        ':KUBE-NODEPORT-HOST - [0:0]',
        '-A PREROUTING -m comment --comment "handle ClusterIPs" -j KUBE-PORTALS-CONTAINER',
        '-A OUTPUT -m addrtype --dst-type LOCAL -j KUBE-NODEPORT-HOST',
        '-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 40000',
        '-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE',
        'COMMIT',
        '',
      ].join('\n'),
    );
    p.onServiceUpdate(undefined, makeService('ns1', 'web'));
    await p.sync();
    const nat = await runner.save(['nat']);
    expect(nat).not.toMatch(/KUBE-|REDIRECT/);
    expect(nat).toContain('-A POSTROUTING -s 10.244.0.0/16 -j MASQUERADE');
  });
});
