/**
 * src/trace: `podnet trace` — the path one packet takes through a running cluster. The public
 * face: `loadClusterView` (a snapshot of nodes, pods and Services), `traceCluster` (resolve FROM
 * and TO, send one traced probe when we can, walk the namespaces, build the report) and
 * `formatReport` (text for people; the report itself is the `--json` output).
 */
import type { Pod, Service } from '../api/index.ts';
import { findResource } from '../api/resources.ts';
import type { ApiClient } from '../client/index.ts';
import type { ClusterStatusFile } from '../cluster/run.ts';
import type { Exec } from '../kernel/exec.ts';
import { PodnetError } from '../util/errors.ts';
import type { TraceArgs } from './args.ts';
import { captureKernelTrace, ExecTraceKernel } from './kernel.ts';
import { type ClusterView, firstHost, resolveSource, resolveTarget } from './resolve.ts';
import type { TraceReport } from './types.ts';
import { type KernelCapture, type TraceKernel, walk } from './walk.ts';

export { type FromRef, parseTraceArgs, type ToRef, type TraceArgs } from './args.ts';
export { parseConntrack } from './conntrack.ts';
export { formatReport } from './format.ts';
export { captureKernelTrace, ExecTraceKernel, traceTableScript } from './kernel.ts';
export { type ClusterView, ownerOf, resolveSource, resolveTarget, type ViewNode } from './resolve.ts';
export type * from './types.ts';
export { type KernelCapture, type TraceKernel, walk } from './walk.ts';

/** The LAN namespace of a cluster (as src/cluster names it). */
export function underlayNetnsOf(cluster: string): string {
  return `pn-${cluster}-underlay`;
}

/**
 * A snapshot of a running cluster: nodes from its status file, pods and Services from the API,
 * the LAN gateway address from the LAN namespace (`pn0`).
 */
export async function loadClusterView(
  status: ClusterStatusFile,
  client: ApiClient,
  kernel: TraceKernel = new ExecTraceKernel(),
): Promise<ClusterView> {
  const [pods, services] = await Promise.all([
    client.listAll<Pod>(findResource('', 'v1', 'pods')!, undefined),
    client.listAll<Service>(findResource('', 'v1', 'services')!, undefined),
  ]);
  const underlayNetns = underlayNetnsOf(status.name);
  const gw = (await kernel.addresses(underlayNetns)).find((a) => a.dev === 'pn0');
  return {
    name: status.name,
    proxyMode: status.proxyMode,
    overlay: status.overlay,
    nodes: status.nodes,
    underlayNetns,
    lanGateway: gw?.ip ?? '',
    pods: pods.items,
    services: services.items,
  };
}

/** Options of traceCluster. */
export interface TraceClusterOptions {
  view: ClusterView;
  args: TraceArgs;
  /** Namespace for pod and Service names without one. */
  namespace: string;
  kernel?: TraceKernel;
  exec?: Exec;
  /** Whether kernel tracing may be tried (default: running as root). */
  canTrace?: boolean;
  /** Fixed probe source port (tests); random otherwise. */
  sport?: number;
  /** Replaces the probe + kernel capture (tests). */
  capture?: (o: Parameters<typeof captureKernelTrace>[0]) => Promise<KernelCapture>;
}

/** Traces one packet from `args.from` to `args.to`. */
export async function traceCluster(o: TraceClusterOptions): Promise<TraceReport> {
  const { view, args } = o;
  const kernel = o.kernel ?? new ExecTraceKernel(o.exec);
  const from = resolveSource(view, args.from, o.namespace);
  const to = resolveTarget(view, args.to, args.port, args.proto, o.namespace);
  const warnings: string[] = [];
  if (from.kind === 'lan' && !from.ip)
    throw new PodnetError(
      'PN_ERR_KERNEL',
      `FROM lan: the LAN namespace ${view.underlayNetns} has no pn0 address`,
      'FROM',
    );
  if (from.kind === 'node') {
    // A node has several addresses: the kernel picks the source by route (cni0's for its own pods).
    const r = await kernel.routeGet(from.netns, { dst: to.ip });
    if (r.prefsrc) from.ip = r.prefsrc;
  }

  let capture: KernelCapture | undefined;
  const canTrace = o.canTrace ?? process.getuid?.() === 0;
  if (args.method !== 'interpreter') {
    if (!canTrace) {
      if (args.method === 'kernel')
        throw new PodnetError(
          'PN_ERR_NOT_ROOT',
          '--method kernel: tracing in the kernel needs root',
          'method',
        );
      warnings.push('not root: answered by the rule interpreter, no packet was sent');
    } else {
      try {
        capture = await (o.capture ?? captureKernelTrace)({
          nodeNetns: view.nodes.map((n) => n.netns),
          markSources: (ns) => [
            from.ip,
            ...view.nodes
              .filter((n) => n.netns !== ns)
              .flatMap((n) => [n.lanIP, firstHost(n.podCIDR), n.podCIDR.split('/')[0]!]),
          ],
          fromNetns: from.netns,
          fromIP: from.ip,
          bindSource: from.kind !== 'pod',
          dst: to.ip,
          dport: to.port,
          proto: to.proto,
          proxyMode: view.proxyMode,
          ...(o.sport ? { sport: o.sport } : {}),
          ...(o.exec ? { exec: o.exec } : {}),
        });
      } catch (e) {
        if (args.method === 'kernel')
          throw new PodnetError('PN_ERR_KERNEL', `kernel trace failed: ${(e as Error).message}`, 'method');
        warnings.push(`kernel trace unavailable (${(e as Error).message}): answered by the rule interpreter`);
      }
    }
  }
  const w = await walk({ view, from, to, kernel, ...(capture ? { capture } : {}) });
  const report: TraceReport = {
    cluster: view.name,
    proxyMode: view.proxyMode,
    overlay: view.overlay,
    method: capture ? 'kernel' : 'interpreter',
    from,
    to,
    hops: w.hops,
    warnings: [...warnings, ...w.warnings],
  };
  if (capture) {
    report.probe = { sport: capture.sport, result: capture.result };
    if (capture.detail) report.probe.detail = capture.detail;
    if (![...capture.events.values()].some((e) => e.length))
      report.warnings.push(
        'the kernel reported no trace events: the hops show the interpreter where it could',
      );
  }
  if (w.backend) report.backend = w.backend;
  if (w.agreement) report.agreement = w.agreement;
  return report;
}
