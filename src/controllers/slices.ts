/**
 * Pure EndpointSlice and Endpoints building: from a Service and its namespace's pods, the slices
 * the EndpointSlice controller wants (one group per address family and resolved port set, at most
 * `maxEndpointsPerSlice` endpoints each) and the legacy Endpoints subsets. Named targetPorts are
 * resolved in each pod's containers, so pods that number a named port differently land in
 * different slices, as upstream does.
 */

import type { EndpointAddress, EndpointSubset, Pod, Service, ServicePort } from '../api/kinds/core.ts';
import type { AddressType, Endpoint, EndpointSlicePort } from '../api/kinds/discovery.ts';
import { ipFamilyOf } from '../api/netvalid.ts';
import { labelSelectorFromMap, matchesLabels } from '../api/selectors.ts';
import { isPodReady } from './podutil.ts';

/** Upstream's per-slice endpoint limit (the controller's --max-endpoints-per-slice default). */
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** One slice's worth of wanted content. */
export interface DesiredSlice {
  addressType: AddressType;
  ports: EndpointSlicePort[];
  endpoints: Endpoint[];
}

/** Does the Service select pods (has a non-empty selector and is not ExternalName)? */
export function selectsPods(svc: Service): boolean {
  return svc.spec?.type !== 'ExternalName' && Object.keys(svc.spec?.selector ?? {}).length > 0;
}

/** Pods of the Service's namespace that its selector matches. */
export function selectedPods(svc: Service, pods: readonly Pod[]): Pod[] {
  if (!selectsPods(svc)) return [];
  const reqs = labelSelectorFromMap(svc.spec!.selector);
  return pods.filter(
    (p) => p.metadata.namespace === svc.metadata.namespace && matchesLabels(reqs, p.metadata.labels),
  );
}

/**
 * The endpoint ports of `svc` for `pod`: numeric targetPorts as is, named ones looked up among
 * the pod's container ports with the same protocol. Service ports whose name the pod does not
 * define are left out for that pod.
 */
export function resolvePorts(svc: Service, pod: Pod): EndpointSlicePort[] {
  const out: EndpointSlicePort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = resolveTargetPort(sp, pod);
    if (port === undefined) continue;
    out.push({
      name: sp.name ?? '',
      port,
      protocol: sp.protocol ?? 'TCP',
      ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
    });
  }
  return out;
}

function resolveTargetPort(sp: ServicePort, pod: Pod): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  const proto = sp.protocol ?? 'TCP';
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const cp of c.ports ?? [])
      if (cp.name === tp && (cp.protocol ?? 'TCP') === proto) return cp.containerPort;
  }
  return undefined;
}

/** A stable key for a port list (order-insensitive). */
export function portsKey(ports: readonly EndpointSlicePort[]): string {
  return ports
    .map((p) => `${p.name ?? ''}/${p.protocol ?? 'TCP'}/${p.port}/${p.appProtocol ?? ''}`)
    .sort()
    .join(',');
}

/** The pod's IP of one family (from status.podIPs, falling back to status.podIP). */
export function podIPOf(pod: Pod, family: 'IPv4' | 'IPv6'): string | undefined {
  const ips = pod.status?.podIPs?.length
    ? pod.status.podIPs.map((x) => x.ip)
    : pod.status?.podIP
      ? [pod.status.podIP]
      : [];
  return ips.find((ip) => ipFamilyOf(ip) === family);
}

