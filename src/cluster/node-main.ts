/**
 * The process of one emulated node, started by the cluster process INSIDE the node's network
 * namespace (`nsenter --net=/run/netns/pn-<c>-node-<i> node --import tsx src/cluster/node-main.ts
 * --config F`).
 * It relays port 6443 of the node (all addresses) to the API server, runs the node's resident CNI service,
 * the node agent (src/node), the cluster DNS server (src/dns) on its LAN address and, when
 * proxy/ provides one, kube-proxy. It prints `ready` once the
 * agent has registered the Node, and shuts down in order on SIGTERM/SIGINT or when the cluster
 * process goes away (its IPC channel closes), so a crashed parent leaves no orphan agents.
 */
import { readFileSync } from 'node:fs';
import { ApiClient } from '../client/index.ts';
import { DisposableStore } from '../util/disposable.ts';
import type { NodeProcessConfig } from './node-config.ts';
import { startRelay } from './relay.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const path = arg('--config');
  if (!path) throw new Error('usage: node-main.ts --config FILE');
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as NodeProcessConfig;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const owner = new DisposableStore();
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: stopping`);
    const timer = setTimeout(() => process.exit(1), 15_000);
    try {
      await owner.dispose();
    } catch (e) {
      log(`shutdown: ${(e as Error).message}`);
    }
    clearTimeout(timer);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('disconnect', () => void stop('cluster process gone'));

  // On every address of the node: 127.0.0.1 for the agent, the LAN address for pods (the
  // default/kubernetes Service points at node-1's).
  owner.add(await startRelay({ host: '0.0.0.0', port: cfg.apiLocalPort }, { path: cfg.apiSocket }));
  const env: Record<string, string> = {};
  if (cfg.cniSocket) {
    const { startCniService } = await import('../../cni/service.ts');
    owner.add(await startCniService({ socketPath: cfg.cniSocket }));
    env.PODNET_CNI_SOCKET = cfg.cniSocket;
  } else env.PODNET_CNI_SOCKET = 'off';
  const client = owner.add(ApiClient.fromKubeconfig(cfg.kubeconfig));

  const { startNodeAgent } = await import('../node/index.ts');
  const agent = await startNodeAgent({
    client,
    nodeName: cfg.nodeName,
    clusterName: cfg.cluster,
    nodeNetns: cfg.netns,
    hostIP: cfg.hostIP,
    podCIDR: cfg.podCIDR,
    cni: { binDir: cfg.cniBinDir, confPath: cfg.cniConfPath, env, mtu: cfg.podMTU },
    stateDir: cfg.stateDir,
    clusterDNS: cfg.clusterDNS,
    heartbeatMs: cfg.heartbeatMs,
    labels: cfg.labels,
    capacity: cfg.capacity,
    log: (l) => log(`agent: ${l}`),
  });
  owner.add(agent);
  await agent.ready;

  if (cfg.dnsServer) {
    // Every node answers for the cluster domain on its LAN address; kube-dns's endpoints list
    // them all, so the Service IP works through kube-proxy from any pod.
    const { startDnsServer } = await import('../dns/index.ts');
    const dns = await startDnsServer({
      client,
      listen: [{ host: cfg.hostIP, port: 53 }],
      log: (l) => log(`dns: ${l}`),
    });
    owner.add(dns);
    log(`cluster DNS on ${cfg.hostIP}:53`);
  }

  // kube-proxy joins when proxy/ exports a `startKubeProxy` (see README.md for the contract).
  const proxy = (await import('../../proxy/index.ts')) as Record<string, unknown>;
  if (typeof proxy.startKubeProxy === 'function') {
    const kp = await (proxy.startKubeProxy as (o: unknown) => Promise<{ dispose(): unknown }>)({
      client,
      nodeName: cfg.nodeName,
      hostIP: cfg.hostIP,
      mode: cfg.proxyMode,
      clusterCIDR: cfg.clusterCIDR,
      serviceCIDR: cfg.serviceCIDR,
      log: (l: string) => log(`proxy: ${l}`),
    });
    owner.add({ dispose: () => kp.dispose() as Promise<void> | void });
    log(`kube-proxy (${cfg.proxyMode}) running`);
  } else log('kube-proxy: not available yet (proxy/ exports no startKubeProxy)');
  log('ready');
}

main().catch((e) => {
  process.stderr.write(`node process: ${(e as Error)?.stack ?? e}\n`);
  process.exit(1);
});
