/**
 * The decision core of the userspace (in-process) proxy, after upstream's old
 * `userspace.LoadBalancerRR`: for one Service port, which endpoint gets the next connection or
 * UDP flow. Pure and clock-injected so it is tested without sockets: round-robin over the
 * endpoints the traffic policy allows, ClientIP session affinity with its timeout, and the
 * `exclude` set a dialer passes when retrying after a refused connect.
 */
import { categorizeEndpoints } from '../model/endpoints.ts';
import type { EndpointInfo, ServicePortInfo } from '../model/types.ts';
import { inCidr } from '../trace/types.ts';

/** Which listener a connection arrived on: the ClusterIP one, or NodePort/externalIP/LB. */
export type TrafficKind = 'internal' | 'external';

/** Settings shared by every balancer of one proxy. */
export interface BalancerConfig {
  /** Pod CIDR: sources inside it count as "in the cluster" (eTP Local short-circuit). */
  clusterCIDR?: string;
  /** The node's own addresses (also "in the cluster", as upstream treats node-originated traffic). */
  nodeIPs: string[];
}

/** Why no endpoint was chosen: the service has none at all, or none this traffic may use. */
export type NoEndpoint = 'no-endpoints' | 'no-local-endpoints';

interface AffinityEntry {
  endpoint: string;
  lastUsedMs: number;
}

/** Round-robin + affinity state for one Service port. */
export class ServiceBalancer {
  private cluster: EndpointInfo[] = [];
  private local: EndpointInfo[] = [];
  private hasAny = false;
  private rr = 0;
  private readonly affinity = new Map<string, AffinityEntry>();

  constructor(
    private svc: ServicePortInfo,
    private readonly cfg: BalancerConfig,
  ) {}

  /** The service port this balancer serves (as of the last update). */
  get service(): ServicePortInfo {
    return this.svc;
  }

  /**
   * Takes a new service record and endpoint list. Round-robin position and affinity entries
   * survive; an affinity entry whose endpoint went away is forgotten on its next use.
   */
  update(svc: ServicePortInfo, endpoints: EndpointInfo[]): void {
    this.svc = svc;
    const c = categorizeEndpoints(svc, endpoints);
    this.cluster = c.clusterEndpoints;
    this.local = c.localEndpoints;
    this.hasAny = c.hasAnyEndpoints;
  }

  /** Whether any endpoint can serve the service anywhere (else: REJECT). */
  get hasEndpoints(): boolean {
    return this.hasAny;
  }

  /** Endpoints usable by traffic of `kind` from `clientIP`, in stable order. */
  candidates(kind: TrafficKind, clientIP: string): EndpointInfo[] {
    const s = this.svc;
    if (kind === 'internal') return s.internalPolicyLocal ? this.local : this.cluster;
    if (!s.externalPolicyLocal) return this.cluster;
    // Upstream short-circuits pods and the node itself to all endpoints even under Local policy:
    // their traffic never left the cluster, so there is no client address to preserve.
    const inCluster =
      this.cfg.nodeIPs.includes(clientIP) ||
      inCidr(clientIP, '127.0.0.0/8') ||
      (!!this.cfg.clusterCIDR && inCidr(clientIP, this.cfg.clusterCIDR));
    return inCluster ? (this.cluster.length ? this.cluster : this.local) : this.local;
  }

  /** The endpoint `clientIP` is pinned to at `nowMs`, if affinity applies and has not expired. */
  pinned(kind: TrafficKind, clientIP: string, nowMs: number): EndpointInfo | undefined {
    if (this.svc.sessionAffinity.type !== 'ClientIP') return undefined;
    const e = this.affinity.get(clientIP);
    if (!e) return undefined;
    if (nowMs - e.lastUsedMs >= this.svc.sessionAffinity.timeoutSeconds * 1000) {
      this.affinity.delete(clientIP);
      return undefined;
    }
    return this.candidates(kind, clientIP).find((x) => x.endpoint === e.endpoint);
  }

  /**
   * Chooses the endpoint for a new connection/flow, or says why there is none. `exclude` holds
   * endpoints that already refused this connection (the dialer retries with the next one).
   */
  next(
    kind: TrafficKind,
    clientIP: string,
    nowMs: number,
    exclude: ReadonlySet<string> = new Set(),
  ): EndpointInfo | NoEndpoint {
    if (!this.hasAny) return 'no-endpoints';
    const list = this.candidates(kind, clientIP);
    if (list.length === 0) return 'no-local-endpoints';
    const affine = this.svc.sessionAffinity.type === 'ClientIP';
    if (affine) {
      const p = this.pinned(kind, clientIP, nowMs);
      if (p && !exclude.has(p.endpoint)) {
        this.affinity.set(clientIP, { endpoint: p.endpoint, lastUsedMs: nowMs });
        return p;
      }
    }
    for (let i = 0; i < list.length; i++) {
      const e = list[(this.rr + i) % list.length]!;
      if (exclude.has(e.endpoint)) continue;
      this.rr = (this.rr + i + 1) % list.length;
      if (affine) this.affinity.set(clientIP, { endpoint: e.endpoint, lastUsedMs: nowMs });
      return e;
    }
    return 'no-endpoints';
  }

  /** Drops affinity entries older than the timeout (called periodically so the map stays small). */
  expireAffinity(nowMs: number): void {
    if (this.svc.sessionAffinity.type !== 'ClientIP') {
      this.affinity.clear();
      return;
    }
    const ttl = this.svc.sessionAffinity.timeoutSeconds * 1000;
    for (const [ip, e] of this.affinity) if (nowMs - e.lastUsedMs >= ttl) this.affinity.delete(ip);
  }

  /** Number of clients with a live affinity entry (tests, metrics). */
  get affinityEntries(): number {
    return this.affinity.size;
  }
}
