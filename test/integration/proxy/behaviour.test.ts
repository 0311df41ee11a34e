// Service behaviour with real traffic, one suite parameterised over every proxy mode (iptables,
// nftables, userspace). The proxy runs in a child process inside the node namespace
// (proxy/testing/netns-host.ts), fed the same Service/EndpointSlice events kube-proxy gets.
//
// Address plan (namespaces created here, removed in afterAll):
//   pn-h5-<pid>-cli   eth0 192.168.0.7/24, default via 192.168.0.2          (an off-cluster client)
//   pn-h5-<pid>-node  vc 192.168.0.2/24 (node-1's IP), br0 10.244.1.1/24, ip_forward=1; the proxy;
//                     route 10.96.0.0/12 via 192.168.0.7 (so unsteered ClusterIP traffic is routed
//                     and meets the REJECT/DROP rules rather than "network unreachable");
//                     send_redirects=0 and hairpin on the pod ports (see topology())
//   pn-h5-<pid>-b1    10.244.1.5  TCP :8080 answers "<me> <peer>", :9090 echoes "<me>:<data>",
//                                 UDP :5353 answers "<me>"
//   pn-h5-<pid>-b2    10.244.1.6  same servers
//   pn-h5-<pid>-p3    10.244.1.7  a client pod
//   10.244.2.9 is an endpoint "on node-2": it exists only in EndpointSlices.
// Services:
//   web     10.96.0.10:80  NodePort 30080        → b1, b2
//   aff     10.96.0.11:80  ClientIP affinity     → b1, b2
//   etpl    10.96.0.12:80  NodePort 30081 eTP=Local → b1 (node-1), 10.244.2.9 (node-2)
//   etpnone 10.96.0.13:80  NodePort 30082 eTP=Local → 10.244.2.9 only
//   itp     10.96.0.14:80  iTP=Local             → b1 (node-1), 10.244.2.9 (node-2)
//   hair    10.96.0.15:80                        → b1
//   dns     10.96.0.16:53/UDP                    → b1, b2 :5353
//   noep    10.96.0.17:80                        → (none)
//   echo    10.96.0.18:80                        → b1, b2 :9090 (long-lived connections)
//   lb      10.96.0.19:80  LoadBalancer 192.168.0.200, NodePort 30083 → b1, b2
//   ext     10.96.0.20:80  externalIPs 192.168.0.201 → b1, b2
//   hdl     None (headless)                      → b1: no rule, no listener
// The client reaches the LB IP and the external IP through the node (host routes: nothing on
// the LAN answers ARP for them here, as an L2 announcer would).
// userspace mode: the proxy puts every Service address on kube-svc0 in pn-h5-<pid>-node (a bridge
// without ports) and binds its listeners there; the device goes with the proxy's SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSliceObject, ServiceObject } from '../../../proxy/model/types.ts';
import { ep, makeService, makeSlice } from '../../../proxy/testing/builders.ts';
import { NetnsProxy } from '../../../proxy/testing/netns-proxy.ts';
import { realExec } from '../../../src/kernel/exec.ts';
import { DisposableStore } from '../../../src/util/disposable.ts';

const isRoot = process.getuid?.() === 0;
const PREFIX = `pn-h5-${process.pid}`;
const NS = {
  cli: `${PREFIX}-cli`,
  node: `${PREFIX}-node`,
  b1: `${PREFIX}-b1`,
  b2: `${PREFIX}-b2`,
  p3: `${PREFIX}-p3`,
};
const NODE_IP = '192.168.0.2';
const CLIENT = '192.168.0.7';
const BRIDGE = '10.244.1.1';
const B1 = '10.244.1.5';
const B2 = '10.244.1.6';
const P3 = '10.244.1.7';
const REMOTE = '10.244.2.9';
const LB_IP = '192.168.0.200';
const EXT_IP = '192.168.0.201';
const MODES = ['iptables', 'nftables', 'userspace'] as const;
type Mode = (typeof MODES)[number];

const SERVER = `
const net = require('node:net');
const dgram = require('node:dgram');
const me = process.argv[1];
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(me, r.port, r.address));
u.bind(5353, '0.0.0.0', () => {
  net.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write(me + ':' + d)); }).listen(9090, '0.0.0.0', () => {
    net.createServer((s) => { s.on('error', () => {}); s.end(me + ' ' + s.remoteAddress); }).listen(8080, '0.0.0.0', () => console.log('ready'));
  });
});
`;

