// A proxy restart does not break an established TCP connection, in every proxy mode, and a new
// proxy's first sync never leaves a window without rules (issue #5: "recovers after a restart
// without flushing live rules first"). Each proxy is a child process in the node namespace
// (proxy/testing/netns-host.ts); a restart is a new process fed the same Service/EndpointSlice.
//
// Address plan (namespaces created here, removed in afterAll):
//   pn-h5r-<pid>-node  br0 10.244.1.1/24, ip_forward=1; the proxy processes. No route to
//                      10.96.0.0/12: a ClusterIP packet the rules miss fails at once (unreachable).
//   pn-h5r-<pid>-srv   10.244.1.5  line echo on TCP :9090 ("<me>:<line>")
//   pn-h5r-<pid>-cli   10.244.1.7  the client pod
// Service: echo 10.96.0.18:80 → 10.244.1.5:9090.
//
// Restarts exercised:
//   kernel modes (iptables, nftables): A is killed (SIGKILL: a crash, rules stay), B starts and
//     syncs; B is stopped with SIGTERM keeping its rules (the graceful restart), C starts and
//     syncs. The connection's NAT lives in conntrack, so it carries on throughout; a loop opening
//     a new connection every ~20 ms across both restarts sees no failure.
//   userspace: the relay lives in the proxy process, so a crash ends the connections it relays
//     (asserted). A graceful restart drains: the old process closes its listeners and relays only
//     the connections it had, the new one takes every new connection, and the old one exits
//     once its last connection closes — leaving the new proxy's rules in place.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupIptables } from '../../../proxy/iptables/cleanup.ts';
import { ExecIptablesRunner } from '../../../proxy/iptables/runner.ts';
import { cleanupNftables } from '../../../proxy/nftables/cleanup.ts';
import { ExecNftRunner } from '../../../proxy/nftables/runner.ts';
import { ep, makeService, makeSlice } from '../../../proxy/testing/builders.ts';
import type { NetnsHostConfig } from '../../../proxy/testing/netns-host.ts';
import { NetnsProxy } from '../../../proxy/testing/netns-proxy.ts';
import { realExec } from '../../../src/kernel/exec.ts';
import { DisposableStore } from '../../../src/util/disposable.ts';

const isRoot = process.getuid?.() === 0;
const PREFIX = `pn-h5r-${process.pid}`;
const NS = { node: `${PREFIX}-node`, srv: `${PREFIX}-srv`, cli: `${PREFIX}-cli` };
const BRIDGE = '10.244.1.1';
const SRV = '10.244.1.5';
const CLI = '10.244.1.7';
const VIP = '10.96.0.18';
const KERNEL_MODES = ['iptables', 'nftables'] as const;
type Mode = (typeof KERNEL_MODES)[number] | 'userspace';

const ECHO_SERVER = `
const net = require('node:net');
const me = process.argv[1];
net.createServer((s) => {
  s.on('error', () => {});
  s.setEncoding('utf8');
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\\n')) >= 0) { s.write(me + ':' + buf.slice(0, i) + '\\n'); buf = buf.slice(i + 1); }
  });
  s.on('end', () => s.end());
}).listen(9090, '0.0.0.0', () => console.log('ready'));
`;

// One long-lived connection: each stdin line is sent; each line received is printed.
const LONG_CLIENT = `
const net = require('node:net');
const [dst, port] = process.argv.slice(1);
const s = net.connect({ host: dst, port: Number(port) }, () => console.log('connected'));
s.setEncoding('utf8');
let buf = '';
s.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) { console.log(buf.slice(0, i)); buf = buf.slice(i + 1); }
});
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => { console.log('closed'); process.exit(0); });
require('node:readline').createInterface({ input: process.stdin })
  .on('line', (l) => (l === 'END' ? s.end() : s.write(l + '\\n')))
  .on('close', () => s.destroy());
`;

// New connections one after another (~20 ms apart), each sending a line and waiting for its echo,
// until stdin closes; then one JSON line: {ok, failures: [first few errors]}.
const LOOP_CLIENT = `
const net = require('node:net');
const [dst, port] = process.argv.slice(1);
let stop = false, ok = 0;
const failures = [];
process.stdin.on('data', () => {});
process.stdin.on('end', () => (stop = true));
const once = (i) => new Promise((res) => {
  const s = net.connect({ host: dst, port: Number(port), timeout: 5000 });
  let buf = '';
  s.setEncoding('utf8');
  s.on('connect', () => s.write('n' + i + '\\n'));
  s.on('data', (d) => { buf += d; if (buf.endsWith('\\n')) s.end(); });
  s.on('timeout', () => { s.destroy(); res('timeout'); });
  s.on('error', (e) => res('error ' + e.code));
  s.on('close', () => res(buf.endsWith(':n' + i + '\\n') ? 'ok' : 'bad reply ' + JSON.stringify(buf)));
});
(async () => {
  console.log('started');
  for (let i = 0; !stop; i++) {
    const r = await once(i);
    if (r === 'ok') ok++; else failures.push(r);
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(JSON.stringify({ ok, failures: failures.slice(0, 10), failed: failures.length }));
  process.exit(0);
})();
`;

