/**
 * Turning FROM and TO references into addresses, namespaces and ports, against a snapshot of the
 * cluster (its nodes from cluster.json, pods and Services from the API). Pure: the CLI builds the
 * snapshot, tests build it by hand. Also answers "whose address is this?" for every hop and for
 * the backend a DNAT chose.
 */
import type { Pod, Service } from '../api/index.ts';
import { sandboxName } from '../node/names.ts';
import { PodnetError } from '../util/errors.ts';
import type { FromRef, NamedRef, ToRef } from './args.ts';
import type { AddressOwner, TraceProto, TraceSource, TraceTarget } from './types.ts';

/** A node of the running cluster (cluster.json). */
export interface ViewNode {
  name: string;
  netns: string;
  lanIP: string;
  podCIDR: string;
}

/** What trace needs to know about a running cluster. */
export interface ClusterView {
  name: string;
  proxyMode: string;
  overlay: string;
  nodes: ViewNode[];
  /** The LAN's own namespace and the address an outside client uses there (the gateway). */
  underlayNetns: string;
  lanGateway: string;
  pods: Pod[];
  services: Service[];
}

function notFound(what: string, msg: string): PodnetError {
  return new PodnetError('PN_ERR_NOT_FOUND', msg, what);
}

const key = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

function findPod(view: ClusterView, ref: NamedRef, ns: string): Pod | undefined {
  const want = `${ref.namespace ?? ns}/${ref.name}`;
  return view.pods.find((p) => key(p) === want);
}

function findService(view: ClusterView, ref: NamedRef, ns: string): Service | undefined {
  const want = `${ref.namespace ?? ns}/${ref.name}`;
  return view.services.find((s) => key(s) === want);
}

/** The pod's first IPv4 address, or a clear error when it has none yet. */
function podIP(pod: Pod, arg: string): string {
  const ip = pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip;
  if (!ip) throw notFound(arg, `pod ${key(pod)} has no IP yet (phase ${pod.status?.phase ?? 'Pending'})`);
  return ip;
}

/** Resolves FROM. */
export function resolveSource(view: ClusterView, ref: FromRef, namespace: string): TraceSource {
  if (ref.kind === 'lan') return { kind: 'lan', name: 'lan', netns: view.underlayNetns, ip: view.lanGateway };
  if (ref.kind === 'pod' || ref.kind === 'any') {
    const pod = findPod(view, ref, namespace);
    if (pod) {
      if (pod.spec?.hostNetwork) {
        const node = view.nodes.find((n) => n.name === pod.spec?.nodeName);
        if (node) return { kind: 'node', name: node.name, netns: node.netns, ip: node.lanIP };
      }
      if (!pod.spec?.nodeName) throw notFound('FROM', `pod ${key(pod)} is not scheduled to a node yet`);
      const ip = podIP(pod, 'FROM');
      const netns = sandboxName(view.name, {
        namespace: pod.metadata.namespace ?? 'default',
        name: pod.metadata.name!,
        uid: pod.metadata.uid!,
      });
      return { kind: 'pod', name: key(pod), netns, ip, node: pod.spec.nodeName };
    }
  }
  if ((ref.kind === 'node' || ref.kind === 'any') && !ref.namespace) {
    const node = view.nodes.find((n) => n.name === ref.name);
    if (node) return { kind: 'node', name: node.name, netns: node.netns, ip: node.lanIP };
  }
  const what = ref.kind === 'any' ? 'pod or node' : ref.kind;
  throw notFound(
    'FROM',
    `${what} "${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}" not found in cluster ${view.name}${ref.kind !== 'node' && !ref.namespace ? ` (namespace ${namespace})` : ''}`,
  );
}

