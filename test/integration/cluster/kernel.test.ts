// Address plan: LAN 172.31.0.0/24 in pn-<c>-underlay (gateway .1); nodes .11/.12/.13 with pod
// CIDRs 10.244.1.0/24, 10.244.2.0/24, 10.244.3.0/24. Hand-made "pods": 10.244.1.5 on node-1 and
// 10.244.2.5 on node-2, veths on cni0. Clusters: pnt1 (host-gw), pnt3 (vxlan), pnt2 (crash sweep).
// Kernel only: no API server or node agents.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCluster, destroyCluster, ownsNetns, sweepAll } from '../../../src/cluster/build.ts';
import { planCluster } from '../../../src/cluster/plan.ts';
import { resolveClusterSpec } from '../../../src/cluster/spec.ts';
import { realKernel } from '../../../src/kernel/index.ts';

const isRoot = process.getuid?.() === 0;
const k = realKernel();

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const inNs = (ns: string, cmd: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);

/** Attaches a pod namespace to a node's cni0 by hand (what the CNI bridge plugin does). */
function addPod(cluster: string, node: number, tag: string, ip: string, gw: string, mtu: number): string {
  const pod = `pn-${cluster}-pod-${tag}`;
  const node_ = `pn-${cluster}-node-${node}`;
  sh('ip', ['netns', 'add', pod]);
  const veth = `veth${tag}`;
  sh('ip', [
    '-n',
    node_,
    'link',
    'add',
    veth,
    'mtu',
    String(mtu),
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'mtu',
    String(mtu),
    'netns',
    pod,
  ]);
  sh('ip', ['-n', node_, 'link', 'set', veth, 'master', 'cni0', 'up']);
  sh('ip', ['-n', pod, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', pod, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  sh('ip', ['-n', pod, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', pod, 'route', 'add', 'default', 'via', gw]);
  return pod;
}

/** Starts a TCP server in `ns` that answers each connection with the peer's address. */
async function peerEchoServer(ns: string, port: number): Promise<{ stop(): void }> {
  const code = `require('net').createServer(s=>s.end(s.remoteAddress+'\\n')).listen(${port},'0.0.0.0',()=>console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { stop: () => child.kill('SIGKILL') };
}

/** Connects from `ns` to ip:port and returns what the server said (the source address it saw). */
function askPeer(ns: string, ip: string, port: number): string {
  return inNs(ns, 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}; timeout 5 cat <&3`).trim();
}

const leftovers = async (c: string) => (await k.netns.list()).filter((n) => ownsNetns(c, n));