const ip = (ns: string, ...args: string[]) => realExec.run('ip', ['-n', ns, ...args]);

/** Spawns `script` in `ns`; it is SIGKILLed on store disposal if still running. */
function spawnIn(store: DisposableStore, ns: string, script: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  store.defer(
    () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGKILL');
      }),
  );
  return child;
}

/** Lines a child prints, and a way to await the next one. */
function lineReader(child: ChildProcess) {
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
  return async (ms = 10_000): Promise<string> => {
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
}

/** A long-lived connection from the client pod to the ClusterIP. */
async function longConnection(store: DisposableStore) {
  const child = spawnIn(store, NS.cli, LONG_CLIENT, [VIP, '80']);
  const next = lineReader(child);
  expect(await next()).toBe('connected');
  return {
    send: (line: string) => {
      child.stdin!.write(`${line}\n`);
      return next();
    },
    /** Half-closes (FIN) and resolves with the last line printed ('closed' once fully closed). */
    end: async () => {
      child.stdin!.write('END\n');
      return next();
    },
    /** What the client printed next (e.g. 'error ECONNRESET' after a crash). */
    next,
  };
}

/** Starts the new-connection loop; stop() resolves with its summary. */
async function connectionLoop(store: DisposableStore) {
  const child = spawnIn(store, NS.cli, LOOP_CLIENT, [VIP, '80']);
  const next = lineReader(child);
  expect(await next()).toBe('started');
  return {
    stop: async (): Promise<{ ok: number; failed: number; failures: string[] }> => {
      child.stdin!.end();
      const line = await next(20_000);
      return JSON.parse(line);
    },
  };
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
    [NS.srv, SRV, 'vsrv'],
    [NS.cli, CLI, 'vcli'],
  ] as const) {
    await ip(NS.node, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip(NS.node, 'link', 'set', peer, 'master', 'br0', 'up');
    await ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
    await ip(ns, 'route', 'add', 'default', 'via', BRIDGE);
  }
  await realExec.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: NS.node });
  const server = spawnIn(store, NS.srv, ECHO_SERVER, [SRV]);
  expect(await lineReader(server)(20_000)).toBe('ready');
}

const service = makeService('ns1', 'echo', (s) => (s.spec.clusterIP = VIP));
const slice = makeSlice('ns1', 'echo', 'echo-a', (s) => {
  s.endpoints = [ep(SRV, { node: 'node-1' })];
  s.ports = [{ name: 'http', port: 9090, protocol: 'TCP' }];
});

/** Starts a proxy process for `mode`, feeds it the Service and its slice, and syncs once. */
async function startProxy(mode: Mode, extra: Partial<NetnsHostConfig> = {}): Promise<NetnsProxy> {
  const p = await NetnsProxy.start(NS.node, {
    mode,
    nodeName: 'node-1',
    nodeIPs: [BRIDGE],
    clusterCIDR: '10.244.0.0/16',
    ...extra,
  });
  await p.service(undefined, service);
  await p.slice(slice);
  expect((await p.sync()).conntrackErrors).toEqual([]);
  return p;
}

/** One fresh connection through the ClusterIP: the echoed line, or what went wrong. */
async function freshConnection(store: DisposableStore, tag: string): Promise<string> {
  const c = await longConnection(store);
  const r = await c.send(tag);
  await c.end();
  return r;
}

/** The kernel state our rules live in, as text (to see that a restart kept or rewrote them). */
async function liveRules(mode: Mode): Promise<string> {
  if (mode === 'nftables') return (await realExec.run('nft', ['list', 'ruleset'], { netns: NS.node })).stdout;
  return (await realExec.run('iptables-save', [], { netns: NS.node })).stdout;
}