// n sequential TCP requests; each result is the reply, 'timeout' or 'error CODE' (+ elapsed ms).
const TCP_CLIENT = `
const net = require('node:net');
const [dst, port, n, timeout] = process.argv.slice(1);
(async () => {
  const out = [];
  for (let i = 0; i < Number(n); i++) {
    const t0 = Date.now();
    out.push(await new Promise((res) => {
      let buf = '';
      const s = net.connect({ host: dst, port: Number(port), timeout: Number(timeout) });
      s.on('data', (d) => (buf += d));
      s.on('end', () => res(buf));
      s.on('timeout', () => { s.destroy(); res('timeout'); });
      s.on('error', (e) => res('error ' + e.code + ' ' + (Date.now() - t0)));
    }));
  }
  console.log(JSON.stringify(out));
})();
`;

// n datagrams from one fixed source port (one flow), one at a time; a pause line on stdin between rounds.
const UDP_CLIENT = `
const dgram = require('node:dgram');
const [dst, port, n] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.bind(40000, async () => {
  const out = [];
  for (let i = 0; i < Number(n); i++) {
    out.push(await new Promise((res) => {
      const t = setTimeout(() => { s.removeAllListeners('message'); res('timeout'); }, 1500);
      s.once('message', (m) => { clearTimeout(t); res(m.toString()); });
      s.send('q', Number(port), dst);
    }));
  }
  console.log(JSON.stringify(out));
  s.close();
});
`;

const ip = (ns: string, ...args: string[]) => realExec.run('ip', ['-n', ns, ...args]);

async function runIn(ns: string, script: string, args: (string | number)[]): Promise<string[]> {
  const r = await realExec.run(
    'ip',
    ['netns', 'exec', ns, process.execPath, '-e', script, ...args.map(String)],
    {
      timeoutMs: 60_000,
    },
  );
  return JSON.parse(r.stdout.trim()) as string[];
}

const tcp = (from: string, dst: string, port: number, n = 1, timeoutMs = 3000) =>
  runIn(from, TCP_CLIENT, [dst, port, n, timeoutMs]);