describe.skipIf(!isRoot)('cluster on the kernel', () => {
  afterAll(async () => {
    for (const c of ['pnt1', 'pnt2', 'pnt3']) await destroyCluster(c, { kernel: k });
  });

  it('host-gw: 3 nodes talk over the LAN, pods talk across nodes without NAT, destroy removes all', async () => {
    const plan = planCluster(resolveClusterSpec({ name: 'pnt1', nodes: 3 }));
    const built = await buildCluster(plan, { kernel: k });
    expect(built.plan).toBe(plan);
    expect(await leftovers('pnt1')).toEqual([
      'pn-pnt1-node-1',
      'pn-pnt1-node-2',
      'pn-pnt1-node-3',
      'pn-pnt1-underlay',
    ]);
    // LAN: nodes reach each other directly (the server sees the client node's LAN address).
    const lanSrv = await peerEchoServer('pn-pnt1-node-2', 9000);
    try {
      expect(askPeer('pn-pnt1-node-1', '172.31.0.12', 9000)).toBe('172.31.0.11');
      expect(askPeer('pn-pnt1-node-3', '172.31.0.12', 9000)).toBe('172.31.0.13');
    } finally {
      lanSrv.stop();
    }
    // host-gw routes as planned.
    const routes = await k.ip.routes('pn-pnt1-node-1');
    expect(routes).toContainEqual(
      expect.objectContaining({ dst: '10.244.2.0/24', via: '172.31.0.12', dev: 'eth0' }),
    );
    expect(routes).toContainEqual(
      expect.objectContaining({ dst: '10.244.3.0/24', via: '172.31.0.13', dev: 'eth0' }),
    );
    expect(await k.sysctl.get('pn-pnt1-node-2', 'net.ipv4.ip_forward')).toBe('1');
    // Pods across nodes: the server sees the client pod's own address (no NAT on the way).
    const a = addPod('pnt1', 1, 'a1', '10.244.1.5', '10.244.1.1', 1500);
    const b = addPod('pnt1', 2, 'b2', '10.244.2.5', '10.244.2.1', 1500);
    const srv = await peerEchoServer(b, 8080);
    try {
      expect(askPeer(a, '10.244.2.5', 8080)).toBe('10.244.1.5');
      // A node reaches a remote pod too (source = its LAN address, routed the same way).
      expect(askPeer('pn-pnt1-node-3', '10.244.2.5', 8080)).toBe('172.31.0.13');
    } finally {
      srv.stop();
    }
    mkdirSync('/etc/netns/pn-pnt1-node-1', { recursive: true });
    const report = await destroyCluster('pnt1', { kernel: k });
    expect(report.namespaces.sort()).toEqual([
      'pn-pnt1-node-1',
      'pn-pnt1-node-2',
      'pn-pnt1-node-3',
      'pn-pnt1-pod-a1',
      'pn-pnt1-pod-b2',
      'pn-pnt1-underlay',
    ]);
    expect(await leftovers('pnt1')).toEqual([]);
    expect(existsSync('/etc/netns/pn-pnt1-node-1')).toBe(false);
    expect(sh('ip', ['-o', 'link', 'show']).includes('pn-pnt1')).toBe(false);
  });

  it('vxlan: pods talk across nodes through vxlan0 with their own source address', async () => {
    const plan = planCluster(resolveClusterSpec({ name: 'pnt3', nodes: 3, overlay: 'vxlan' }));
    await buildCluster(plan, { kernel: k });
    const vx = await k.ip.link('pn-pnt3-node-1', 'vxlan0');
    expect(vx?.kind).toBe('vxlan');
    expect(vx?.addrs.filter((x) => !x.includes(':'))).toEqual(['10.244.1.0/32']);
    expect(vx?.mac).toBe(plan.nodes[0].vxlan!.mac);
    const fdb = sh('bridge', ['-n', 'pn-pnt3-node-1', 'fdb', 'show', 'dev', 'vxlan0']);
    expect(fdb).toContain(`${plan.nodes[1].vxlan!.mac} dst 172.31.0.12`);
    const a = addPod('pnt3', 1, 'a1', '10.244.1.5', '10.244.1.1', 1450);
    const b = addPod('pnt3', 2, 'b2', '10.244.2.5', '10.244.2.1', 1450);
    const txBefore = JSON.parse(sh('ip', ['-n', 'pn-pnt3-node-1', '-j', '-s', 'link', 'show', 'vxlan0']))[0]
      .stats64.tx.packets;
    const srv = await peerEchoServer(b, 8080);
    try {
      expect(askPeer(a, '10.244.2.5', 8080)).toBe('10.244.1.5');
    } finally {
      srv.stop();
    }
    const txAfter = JSON.parse(sh('ip', ['-n', 'pn-pnt3-node-1', '-j', '-s', 'link', 'show', 'vxlan0']))[0]
      .stats64.tx.packets;
    expect(txAfter).toBeGreaterThan(txBefore);
    // Without host-gw routes, the pod networks are reachable only through the tunnel.
    expect((await k.ip.routes('pn-pnt3-node-1')).find((r) => r.dst === '10.244.2.0/24')?.dev).toBe('vxlan0');
    await destroyCluster('pnt3', { kernel: k });
    expect(await leftovers('pnt3')).toEqual([]);
  });

  it('refuses to build over leftovers, and sweepAll removes a forgotten cluster and its stray processes', async () => {
    const plan = planCluster(resolveClusterSpec({ name: 'pnt2', nodes: 2 }));
    await buildCluster(plan, { kernel: k }); // then "crash": never disposed
    await expect(buildCluster(plan, { kernel: k })).rejects.toThrow(/cluster "pnt2" exists already/);
    const stray = spawn('ip', ['netns', 'exec', 'pn-pnt2-node-1', 'sleep', '300'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    mkdirSync('/etc/netns/pn-pnt2-node-2', { recursive: true });
    const exited = new Promise((r) => stray.on('exit', r));
    const report = await sweepAll({ kernel: k, prefix: 'pn-pnt2-' });
    expect(report.namespaces.sort()).toEqual(['pn-pnt2-node-1', 'pn-pnt2-node-2', 'pn-pnt2-underlay']);
    expect(report.processes).toBeGreaterThanOrEqual(1);
    await exited;
    expect(await leftovers('pnt2')).toEqual([]);
    expect(existsSync('/etc/netns/pn-pnt2-node-2')).toBe(false);
  });

  it('rolls back a build that fails half-way', async () => {
    // An MTU the kernel refuses for a bridge makes the first node's batch fail after the underlay.
    const plan = planCluster(resolveClusterSpec({ name: 'pnt2', nodes: 2 }));
    plan.links.find((l) => l.netns === 'pn-pnt2-node-2' && l.name === 'cni0')!.mtu = 70_000;
    await expect(buildCluster(plan, { kernel: k })).rejects.toThrow(
      /netns pn-pnt2-node-2: ip "link add cni0 mtu 70000/,
    );
    expect(await leftovers('pnt2')).toEqual([]);
  });
});
