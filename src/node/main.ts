/**
 * The node agent as a process: `node --import tsx src/node/main.ts --kubeconfig K --node NAME
 * --cluster C --node-netns NS --host-ip IP --state-dir DIR [...]`. It runs until SIGTERM/SIGINT,
 * then stops its containers (sandboxes stay for the next run to adopt). For running one agent
 * per node as separate processes; in-process callers use startNodeAgent directly.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient, loadKubeconfig } from '../client/index.ts';
import { startNodeAgent } from './agent.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Parses the command line into agent options (exported for tests). */
export function parseAgentArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      node: { type: 'string' },
      cluster: { type: 'string' },
      'node-netns': { type: 'string' },
      'host-ip': { type: 'string' },
      'pod-cidr': { type: 'string' },
      'state-dir': { type: 'string' },
      'cni-bin-dir': { type: 'string' },
      'cni-conf': { type: 'string' },
      'cni-types': { type: 'string' },
      'cluster-dns': { type: 'string' },
      'cluster-domain': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
    },
    strict: true,
  });
  for (const k of ['kubeconfig', 'node', 'cluster', 'node-netns', 'host-ip', 'state-dir'] as const)
    if (!values[k]) throw new Error(`--${k}: required`);
  let types: { bridge?: string; ipam?: string } | undefined;
  if (values['cni-types']) {
    const [bridge, ipam] = values['cni-types'].split(',');
    if (!bridge || !ipam) throw new Error('--cni-types: want BRIDGE,IPAM (e.g. bridge,host-local)');
    types = { bridge, ipam };
  }
  const stateDir = resolve(values['state-dir']!);
  return {
    kubeconfig: values.kubeconfig!,
    nodeName: values.node!,
    clusterName: values.cluster!,
    nodeNetns: values['node-netns']!,
    hostIP: values['host-ip']!,
    podCIDR: values['pod-cidr'],
    stateDir,
    cni: {
      binDir: values['cni-bin-dir'] ?? join(ROOT, 'cni', 'bin'),
      confPath: values['cni-conf'] ?? join(stateDir, 'cni', '10-podnet.conflist'),
      types,
    },
    clusterDNS: values['cluster-dns'],
    clusterDomain: values['cluster-domain'],
    heartbeatMs: values['heartbeat-ms'] ? Number(values['heartbeat-ms']) : undefined,
  };
}

async function run(): Promise<void> {
  const { kubeconfig, ...o } = parseAgentArgs(process.argv.slice(2));
  const client = new ApiClient({
    ...loadKubeconfig(kubeconfig),
    userAgent: `podnet-node/${o.nodeName}`,
  });
  const agent = await startNodeAgent({
    ...o,
    client,
    log: (l) => process.stderr.write(`${new Date().toISOString()} ${l}\n`),
  });
  const stop = async () => {
    await agent.dispose();
    await client.dispose();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  run().catch((e) => {
    process.stderr.write(`podnet node agent: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
