/**
 * The cluster DNS as its own process, for bring-up scripts:
 *
 *   node --import tsx src/dns/main.ts --kubeconfig PATH --listen 10.96.0.10:53 [--listen …]
 *     [--cluster-domain cluster.local] [--ttl 5] [--pods verified|insecure|disabled] [--upstream IP[:PORT] …]
 *
 * It prints one line when serving, and exits 0 on SIGTERM/SIGINT after closing its sockets and
 * watches (or when its parent's IPC channel closes, if it has one). Bad flags print one
 * `error:` line and exit 2.
 */
import { parseArgs } from 'node:util';
import { ApiClient } from '../client/rest.ts';
import type { ListenAddress } from './server.ts';
import { startDnsServer } from './server.ts';
import type { PodRecordMode } from './zone.ts';

/** Parses `host:port` or `[v6]:port` (port 53 by default). */
function parseListen(s: string): ListenAddress {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`--listen: "${s}" is not host:port (use [v6]:port for IPv6)`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 53 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      listen: { type: 'string', multiple: true },
      'cluster-domain': { type: 'string' },
      ttl: { type: 'string' },
      pods: { type: 'string' },
      upstream: { type: 'string', multiple: true },
    },
    strict: true,
  });
  if (!values.kubeconfig) throw new Error('--kubeconfig: required');
  if (values.pods && !['verified', 'insecure', 'disabled'].includes(values.pods))
    throw new Error(`--pods: "${values.pods}" is not one of verified, insecure, disabled`);
  const client = new ApiClient(values.kubeconfig);
  const server = await startDnsServer({
    client,
    listen: (values.listen ?? ['0.0.0.0:53']).map(parseListen),
    clusterDomain: values['cluster-domain'],
    ttl: values.ttl !== undefined ? Number(values.ttl) : undefined,
    pods: values.pods as PodRecordMode | undefined,
    upstream: values.upstream,
    log: (l) => console.error(l),
  });
  console.log(
    `serving ${server.snapshot()?.zone} on ${server.addresses.map((a) => `${a.host}:${a.port}`).join(' ')}`,
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.dispose();
    client.dispose();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  if (process.channel) process.on('disconnect', () => void stop());
}

main().catch((e) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(2);
});