describe.skipIf(!isRoot)('a proxy restart keeps established TCP connections', () => {
  const store = new DisposableStore();
  beforeAll(async () => {
    await topology(store);
  }, 60_000);
  afterAll(async () => {
    await store.dispose();
  }, 60_000);

  /** The proxies one mode's tests start; all killed and their rules removed after the mode. */
  function proxies(mode: Mode) {
    const procs: NetnsProxy[] = [];
    afterAll(async () => {
      for (const p of procs) await p.crash();
      // Whatever a failed test left: remove our rules so the next mode starts clean.
      await cleanupIptables(new ExecIptablesRunner({ netns: NS.node })).catch(() => {});
      await cleanupNftables(new ExecNftRunner({ netns: NS.node })).catch(() => {});
    }, 60_000);
    return {
      procs,
      start: async (extra: Partial<NetnsHostConfig> = {}) => {
        const p = await startProxy(mode, extra);
        procs.push(p);
        return p;
      },
    };
  }

  describe.each(KERNEL_MODES)('%s', (mode) => {
    const { start } = proxies(mode);

    it('survives a crash and a graceful stop; new connections never fail meanwhile', async () => {
      const conns = new DisposableStore();
      try {
        const a = await start({ keepRulesOnExit: true });
        const c1 = await longConnection(conns);
        expect(await c1.send('l1')).toBe(`${SRV}:l1`);
        const loop = await connectionLoop(conns);

        // Crash: nothing runs for a while, the rules stay, then B's first sync rewrites them.
        await a.crash();
        expect(await liveRules(mode)).toContain(mode === 'nftables' ? 'table ip kube-proxy' : 'KUBE-SVC-');
        expect(await c1.send('l2')).toBe(`${SRV}:l2`);
        const b = await start({ keepRulesOnExit: true });
        expect(await c1.send('l3')).toBe(`${SRV}:l3`);
        expect(await freshConnection(conns, 'f1')).toBe(`${SRV}:f1`);

        // Graceful stop keeping the rules, then C (which removes its rules when it exits).
        b.signal('SIGTERM');
        expect(await b.exit).toEqual({ code: 0, signal: null });
        expect(await c1.send('l4')).toBe(`${SRV}:l4`);
        await start();
        expect(await c1.send('l5')).toBe(`${SRV}:l5`);
        expect(await freshConnection(conns, 'f2')).toBe(`${SRV}:f2`);

        const summary = await loop.stop();
        expect(summary.failures).toEqual([]);
        // The loop really ran across both restarts (several seconds at ~20 ms a connection).
        expect(summary.ok).toBeGreaterThan(20);
        expect(await c1.end()).toBe('closed');
      } finally {
        await conns.dispose();
      }
    }, 60_000);
  });

  describe('userspace', () => {
    const mode: Mode = 'userspace';
    const { procs, start } = proxies(mode);

    it('a crash ends the connections the proxy relayed', async () => {
      const conns = new DisposableStore();
      try {
        const a = await start({ keepRulesOnExit: true });
        const c0 = await longConnection(conns);
        expect(await c0.send('x1')).toBe(`${SRV}:x1`);
        await a.crash();
        // The relay was a pair of sockets in the dead process: the kernel resets the client side.
        expect(await c0.next()).toMatch(/^(error ECONNRESET|closed)$/);
        // The next proxy serves new connections once its first sync points the rules at it.
        await start({ keepRulesOnExit: true });
        expect(await freshConnection(conns, 'x2')).toBe(`${SRV}:x2`);
      } finally {
        await conns.dispose();
      }
    }, 60_000);

    it('a graceful restart drains: the old process relays only its connection and exits when it closes', async () => {
      const conns = new DisposableStore();
      try {
        // The proxy the crash test left running, or a new one when that test did not run.
        const last = procs.at(-1);
        const old =
          last && !last.hasExited ? last : await start({ keepRulesOnExit: true, drainTimeoutMs: 30_000 });
        const c1 = await longConnection(conns);
        expect(await c1.send('l1')).toBe(`${SRV}:l1`);
        const before = await old.stats();
        expect(before.openConnections).toBe(1);

        old.signal('SIGTERM');
        await expect.poll(async () => (await old.stats()).listening, { timeout: 10_000 }).toBe(0);
        expect(await c1.send('l2')).toBe(`${SRV}:l2`);

        const next = await start();
        expect(next.pid).not.toBe(old.pid);
        expect(await c1.send('l3')).toBe(`${SRV}:l3`);
        for (let i = 0; i < 3; i++) expect(await freshConnection(conns, `f${i}`)).toBe(`${SRV}:f${i}`);
        // New connections went to the new process; the old one still holds only c1.
        expect((await next.stats()).relayed).toBe(3);
        const during = await old.stats();
        expect(during).toMatchObject({ listening: 0, openConnections: 1, relayed: before.relayed });
        expect(old.hasExited).toBe(false);

        // c1 ends: the old process has nothing left to relay and exits, removing no rule.
        expect(await c1.end()).toBe('closed');
        expect(
          await Promise.race([old.exit, new Promise((r) => setTimeout(() => r('still running'), 15_000))]),
        ).toEqual({
          code: 0,
          signal: null,
        });
        // The new process listens on the Service address and port itself (the old one had them
        // too); the old one's exit left the device and its address alone.
        const { listenerPorts } = await next.stats();
        expect(listenerPorts).toEqual([80]);
        expect(listenerPorts).toEqual(before.listenerPorts);
        const addrs = await realExec.run('ip', ['-n', NS.node, 'addr', 'show', 'dev', 'kube-svc0']);
        expect(addrs.stdout).toContain(`${VIP}/32`);
        expect(await liveRules(mode)).not.toMatch(/REDIRECT/);
        expect(await freshConnection(conns, 'after')).toBe(`${SRV}:after`);
      } finally {
        await conns.dispose();
      }
    }, 60_000);
  });
});
