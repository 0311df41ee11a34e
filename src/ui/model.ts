/**
 * The view-model of `podnet ui`: a pure function from the API objects an informer cache holds
 * (Nodes, Pods, Services, EndpointSlices, Ingresses) to the graph the page draws — nodes with
 * their LAN address, pod bridge and podCIDR; pods inside their node; Services with lines to the
 * pods (or nodes) behind their endpoints; Ingress routes (host + path → Service). Nothing here
 * touches the network, so every rule of the picture is unit-tested.
 */
import type { Node, Pod, Service } from '../api/kinds/core.ts';
import type { EndpointSlice } from '../api/kinds/discovery.ts';
import type { Ingress } from '../api/kinds/networking.ts';

/** The name of the pod bridge on every node (the node agent's CNI conflist default). */
export const POD_BRIDGE = 'cni0';
/** Label naming the Service an EndpointSlice belongs to. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** A pod as drawn: where it runs and whether it serves. */
export interface UiPod {
  /** `namespace/name`, the key the page and the network-details endpoint use. */
  id: string;
  namespace: string;
  name: string;
  /** Its IP (undefined until the node agent reports it). */
  ip?: string;
  nodeName?: string;
  phase: string;
  ready: boolean;
  /** Being deleted (deletionTimestamp set). */
  terminating: boolean;
  /** Runs in its node's namespace (no sandbox of its own). */
  hostNetwork: boolean;
}

/** A node as drawn: its LAN side, its pod bridge and the pods scheduled to it. */
export interface UiNode {
  name: string;
  /** InternalIP (the node's eth0 on the LAN). */
  lanIP?: string;
  podCIDR?: string;
  /** The pod bridge and its address: the first address of the podCIDR, the pods' gateway. */
  bridge: { name: string; ip?: string };
  ready: boolean;
  pods: UiPod[];
}

/** Where an endpoint address leads. */
export type UiEndpointTarget = { kind: 'pod'; id: string } | { kind: 'node'; name: string };

/** One endpoint address of a Service. */
export interface UiEndpoint {
  ip: string;
  ready: boolean;
  target?: UiEndpointTarget;
}

/** A Service as drawn: its addresses and its endpoints. */
export interface UiService {
  /** `namespace/name`. */
  id: string;
  namespace: string;
  name: string;
  type: string;
  clusterIP?: string;
  /** `port/PROTO→target`, plus `:nodePort` for NodePort and LoadBalancer Services. */
  ports: string[];
  /** LoadBalancer ingress IPs and external IPs. */
  externalIPs: string[];
  endpoints: UiEndpoint[];
}

/** One Ingress route: a host and path sent to a Service port. */
export interface UiIngressRoute {
  /** `namespace/ingress#index`, unique per route. */
  id: string;
  /** `namespace/name` of the Ingress. */
  ingress: string;
  /** The host, or `*` for every host. */
  host: string;
  path: string;
  pathType: string;
  /** `namespace/name` of the backend Service (undefined for a resource backend). */
  serviceId?: string;
  /** The backend port, by number or name. */
  port?: string;
  /** TLS is configured for this host. */
  tls: boolean;
}

/** Everything the page draws. */
export interface UiGraph {
  cluster: string;
  nodes: UiNode[];
  /** Pods not (yet) on a known node. */
  pendingPods: UiPod[];
  services: UiService[];
  routes: UiIngressRoute[];
}

/** The objects the graph is built from (an informer cache's lists). */
export interface UiObjects {
  nodes: readonly Node[];
  pods: readonly Pod[];
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  ingresses: readonly Ingress[];
}

/** Orders names as people do: node-2 before node-10. */
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** The first host address of an IPv4 CIDR (the bridge's gateway address), or undefined. */
export function gatewayOf(cidr: string | undefined): string | undefined {
  const m = cidr ? /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr) : null;
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 30) return undefined;
  const n = octets.reduce((acc, o) => acc * 256 + o, 0);
  const block = 2 ** (32 - bits);
  const gw = Math.floor(n / block) * block + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(gw / 2 ** s) % 256).join('.');
}

