/**
 * Derives EndpointInfo lists from the EndpointSlices of a Service, and picks which endpoints each
 * traffic policy uses (upstream's CategorizeEndpoints): ready endpoints; if none are ready, the
 * terminating ones that are still serving. Local-policy traffic uses only this node's endpoints.
 */
import { isIPv4, usesClusterEndpoints, usesLocalEndpoints } from './service.ts';
import type { EndpointInfo, EndpointSliceObject, ServicePortInfo } from './types.ts';

/**
 * Endpoints for one service port across all of the service's slices. The service port is matched
 * to a slice port by name (and protocol): the EndpointSlice controller has already resolved named
 * targetPorts per pod, so a slice port named like the service port carries the number to dial.
 * Duplicates (the same ip:port in two slices, e.g. mid-handover) are kept once, ready winning.
 */
export function endpointsForServicePort(
  svcPort: Pick<ServicePortInfo, 'name' | 'protocol'>,
  slices: Iterable<EndpointSliceObject>,
  nodeName: string,
): EndpointInfo[] {
  const byEndpoint = new Map<string, EndpointInfo>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    const port = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === svcPort.name.port && (p.protocol ?? 'TCP') === svcPort.protocol,
    );
    if (!port?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses?.[0];
      if (!isIPv4(ip)) continue;
      // Upstream: a nil ready condition means ready; nil serving follows ready; nil terminating is false.
      const ready = ep.conditions?.ready ?? true;
      const serving = ep.conditions?.serving ?? ready;
      const terminating = ep.conditions?.terminating ?? false;
      const endpoint = `${ip}:${port.port}`;
      const info: EndpointInfo = {
        ip,
        port: port.port,
        endpoint,
        ready,
        serving,
        terminating,
        nodeName: ep.nodeName,
        isLocal: !!ep.nodeName && ep.nodeName === nodeName,
      };
      const prev = byEndpoint.get(endpoint);
      if (!prev || (!prev.ready && ready)) byEndpoint.set(endpoint, info);
    }
  }
  return [...byEndpoint.values()].sort(compareEndpoints);
}

/** Stable order: by IP numerically, then port (so renders are deterministic). */
export function compareEndpoints(a: EndpointInfo, b: EndpointInfo): number {
  const na = ipToNumber(a.ip);
  const nb = ipToNumber(b.ip);
  return na !== nb ? na - nb : a.port - b.port;
}

/** An IPv4 address as an unsigned 32-bit number. */
export function ipToNumber(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

/** Endpoints split by the traffic policy that uses them. */
export interface CategorizedEndpoints {
  /** Used by Cluster-policy traffic (empty when the service uses none). */
  clusterEndpoints: EndpointInfo[];
  /** Used by Local-policy traffic (empty when the service uses none). */
  localEndpoints: EndpointInfo[];
  /** Union of the two: every endpoint that needs a per-endpoint chain. */
  allReachableEndpoints: EndpointInfo[];
  /** Whether the service has any usable endpoint anywhere in the cluster. */
  hasAnyEndpoints: boolean;
}

function usable(eps: EndpointInfo[], pred: (e: EndpointInfo) => boolean): EndpointInfo[] {
  const ready = eps.filter((e) => e.ready && pred(e));
  if (ready.length > 0) return ready;
  // Fall back to terminating-but-serving endpoints so connections drain gracefully.
  return eps.filter((e) => e.serving && e.terminating && pred(e));
}

/** Upstream's CategorizeEndpoints (without topology hints). */
export function categorizeEndpoints(svc: ServicePortInfo, endpoints: EndpointInfo[]): CategorizedEndpoints {
  let clusterEndpoints: EndpointInfo[] = [];
  let localEndpoints: EndpointInfo[] = [];
  let hasAnyEndpoints = false;
  if (usesClusterEndpoints(svc)) {
    clusterEndpoints = usable(endpoints, () => true);
    hasAnyEndpoints = clusterEndpoints.length > 0;
  }
  if (!usesLocalEndpoints(svc)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }
  localEndpoints = usable(endpoints, (e) => e.isLocal);
  if (!hasAnyEndpoints) hasAnyEndpoints = usable(endpoints, () => true).length > 0;
  if (!usesClusterEndpoints(svc)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: localEndpoints, hasAnyEndpoints };
  }
  const seen = new Set(clusterEndpoints.map((e) => e.endpoint));
  const all = [...clusterEndpoints, ...localEndpoints.filter((e) => !seen.has(e.endpoint))].sort(
    compareEndpoints,
  );
  return { clusterEndpoints, localEndpoints, allReachableEndpoints: all, hasAnyEndpoints };
}

/**
 * The endpoints map contribution of one Service's slices: one entry per (slice port name,
 * protocol), keyed like ServicePortInfo.key (`ns/name[:port]/PROTO`), so it can be built from
 * EndpointSlices alone, before or without the Service.
 */
export function endpointsFromSlices(
  namespace: string,
  serviceName: string,
  slices: Iterable<EndpointSliceObject>,
  nodeName: string,
): Map<string, EndpointInfo[]> {
  const all = [...slices];
  const ports = new Map<string, { port: string; protocol: 'TCP' | 'UDP' | 'SCTP' }>();
  for (const s of all) {
    if (s.addressType !== 'IPv4') continue;
    for (const p of s.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      ports.set(`${p.name ?? ''}/${protocol}`, { port: p.name ?? '', protocol });
    }
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const { port, protocol } of ports.values()) {
    const eps = endpointsForServicePort(
      { name: { namespace, name: serviceName, port, protocol }, protocol },
      all,
      nodeName,
    );
    if (eps.length === 0) continue;
    const nameString = `${namespace}/${serviceName}${port ? `:${port}` : ''}`;
    out.set(`${nameString}/${protocol}`, eps);
  }
  return out;
}