/** Picks a Service port by number, name or (none given) the first of the protocol. */
function servicePort(svc: Service, port: number | string | undefined, proto: TraceProto) {
  const ports = (svc.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP').toLowerCase() === proto);
  if (ports.length === 0) throw notFound('TO', `service ${key(svc)} has no ${proto.toUpperCase()} port`);
  if (port === undefined) return ports[0]!;
  const p = ports.find((x) => (typeof port === 'number' ? x.port === port : x.name === port));
  if (!p)
    throw notFound(
      'TO',
      `service ${key(svc)} has no ${proto.toUpperCase()} port ${port} (ports: ${ports.map((x) => `${x.name ? `${x.name}=` : ''}${x.port}`).join(', ')})`,
    );
  return p;
}

/** Picks a pod port: a number as is, a container port name, or (none given) the first declared one. */
function podPort(pod: Pod, port: number | string | undefined, proto: TraceProto): number {
  if (typeof port === 'number') return port;
  const declared = (pod.spec?.containers ?? [])
    .flatMap((c) => c.ports ?? [])
    .filter((p) => (p.protocol ?? 'TCP').toLowerCase() === proto);
  if (port === undefined) {
    if (declared[0]) return declared[0].containerPort;
    throw new PodnetError(
      'PN_ERR_USAGE',
      `TO: pod ${key(pod)} declares no ${proto.toUpperCase()} port: give one as ${pod.metadata.name}:PORT`,
      'TO',
    );
  }
  const p = declared.find((x) => x.name === port);
  if (!p) throw notFound('TO', `pod ${key(pod)} has no container port named "${port}"`);
  return p.containerPort;
}

function needPort(port: number | string | undefined, what: string): number {
  if (typeof port === 'number') return port;
  throw new PodnetError(
    'PN_ERR_USAGE',
    port === undefined
      ? `TO: ${what} needs a port number (TARGET:PORT)`
      : `TO: ${what} needs a port number, not the name "${port}"`,
    'TO',
  );
}

/** Resolves TO (and its port). */
export function resolveTarget(
  view: ClusterView,
  ref: ToRef,
  port: number | string | undefined,
  proto: TraceProto,
  namespace: string,
): TraceTarget {
  if (ref.kind === 'ip') return targetForIP(view, ref.ip, port, proto);
  if (ref.kind === 'pod' || ref.kind === 'any') {
    const pod = findPod(view, ref, namespace);
    if (pod)
      return { kind: 'pod', name: key(pod), ip: podIP(pod, 'TO'), port: podPort(pod, port, proto), proto };
  }
  if (ref.kind === 'service' || ref.kind === 'any') {
    const svc = findService(view, ref, namespace);
    if (svc) {
      const ip = svc.spec?.clusterIP;
      if (!ip || ip === 'None')
        throw notFound('TO', `service ${key(svc)} is headless (no ClusterIP): trace one of its pods instead`);
      const sp = servicePort(svc, port, proto);
      return {
        kind: 'service',
        name: key(svc),
        ip,
        port: sp.port,
        proto,
        servicePort: `${key(svc)}:${sp.name ?? sp.port}`,
      };
    }
  }
  if ((ref.kind === 'node' || ref.kind === 'any') && !ref.namespace) {
    const node = view.nodes.find((n) => n.name === ref.name);
    if (node) return targetForIP(view, node.lanIP, needPort(port, `node ${node.name}`), proto);
  }
  const what = ref.kind === 'any' ? 'pod, service or node' : ref.kind;
  throw notFound(
    'TO',
    `${what} "${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}" not found in cluster ${view.name}${ref.kind !== 'node' && !ref.namespace ? ` (namespace ${namespace})` : ''}`,
  );
}

/** A target given as an address: classify it, so the report can say what it is. */
function targetForIP(
  view: ClusterView,
  ip: string,
  port: number | string | undefined,
  proto: TraceProto,
): TraceTarget {
  const owner = ownerOf(view, ip);
  if (owner.kind === 'service') {
    const svc = view.services.find((s) => key(s) === owner.name)!;
    const sp = servicePort(svc, port, proto);
    return {
      kind: 'service',
      name: owner.name,
      ip,
      port: sp.port,
      proto,
      servicePort: `${owner.name}:${sp.name ?? sp.port}`,
    };
  }
  if (owner.kind === 'loadbalancer' || owner.kind === 'externalip') {
    const svc = view.services.find((s) => key(s) === owner.name)!;
    const sp = servicePort(svc, port, proto);
    return {
      kind: owner.kind,
      name: owner.name,
      ip,
      port: sp.port,
      proto,
      servicePort: `${owner.name}:${sp.name ?? sp.port}`,
    };
  }
  if (owner.kind === 'pod') {
    const pod = view.pods.find((p) => key(p) === owner.name)!;
    return { kind: 'pod', name: owner.name, ip, port: podPort(pod, port, proto), proto };
  }
  const n = needPort(port, owner.kind === 'node' ? `node ${owner.name}` : `address ${ip}`);
  if (owner.kind === 'node') {
    // A node address and a NodePort: name the Service behind it.
    const svc = view.services.find((s) =>
      (s.spec?.ports ?? []).some((p) => p.nodePort === n && (p.protocol ?? 'TCP').toLowerCase() === proto),
    );
    if (svc) {
      const sp = svc.spec!.ports!.find((p) => p.nodePort === n)!;
      return {
        kind: 'nodeport',
        name: owner.name,
        ip,
        port: n,
        proto,
        servicePort: `${key(svc)}:${sp.name ?? sp.port}`,
      };
    }
    return { kind: 'node', name: owner.name, ip, port: n, proto };
  }
  return { kind: 'ip', name: ip, ip, port: n, proto };
}

/** Whose address `ip` is: a pod, a node (LAN or pod-bridge address), a Service's ClusterIP, LB or external IP. */
export function ownerOf(view: ClusterView, ip: string): AddressOwner {
  const pod = view.pods.find(
    (p) =>
      !p.spec?.hostNetwork &&
      (p.status?.podIP === ip || (p.status?.podIPs ?? []).some((x) => x.ip === ip)) &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed',
  );
  if (pod) return { kind: 'pod', name: key(pod), node: pod.spec?.nodeName };
  const node = view.nodes.find((n) => n.lanIP === ip || firstHost(n.podCIDR) === ip);
  if (node) return { kind: 'node', name: node.name };
  for (const s of view.services) {
    if (s.spec?.clusterIP === ip || (s.spec?.clusterIPs ?? []).includes(ip))
      return { kind: 'service', name: key(s) };
    if ((s.status?.loadBalancer?.ingress ?? []).some((i) => i.ip === ip))
      return { kind: 'loadbalancer', name: key(s) };
    if ((s.spec?.externalIPs ?? []).includes(ip)) return { kind: 'externalip', name: key(s) };
  }
  if (ip === view.lanGateway) return { kind: 'lan-gateway', name: 'lan' };
  return { kind: 'unknown', name: ip };
}

/** The node whose pod CIDR holds `ip`. */
export function nodeForPodIP(view: ClusterView, ip: string): ViewNode | undefined {
  return view.nodes.find((n) => cidrContains(n.podCIDR, ip));
}

function ipNum(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** Whether `cidr` contains `ip` (IPv4). */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/');
  const b = Number(bits ?? 32);
  if (b === 0) return true;
  const mask = b === 32 ? 0xffffffff : (0xffffffff << (32 - b)) >>> 0;
  return (ipNum(ip) & mask) >>> 0 === (ipNum(base!) & mask) >>> 0;
}

/** The first host address of a CIDR (the pod bridge's address on a node). */
export function firstHost(cidr: string): string {
  const n = ipNum(cidr.split('/')[0]!) + 1;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}