function nodeReady(n: Node): boolean {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

function toPod(p: Pod): UiPod {
  const ns = p.metadata.namespace ?? 'default';
  const name = p.metadata.name ?? '';
  return {
    id: `${ns}/${name}`,
    namespace: ns,
    name,
    ip: p.status?.podIP || p.status?.podIPs?.[0]?.ip || undefined,
    nodeName: p.spec?.nodeName || undefined,
    phase: p.status?.phase ?? 'Pending',
    ready: p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    terminating: Boolean(p.metadata.deletionTimestamp),
    hostNetwork: Boolean(p.spec?.hostNetwork),
  };
}

function portText(s: Service): string[] {
  const withNodePort = s.spec?.type === 'NodePort' || s.spec?.type === 'LoadBalancer';
  return (s.spec?.ports ?? []).map((p) => {
    const target = p.targetPort ?? p.port;
    let t = `${p.port}/${p.protocol ?? 'TCP'}`;
    if (String(target) !== String(p.port)) t += `→${target}`;
    if (withNodePort && p.nodePort) t += ` :${p.nodePort}`;
    return t;
  });
}

/**
 * Builds the graph. Pods on a node the API does not know (or not yet scheduled) go to
 * `pendingPods`; endpoints lead to a pod by their targetRef, else by IP (a pod's, then a node's
 * LAN address, as for `default/kubernetes` and the cluster DNS). Everything is sorted so the
 * picture is stable from one update to the next.
 */
export function buildGraph(cluster: string, o: UiObjects): UiGraph {
  const nodes: UiNode[] = [...o.nodes]
    .sort((a, b) => byName(a.metadata.name ?? '', b.metadata.name ?? ''))
    .map((n) => {
      const podCIDR = n.spec?.podCIDR || n.spec?.podCIDRs?.[0] || undefined;
      return {
        name: n.metadata.name ?? '',
        lanIP:
          n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ??
          n.metadata.annotations?.['podnet.io/lan-ip'],
        podCIDR,
        bridge: { name: POD_BRIDGE, ip: gatewayOf(podCIDR) },
        ready: nodeReady(n),
        pods: [],
      };
    });
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const pods = [...o.pods].map(toPod).sort((a, b) => byName(a.id, b.id));
  const pendingPods: UiPod[] = [];
  for (const p of pods) {
    const n = p.nodeName ? nodeByName.get(p.nodeName) : undefined;
    if (n) n.pods.push(p);
    else pendingPods.push(p);
  }

  const podIds = new Set(pods.map((p) => p.id));
  // hostNetwork pods share their node's IP: an IP leads to a pod only when it is the pod's own.
  const podByIP = new Map(pods.filter((p) => p.ip && !p.hostNetwork).map((p) => [p.ip!, p.id]));
  const nodeByIP = new Map(nodes.filter((n) => n.lanIP).map((n) => [n.lanIP!, n.name]));
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of o.endpointSlices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc || (s.addressType && s.addressType !== 'IPv4')) continue;
    const key = `${s.metadata.namespace ?? 'default'}/${svc}`;
    slicesBySvc.set(key, [...(slicesBySvc.get(key) ?? []), s]);
  }

  const services: UiService[] = [...o.services]
    .map((s) => {
      const ns = s.metadata.namespace ?? 'default';
      const id = `${ns}/${s.metadata.name ?? ''}`;
      const seen = new Set<string>();
      const endpoints: UiEndpoint[] = [];
      for (const slice of slicesBySvc.get(id) ?? []) {
        for (const ep of slice.endpoints ?? []) {
          const ref = ep.targetRef;
          for (const ip of ep.addresses ?? []) {
            if (seen.has(ip)) continue;
            seen.add(ip);
            let target: UiEndpointTarget | undefined;
            const refId = ref?.kind === 'Pod' && ref.name ? `${ref.namespace ?? ns}/${ref.name}` : undefined;
            if (refId && podIds.has(refId)) target = { kind: 'pod', id: refId };
            else if (podByIP.has(ip)) target = { kind: 'pod', id: podByIP.get(ip)! };
            else if (nodeByIP.has(ip)) target = { kind: 'node', name: nodeByIP.get(ip)! };
            // A missing `ready` means ready (discovery/v1 semantics).
            endpoints.push({ ip, ready: ep.conditions?.ready !== false, target });
          }
        }
      }
      endpoints.sort((a, b) => byName(a.ip, b.ip));
      const externalIPs = [
        ...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean),
        ...(s.spec?.externalIPs ?? []),
      ];
      return {
        id,
        namespace: ns,
        name: s.metadata.name ?? '',
        type: s.spec?.type ?? 'ClusterIP',
        // Headless Services keep `None`, which the page shows as such.
        clusterIP: s.spec?.clusterIP || undefined,
        ports: portText(s),
        externalIPs,
        endpoints,
      };
    })
    .sort((a, b) => byName(a.id, b.id));

  const routes: UiIngressRoute[] = [];
  for (const ing of [...o.ingresses].sort((a, b) =>
    byName(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`),
  )) {
    const ns = ing.metadata.namespace ?? 'default';
    const ingId = `${ns}/${ing.metadata.name ?? ''}`;
    const tlsHosts = new Set((ing.spec?.tls ?? []).flatMap((t) => t.hosts ?? []));
    const push = (
      host: string,
      path: string,
      pathType: string,
      b: NonNullable<Ingress['spec']>['defaultBackend'],
    ) => {
      const port = b?.service?.port?.number ?? b?.service?.port?.name;
      routes.push({
        id: `${ingId}#${routes.filter((r) => r.ingress === ingId).length}`,
        ingress: ingId,
        host,
        path,
        pathType,
        serviceId: b?.service?.name ? `${ns}/${b.service.name}` : undefined,
        port: port === undefined ? undefined : String(port),
        tls: host !== '*' && tlsHosts.has(host),
      });
    };
    for (const rule of ing.spec?.rules ?? []) {
      const host = rule.host || '*';
      for (const p of rule.http?.paths ?? []) push(host, p.path || '/', p.pathType, p.backend);
    }
    if (ing.spec?.defaultBackend) push('*', '/', 'default backend', ing.spec.defaultBackend);
  }

  return { cluster, nodes, pendingPods, services, routes };
}