function startServer(store: DisposableStore, netns: string, me: string): Promise<void> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', SERVER, me], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  store.defer(
    () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGKILL');
      }),
  );
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server in ${netns} did not start`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`server in ${netns} exited ${code}`)));
  });
}

async function topology(store: DisposableStore): Promise<void> {
  for (const n of Object.values(NS)) {
    await realExec.run('ip', ['netns', 'add', n]);
    store.defer(() => realExec.run('ip', ['netns', 'del', n], { allowFail: true }).then(() => {}));
    await ip(n, 'link', 'set', 'lo', 'up');
  }
  await ip(NS.node, 'link', 'add', 'br0', 'type', 'bridge');
  await ip(NS.node, 'addr', 'add', `${BRIDGE}/24`, 'dev', 'br0');
  await ip(NS.node, 'link', 'set', 'br0', 'up');
  for (const [ns, addr, peer] of [
    [NS.b1, B1, 'vb1'],
    [NS.b2, B2, 'vb2'],
    [NS.p3, P3, 'vp3'],
  ] as const) {
    await ip(NS.node, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip(NS.node, 'link', 'set', peer, 'master', 'br0', 'up');
    // As the CNI bridge plugin's hairpinMode: with br_netfilter loaded the Service DNAT happens
    // while bridging, and a pod reaching itself needs its frame sent back out its own port.
    await ip(NS.node, 'link', 'set', peer, 'type', 'bridge_slave', 'hairpin', 'on');
    await ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
    await ip(ns, 'route', 'add', 'default', 'via', BRIDGE);
  }
  await ip(NS.node, 'link', 'add', 'vc', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.cli);
  await ip(NS.node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'vc');
  await ip(NS.node, 'link', 'set', 'vc', 'up');
  await ip(NS.cli, 'addr', 'add', `${CLIENT}/24`, 'dev', 'eth0');
  await ip(NS.cli, 'link', 'set', 'eth0', 'up');
  await ip(NS.cli, 'route', 'add', 'default', 'via', NODE_IP);
  for (const vip of [LB_IP, EXT_IP]) await ip(NS.cli, 'route', 'add', `${vip}/32`, 'via', NODE_IP);
  await ip(NS.node, 'route', 'add', '10.96.0.0/12', 'via', CLIENT);
  await realExec.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: NS.node });
  // A hairpinned packet leaves br0 the way it came in; the ICMP redirect the kernel would send
  // (un-NATed by conntrack: "reach the ClusterIP via yourself") would break the pod's own flow.
  for (const dev of ['all', 'default', 'br0'])
    await realExec.run('sysctl', ['-qw', `net.ipv4.conf.${dev}.send_redirects=0`], { netns: NS.node });
  await startServer(store, NS.b1, B1);
  await startServer(store, NS.b2, B2);
}

const n1 = { node: 'node-1' };
const n2 = { node: 'node-2' };

function objects(): { services: ServiceObject[]; slices: EndpointSliceObject[] } {
  const services = [
    makeService('ns1', 'web', (s) => {
      s.spec.type = 'NodePort';
      s.spec.clusterIP = '10.96.0.10';
      s.spec.ports![0]!.nodePort = 30080;
    }),
    makeService('ns1', 'aff', (s) => {
      s.spec.clusterIP = '10.96.0.11';
      s.spec.sessionAffinity = 'ClientIP';
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } };
    }),
    makeService('ns1', 'etpl', (s) => {
      s.spec.type = 'NodePort';
      s.spec.clusterIP = '10.96.0.12';
      s.spec.externalTrafficPolicy = 'Local';
      s.spec.ports![0]!.nodePort = 30081;
    }),
    makeService('ns1', 'etpnone', (s) => {
      s.spec.type = 'NodePort';
      s.spec.clusterIP = '10.96.0.13';
      s.spec.externalTrafficPolicy = 'Local';
      s.spec.ports![0]!.nodePort = 30082;
    }),
    makeService('ns1', 'itp', (s) => {
      s.spec.clusterIP = '10.96.0.14';
      s.spec.internalTrafficPolicy = 'Local';
    }),
    makeService('ns1', 'hair', (s) => (s.spec.clusterIP = '10.96.0.15')),
    makeService('ns1', 'dns', (s) => {
      s.spec.clusterIP = '10.96.0.16';
      s.spec.ports = [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }];
    }),
    makeService('ns1', 'noep', (s) => (s.spec.clusterIP = '10.96.0.17')),
    makeService('ns1', 'echo', (s) => (s.spec.clusterIP = '10.96.0.18')),
    makeService('ns1', 'lb', (s) => {
      s.spec.type = 'LoadBalancer';
      s.spec.clusterIP = '10.96.0.19';
      s.spec.ports![0]!.nodePort = 30083;
      s.status = { loadBalancer: { ingress: [{ ip: LB_IP }] } };
    }),
    makeService('ns1', 'ext', (s) => {
      s.spec.clusterIP = '10.96.0.20';
      s.spec.externalIPs = [EXT_IP];
    }),
    makeService('ns1', 'hdl', (s) => (s.spec.clusterIP = 'None')),
  ];
  const slice = (svc: string, eps: ReturnType<typeof ep>[]) =>
    makeSlice('ns1', svc, `${svc}-a`, (s) => (s.endpoints = eps));
  const slices = [
    slice('web', [ep(B1, n1), ep(B2, n1)]),
    slice('aff', [ep(B1, n1), ep(B2, n1)]),
    slice('etpl', [ep(B1, n1), ep(REMOTE, n2)]),
    slice('etpnone', [ep(REMOTE, n2)]),
    slice('itp', [ep(B1, n1), ep(REMOTE, n2)]),
    slice('hair', [ep(B1, n1)]),
    dnsSlice([B1, B2]),
    echoSlice([B1, B2]),
    slice('lb', [ep(B1, n1), ep(B2, n1)]),
    slice('ext', [ep(B1, n1), ep(B2, n1)]),
    slice('hdl', [ep(B1, n1)]),
  ];
  return { services, slices };
}

function echoSlice(ips: string[]): EndpointSliceObject {
  return makeSlice('ns1', 'echo', 'echo-a', (s) => {
    s.endpoints = ips.map((i) => ep(i, n1));
    s.ports = [{ name: 'http', port: 9090, protocol: 'TCP' }];
  });
}

// One long-lived TCP connection: each stdin line is sent, each received chunk printed on a line.
const LONG_CLIENT = `
const net = require('node:net');
const [dst, port] = process.argv.slice(1);
const s = net.connect({ host: dst, port: Number(port) }, () => console.log('connected'));
s.on('data', (d) => console.log(String(d)));
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => { console.log('closed'); process.exit(0); });
require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => s.write(l));
`;

/** A long-lived connection from `ns`; send() resolves with the next line the peer sends back. */
async function longConnection(store: DisposableStore, ns: string, dst: string, port: number) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', LONG_CLIENT, dst, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  store.defer(
    () =>
      new Promise<void>((res) => {
        // A process killed by a signal has signalCode set and exitCode null.
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGKILL');
      }),
  );
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
    wake?.();
  });
  const next = async (ms = 5000): Promise<string> => {
    const end = Date.now() + ms;
    while (lines.length === 0) {
      if (Date.now() > end) return 'timeout';
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    return lines.shift()!;
  };
  expect(await next()).toBe('connected');
  return {
    send: (line: string) => {
      child.stdin!.write(`${line}\n`);
      return next();
    },
    close: () => child.kill('SIGKILL'),
  };
}

function dnsSlice(ips: string[]): EndpointSliceObject {
  return makeSlice('ns1', 'dns', 'dns-a', (s) => {
    s.endpoints = ips.map((i) => ep(i, n1));
    s.ports = [{ name: 'dns', port: 5353, protocol: 'UDP' }];
  });
}

/** The source address a backend sees for a client: the node's for the relaying userspace mode. */
const seenSource = (mode: Mode, client: string, nodeSide = BRIDGE) =>
  mode === 'userspace' ? nodeSide : client;

describe.skipIf(!isRoot)('Service behaviour in every proxy mode', () => {
  const store = new DisposableStore();
  beforeAll(async () => {
    await topology(store);
  }, 60_000);
  afterAll(async () => {
    await store.dispose();
  }, 60_000);

  describe.each(MODES)('%s', (mode) => {
    let proxy: NetnsProxy | undefined;
    beforeAll(async () => {
      proxy = await NetnsProxy.start(NS.node, {
        mode,
        nodeName: 'node-1',
        nodeIPs: [NODE_IP],
        clusterCIDR: '10.244.0.0/16',
        udpIdleTimeoutMs: 5000,
      });
      const { services, slices } = objects();
      for (const s of services) await proxy.service(undefined, s);
      for (const s of slices) await proxy.slice(s);
      expect((await proxy.sync()).conntrackErrors).toEqual([]);
    }, 60_000);
    afterAll(async () => {
      // Stopped as a node process is: SIGTERM.
      await proxy?.dispose('SIGTERM');
      // Nothing of ours may survive the proxy: no KUBE-* chain, no kube-proxy table.
      const ipt = await realExec.run('iptables-save', [], { netns: NS.node });
      expect(ipt.stdout).not.toMatch(/KUBE-/);
      const nft = await realExec.run('nft', ['list', 'tables'], { netns: NS.node });
      expect(nft.stdout).not.toMatch(/kube-proxy/);
      // userspace: the service device (and with it every Service address) is gone too.
      const dev = await realExec.run('ip', ['-n', NS.node, 'link', 'show', 'dev', 'kube-svc0'], {
        allowFail: true,
      });
      expect(dev.code).not.toBe(0);
    }, 60_000);

    // Registered for the userspace mode only (not a skipped test in the kernel modes).
    if (mode === 'userspace')
      it('userspace: the Service addresses are local (kube-svc0), with strict ARP and no nat rule', async () => {
        const shown = await ip(NS.node, '-j', 'addr', 'show', 'dev', 'kube-svc0');
        const addrs = (
          JSON.parse(shown.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[]
        )
          .flatMap((l) => l.addr_info)
          .filter((a) => a.family === 'inet')
          .map((a) => `${a.local}/${a.prefixlen}`)
          .sort();
        const clusterIPs = Array.from({ length: 11 }, (_, i) => `10.96.0.${10 + i}/32`);
        expect(addrs).toEqual([...clusterIPs, `${LB_IP}/32`, `${EXT_IP}/32`].sort());
        const link = await ip(NS.node, '-d', '-j', 'link', 'show', 'dev', 'kube-svc0');
        expect(link.stdout).toMatch(/"info_kind":"bridge"/);
        for (const [k, v] of [
          ['arp_ignore', '1'],
          ['arp_announce', '2'],
        ]) {
          const r = await realExec.run('sysctl', ['-n', `net.ipv4.conf.all.${k}`], { netns: NS.node });
          expect(r.stdout.trim()).toBe(v);
        }
        // Nothing is steered by nat: the listeners bind the Service addresses themselves.
        const nat = await realExec.run('iptables-save', ['-t', 'nat'], { netns: NS.node });
        expect(nat.stdout).not.toMatch(/REDIRECT|KUBE-/);
        const ss = await realExec.run('ss', ['-Hltn'], { netns: NS.node });
        expect(ss.stdout).toMatch(/10\.96\.0\.10:80\b/);
        expect(ss.stdout).toMatch(/(0\.0\.0\.0|\*):30080\b/);
        // No endpoints, no listener: 10.96.0.17 is refused by the kernel itself.
        expect(ss.stdout).not.toMatch(/10\.96\.0\.17:80\b/);
      }, 60_000);

    it('spreads connections to a ClusterIP over every endpoint', async () => {
      const replies = await tcp(NS.p3, '10.96.0.10', 80, 40);
      const by = new Map<string, number>();
      for (const r of replies) by.set(r.split(' ')[0]!, (by.get(r.split(' ')[0]!) ?? 0) + 1);
      expect([...by.keys()].sort()).toEqual([B1, B2]);
      if (mode === 'userspace') expect([...by.values()]).toEqual([20, 20]);
      else for (const n of by.values()) expect(n).toBeGreaterThanOrEqual(5);
      // The backend sees the pod (kernel modes DNAT only) or the node (userspace relays).
      expect(new Set(replies.map((r) => r.split(' ')[1]))).toEqual(new Set([seenSource(mode, P3)]));
    }, 60_000);

    it('NodePort (Cluster policy) from outside reaches the endpoints from the node address', async () => {
      const replies = await tcp(NS.cli, NODE_IP, 30080, 10);
      for (const r of replies) expect(r).toMatch(new RegExp(`^(${B1}|${B2}) ${BRIDGE}$`));
    }, 60_000);

    it('a LoadBalancer IP from outside reaches every endpoint, from the node address', async () => {
      const replies = await tcp(NS.cli, LB_IP, 80, 16);
      for (const r of replies) expect(r).toMatch(new RegExp(`^(${B1}|${B2}) ${BRIDGE}$`));
      expect(new Set(replies.map((r) => r.split(' ')[0]))).toEqual(new Set([B1, B2]));
      // The LoadBalancer Service's NodePort answers too.
      const [np] = await tcp(NS.cli, NODE_IP, 30083, 1);
      expect(np).toMatch(new RegExp(`^(${B1}|${B2}) ${BRIDGE}$`));
    }, 60_000);

    it('an externalIP from outside reaches every endpoint', async () => {
      const replies = await tcp(NS.cli, EXT_IP, 80, 16);
      for (const r of replies) expect(r).toMatch(new RegExp(`^(${B1}|${B2}) ${BRIDGE}$`));
      expect(new Set(replies.map((r) => r.split(' ')[0]))).toEqual(new Set([B1, B2]));
    }, 60_000);

    it('a headless Service gets no rule', async () => {
      if (mode === 'userspace') {
        // No nat rule names any Service here; the device holds every programmed Service's
        // address (checked in full above) and a headless one has none to hold.
        const shown = (await ip(NS.node, 'addr', 'show', 'dev', 'kube-svc0')).stdout;
        expect(shown).toContain('10.96.0.10/32');
        expect(shown).not.toMatch(/None/);
        return;
      }
      const ipt = (await realExec.run('iptables-save', [], { netns: NS.node })).stdout;
      const nft = (await realExec.run('nft', ['list', 'ruleset'], { netns: NS.node })).stdout;
      // Every other Service is programmed (userspace steering rules name theirs too); the headless
      // one is not mentioned.
      expect(`${ipt}${nft}`).toMatch(/ns1\/web/);
      expect(`${ipt}${nft}`).not.toMatch(/ns1\/hdl/);
    }, 60_000);

    it('the node itself reaches a ClusterIP (OUTPUT path), from its own address', async () => {
      const replies = await tcp(NS.node, '10.96.0.10', 80, 6);
      // Kernel modes masquerade (the node's source is outside the cluster CIDR); userspace relays.
      for (const r of replies) expect(r).toMatch(new RegExp(`^(${B1}|${B2}) ${BRIDGE}$`));
    }, 60_000);

    it('sessionAffinity ClientIP keeps a client on one endpoint', async () => {
      const replies = await tcp(NS.p3, '10.96.0.11', 80, 12);
      expect(new Set(replies.map((r) => r.split(' ')[0])).size).toBe(1);
      expect([B1, B2]).toContain(replies[0]!.split(' ')[0]);
    }, 60_000);

    it('externalTrafficPolicy Local: local endpoint only, client source kept (kernel modes)', async () => {
      const replies = await tcp(NS.cli, NODE_IP, 30081, 8);
      for (const r of replies) expect(r).toBe(`${B1} ${seenSource(mode, CLIENT)}`);
    }, 60_000);

    it('externalTrafficPolicy Local: a node without a local endpoint drops the NodePort', async () => {
      const [r] = await tcp(NS.cli, NODE_IP, 30082, 1, 1500);
      expect(r).toBe('timeout');
    }, 60_000);

    it('internalTrafficPolicy Local keeps ClusterIP traffic on this node', async () => {
      const replies = await tcp(NS.p3, '10.96.0.14', 80, 10);
      for (const r of replies) expect(r.split(' ')[0]).toBe(B1);
    }, 60_000);

    it('hairpin: a pod reaching its own Service lands on itself (seen from the node)', async () => {
      const replies = await tcp(NS.b1, '10.96.0.15', 80, 3);
      // Masqueraded (kernel) or relayed (userspace): either way the reply comes back via the node.
      for (const r of replies) expect(r).toBe(`${B1} ${BRIDGE}`);
    }, 60_000);

    it('a Service without endpoints is refused at once', async () => {
      const [r] = await tcp(NS.p3, '10.96.0.17', 80, 1);
      const m = /^error (\S+) (\d+)$/.exec(r!);
      expect(m?.[1]).toBe('ECONNREFUSED');
      expect(Number(m?.[2])).toBeLessThan(1000);
    }, 60_000);

    it('an established connection survives its endpoint leaving; new ones go to the others', async () => {
      const conns = new DisposableStore();
      try {
        const c1 = await longConnection(conns, NS.p3, '10.96.0.18', 80);
        const r1 = await c1.send('x1');
        const [first] = r1.split(':');
        expect([B1, B2]).toContain(first);
        const other = first === B1 ? B2 : B1;
        await proxy!.slice(echoSlice([other]));
        await proxy!.sync();
        // The removed endpoint still serves the connection it had (it drains, it is not cut).
        expect(await c1.send('x2')).toBe(`${first}:x2`);
        for (let i = 0; i < 3; i++) {
          const c = await longConnection(conns, NS.p3, '10.96.0.18', 80);
          expect(await c.send(`y${i}`)).toBe(`${other}:y${i}`);
          c.close();
        }
        expect(await c1.send('x3')).toBe(`${first}:x3`);
      } finally {
        await conns.dispose();
        await proxy!.slice(echoSlice([B1, B2]));
        await proxy!.sync();
      }
    }, 60_000);

    it('UDP: a flow stays on its endpoint, and moves when that endpoint goes away', async () => {
      const before = await runIn(NS.p3, UDP_CLIENT, ['10.96.0.16', 53, 4]);
      const first = before[0]!;
      expect([B1, B2]).toContain(first);
      expect(before).toEqual([first, first, first, first]);
      const other = first === B1 ? B2 : B1;
      await proxy!.slice(dnsSlice([other]));
      expect((await proxy!.sync()).conntrackErrors).toEqual([]);
      // Same source port, so the same conntrack entry / proxy flow unless it was flushed.
      const after = await runIn(NS.p3, UDP_CLIENT, ['10.96.0.16', 53, 3]);
      expect(after).toEqual([other, other, other]);
      await proxy!.slice(dnsSlice([B1, B2]));
      await proxy!.sync();
    }, 60_000);
  });
});