function isFinished(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** The families a Service's slices carry (its ipFamilies, IPv4 when unset). */
export function serviceFamilies(svc: Service): Array<'IPv4' | 'IPv6'> {
  const f = svc.spec?.ipFamilies?.length ? svc.spec.ipFamilies : ['IPv4' as const];
  return [...new Set(f)];
}

/** Node label carrying the zone (copied to `endpoint.zone` for topology-aware routing). */
export const LABEL_ZONE = 'topology.kubernetes.io/zone';

/** The Endpoint a pod contributes for one address (`zone` from its node, when known). */
export function podToEndpoint(svc: Service, pod: Pod, ip: string, zone?: string): Endpoint {
  const ready = isPodReady(pod);
  const terminating = !!pod.metadata.deletionTimestamp;
  const publish = svc.spec?.publishNotReadyAddresses === true;
  const ep: Endpoint = {
    addresses: [ip],
    conditions: {
      ready: publish || (ready && !terminating),
      serving: publish || ready,
      terminating,
    },
    targetRef: {
      kind: 'Pod',
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      uid: pod.metadata.uid,
    },
  };
  if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
  if (pod.spec?.hostname && pod.spec.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
  if (zone) ep.zone = zone;
  return ep;
}

/**
 * The slices wanted for `svc`: pods with an IP of the family, grouped by family and resolved
 * ports, sorted by address and cut into chunks of `maxPerSlice`. Finished pods are left out;
 * terminating ones stay with conditions saying so. A selecting Service with no endpoints gets
 * one empty slice per family (so consumers can tell "no endpoints" from "not synced").
 */
export function buildDesiredSlices(
  svc: Service,
  pods: readonly Pod[],
  maxPerSlice = MAX_ENDPOINTS_PER_SLICE,
  zoneOf: (nodeName: string) => string | undefined = () => undefined,
): DesiredSlice[] {
  const groups = new Map<string, DesiredSlice>();
  const families = serviceFamilies(svc);
  for (const pod of selectedPods(svc, pods)) {
    if (isFinished(pod)) continue;
    const ports = resolvePorts(svc, pod);
    for (const fam of families) {
      const ip = podIPOf(pod, fam);
      if (!ip) continue;
      const key = `${fam}|${portsKey(ports)}`;
      let g = groups.get(key);
      if (!g) {
        g = { addressType: fam, ports, endpoints: [] };
        groups.set(key, g);
      }
      g.endpoints.push(
        podToEndpoint(svc, pod, ip, pod.spec?.nodeName ? zoneOf(pod.spec.nodeName) : undefined),
      );
    }
  }
  const out: DesiredSlice[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    g.endpoints.sort((a, b) => compareIP(a.addresses[0]!, b.addresses[0]!));
    for (let i = 0; i < g.endpoints.length; i += maxPerSlice) {
      out.push({
        addressType: g.addressType,
        ports: g.ports,
        endpoints: g.endpoints.slice(i, i + maxPerSlice),
      });
    }
  }
  if (out.length === 0 && selectsPods(svc)) {
    for (const fam of families) out.push({ addressType: fam, ports: [], endpoints: [] });
  }
  return out;
}

function compareIP(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  if (pa.length === 4 && pb.length === 4) {
    for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
    return 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The legacy Endpoints subsets of `svc`: ready pods under `addresses`, others under
 * `notReadyAddresses` (all under `addresses` with publishNotReadyAddresses), one subset per
 * resolved port set. Terminating pods are left out unless publishNotReadyAddresses, as upstream's
 * endpoints controller does. Only the primary family is listed.
 */
export function buildEndpointSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const fam = serviceFamilies(svc)[0]!;
  const publish = svc.spec?.publishNotReadyAddresses === true;
  const groups = new Map<string, EndpointSubset>();
  for (const pod of selectedPods(svc, pods)) {
    if (isFinished(pod)) continue;
    if (pod.metadata.deletionTimestamp && !publish) continue;
    const ip = podIPOf(pod, fam);
    if (!ip) continue;
    const ports = resolvePorts(svc, pod);
    const key = portsKey(ports);
    let g = groups.get(key);
    if (!g) {
      g = {
        ports: ports.map((p) => ({
          name: p.name || undefined,
          port: p.port!,
          protocol: p.protocol,
          ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
        })),
      };
      groups.set(key, g);
    }
    const addr: EndpointAddress = {
      ip,
      targetRef: {
        kind: 'Pod',
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
      },
    };
    if (pod.spec?.nodeName) addr.nodeName = pod.spec.nodeName;
    if (pod.spec?.hostname && pod.spec.subdomain === svc.metadata.name) addr.hostname = pod.spec.hostname;
    if (publish || isPodReady(pod)) g.addresses = [...(g.addresses ?? []), addr];
    else g.notReadyAddresses = [...(g.notReadyAddresses ?? []), addr];
  }
  const out: EndpointSubset[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    g.addresses?.sort((a, b) => compareIP(a.ip, b.ip));
    g.notReadyAddresses?.sort((a, b) => compareIP(a.ip, b.ip));
    for (const p of g.ports ?? []) if (p.name === undefined) delete p.name;
    out.push(g);
  }
  return out;
}
