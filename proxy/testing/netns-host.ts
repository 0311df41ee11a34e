/**
 * A kube-proxy backend hosted in a child process that runs inside a node's network namespace
 * (`ip netns exec NS node --import tsx proxy/testing/netns-host.ts CONFIG`). Integration tests and
 * the data-plane bench drive it from the parent over stdin/stdout, one JSON object per line:
 * the same informer events and syncs the real kube-proxy gets. It is needed because the
 * userspace balancer's sockets must live in the node namespace (a process cannot open sockets in
 * another one); the kernel backends are hosted the same way so one suite covers all modes.
 *
 * Requests: `{id, op: 'service', prev?, cur?}`, `{id, op: 'slice', slice, removed}`,
 * `{id, op: 'sync'}`, `{id, op: 'stats'}`, `{id, op: 'drain'}`, `{id, op: 'exit'}`. Replies:
 * `{id, ok: true, result}` or `{id, ok: false, error}`.
 * On `exit`, end of stdin or SIGTERM it closes the backend and removes every rule it made — unless
 * `keepRulesOnExit` is set: then it stops the way a restarting kube-proxy does, leaving its rules
 * for the next process (the kernel modes' connections live on in conntrack; the userspace mode
 * drains: listeners closed, established connections relayed until they end or `drainTimeoutMs`).
 * `drain` does the same on request and replies once the drain is over, just before exiting.
 */
import { createInterface } from 'node:readline';
import type { ProxyBackend } from '../conformance/backend.ts';
import { cleanupIptables } from '../iptables/cleanup.ts';
import { IptablesProxier } from '../iptables/proxier.ts';
import { ExecIptablesRunner } from '../iptables/runner.ts';
import { ExecConntrackRunner } from '../model/conntrack.ts';
import { cleanupNftables } from '../nftables/cleanup.ts';
import { NftablesProxier } from '../nftables/proxier.ts';
import { ExecNftRunner } from '../nftables/runner.ts';
import { UserspaceProxier } from '../userspace/proxier.ts';

/** The child's configuration (argv[2], JSON). */
export interface NetnsHostConfig {
  mode: 'iptables' | 'nftables' | 'userspace';
  nodeName: string;
  nodeIPs: string[];
  clusterCIDR: string;
  udpIdleTimeoutMs?: number;
  /** Stop as a restart would: keep the rules (and drain, in userspace mode) on exit/SIGTERM. */
  keepRulesOnExit?: boolean;
  /** userspace: how long a drain keeps relaying established connections (default 30 s). */
  drainTimeoutMs?: number;
  /** userspace: which TCP relay (default: the proxier's own choice, `uv` where available). */
  tcpRelay?: 'uv' | 'net';
}

/** The `stats` reply: what the backend still holds (userspace counters are 0 in kernel modes). */
export interface NetnsHostStats {
  /** Process id of the host (the restart tests tell old and new processes apart by it). */
  pid: number;
  /** userspace: listening sockets. */
  listening: number;
  /** userspace: relayed TCP connections still open. */
  openConnections: number;
  /** userspace: TCP connections relayed so far. */
  relayed: number;
  /** userspace: the ports of the ClusterIP listeners, sorted. */
  listenerPorts: number[];
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as NetnsHostConfig;
  const ipt = new ExecIptablesRunner();
  const nft = new ExecNftRunner();
  const errors: string[] = [];
  const common = {
    nodeName: cfg.nodeName,
    nodeIPs: cfg.nodeIPs,
    clusterCIDR: cfg.clusterCIDR,
    conntrack: new ExecConntrackRunner(),
    onConntrackError: (e: unknown) => errors.push(String((e as Error).message)),
  };
  const backend: ProxyBackend =
    cfg.mode === 'nftables'
      ? new NftablesProxier({ ...common, runner: nft })
      : cfg.mode === 'userspace'
        ? new UserspaceProxier({
            ...common,
            runner: ipt,
            udpIdleTimeoutMs: cfg.udpIdleTimeoutMs,
            drainTimeoutMs: cfg.drainTimeoutMs,
            tcpRelay: cfg.tcpRelay,
          })
        : new IptablesProxier({ ...common, runner: ipt });
  let closing: Promise<unknown> | undefined;
  // A restart (keepRulesOnExit or `drain`) never touches the rules: by the time this process
  // ends, the next one may already have written its own, and a cleanup would remove them.
  const restart = (): Promise<unknown> => {
    closing ??= backend instanceof UserspaceProxier ? backend.drain() : Promise.resolve(backend.dispose());
    return closing;
  };
  const close = (): Promise<unknown> => {
    if (cfg.keepRulesOnExit) return restart();
    closing ??= (async () => {
      await backend.dispose();
      if (cfg.mode === 'nftables') await cleanupNftables(nft).catch(() => {});
      else await cleanupIptables(ipt).catch(() => {});
    })();
    return closing;
  };
  process.on('SIGTERM', () => void close().then(() => process.exit(0)));
  const reply = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const rl = createInterface({ input: process.stdin });
  // Requests are handled one at a time, in order, as informer events would be.
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      const req = JSON.parse(line) as { id: number; op: string; [k: string]: unknown };
      try {
        let result: unknown = true;
        if (req.op === 'service') result = backend.onServiceUpdate(req.prev as never, req.cur as never);
        else if (req.op === 'slice')
          result = backend.onEndpointSliceUpdate(req.slice as never, !!req.removed);
        else if (req.op === 'stats') {
          const u = backend instanceof UserspaceProxier ? backend : undefined;
          let relayed = 0;
          for (const n of u?.stats.tcpByEndpoint.values() ?? []) relayed += n;
          result = {
            pid: process.pid,
            listening: u?.listening ?? 0,
            openConnections: u?.openConnections ?? 0,
            relayed,
            listenerPorts: [...(u?.state.services.keys() ?? [])]
              .map((k) => u?.listenerPort(k))
              .filter((x): x is number => x !== undefined)
              .sort((x, y) => x - y),
          } satisfies NetnsHostStats;
        } else if (req.op === 'drain') {
          // Off the request chain, so `stats` keeps answering while the drain runs.
          void restart().then(
            (r) => {
              reply({ id: req.id, ok: true, result: r ?? true });
              process.exit(0);
            },
            (e) => reply({ id: req.id, ok: false, error: String((e as Error).message) }),
          );
          return;
        } else if (req.op === 'sync') {
          await backend.sync();
          result = { conntrackErrors: errors.splice(0) };
        } else if (req.op === 'exit') {
          await close();
          reply({ id: req.id, ok: true, result: true });
          process.exit(0);
        } else throw new Error(`unknown op "${req.op}"`);
        reply({ id: req.id, ok: true, result });
      } catch (e) {
        reply({ id: req.id, ok: false, error: String((e as Error).message) });
      }
    });
  });
  rl.on('close', () => void chain.then(close).then(() => process.exit(0)));
  reply({ id: 0, ok: true, result: 'ready' });
}

void main();
