/**
 * Change tracking between syncs, after upstream's ServiceChangeTracker and EndpointsChangeTracker.
 * Informer handlers only record: per `namespace/name` the tracker keeps {previous, current} — the
 * state as of the last sync and the newest one — and drops the entry when a change undoes itself,
 * so a sync only touches what really changed. `ProxyState.apply` folds the pending changes into
 * the maps backends render from and reports which services changed (for partial syncs).
 */
import { endpointsFromSlices } from './endpoints.ts';
import { servicePortsFromService } from './service.ts';
import {
  type EndpointInfo,
  type EndpointSliceObject,
  nsName,
  SERVICE_NAME_LABEL,
  type ServiceObject,
  type ServicePortInfo,
} from './types.ts';

/** Service port records keyed by ServicePortInfo.key. */
export type ServicePortMap = Map<string, ServicePortInfo>;
/** Endpoint lists keyed like ServicePortInfo.key. */
export type EndpointsMap = Map<string, EndpointInfo[]>;

/** One pending change for one `namespace/name`. */
export interface Change<T> {
  previous: T;
  current: T;
}

function mapsEqual<T>(a: Map<string, T>, b: Map<string, T>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    if (!b.has(k) || JSON.stringify(v) !== JSON.stringify(b.get(k))) return false;
  }
  return true;
}

function serviceToPortMap(svc: ServiceObject | undefined): ServicePortMap {
  const m: ServicePortMap = new Map();
  if (!svc) return m;
  for (const p of servicePortsFromService(svc)) m.set(p.key, p);
  return m;
}

/** Records Service changes between syncs. */
export class ServiceChangeTracker {
  private items = new Map<string, Change<ServicePortMap>>();

  /**
   * Records an add (previous undefined), update, or delete (current undefined). Returns true if a
   * change is now pending for that service (false when this event cancelled an earlier one).
   */
  update(previous: ServiceObject | undefined, current: ServiceObject | undefined): boolean {
    const svc = current ?? previous;
    if (!svc) return false;
    const key = nsName(svc.metadata.namespace, svc.metadata.name);
    let change = this.items.get(key);
    if (!change) {
      change = { previous: serviceToPortMap(previous), current: new Map() };
      this.items.set(key, change);
    }
    change.current = serviceToPortMap(current);
    if (mapsEqual(change.previous, change.current)) {
      this.items.delete(key);
      return false;
    }
    return true;
  }

  /** Number of services with a pending change. */
  get pending(): number {
    return this.items.size;
  }

  /** Hands over and clears the pending changes. */
  checkout(): Map<string, Change<ServicePortMap>> {
    const out = this.items;
    this.items = new Map();
    return out;
  }
}

/** Records EndpointSlice changes between syncs, keyed by the owning service. */
export class EndpointsChangeTracker {
  /** The newest known slices: service key → slice name → slice. */
  private slices = new Map<string, Map<string, EndpointSliceObject>>();
  private items = new Map<string, Change<EndpointsMap>>();

  /** @param nodeName the node this proxy runs for (decides which endpoints are local). */
  constructor(private readonly nodeName: string) {}

  private compute(svcKey: string): EndpointsMap {
    const slices = this.slices.get(svcKey);
    if (!slices || slices.size === 0) return new Map();
    const [ns, name] = [svcKey.slice(0, svcKey.indexOf('/')), svcKey.slice(svcKey.indexOf('/') + 1)];
    return endpointsFromSlices(ns, name, slices.values(), this.nodeName);
  }

  /**
   * Records a slice add/update (removeSlice false) or delete (true). Slices without the
   * `kubernetes.io/service-name` label are ignored. Returns true if a change is pending for
   * the slice's service after this event.
   */
  endpointSliceUpdate(slice: EndpointSliceObject, removeSlice: boolean): boolean {
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) return false;
    const svcKey = nsName(slice.metadata.namespace, svcName);
    let change = this.items.get(svcKey);
    if (!change) {
      change = { previous: this.compute(svcKey), current: new Map() };
      this.items.set(svcKey, change);
    }
    let bySlice = this.slices.get(svcKey);
    if (!bySlice) {
      bySlice = new Map();
      this.slices.set(svcKey, bySlice);
    }
    const sliceName = slice.metadata.name ?? '';
    if (removeSlice) bySlice.delete(sliceName);
    else bySlice.set(sliceName, slice);
    if (bySlice.size === 0) this.slices.delete(svcKey);
    change.current = this.compute(svcKey);
    if (mapsEqual(change.previous, change.current)) {
      this.items.delete(svcKey);
      return false;
    }
    return true;
  }

  /** Number of services with a pending endpoints change. */
  get pending(): number {
    return this.items.size;
  }

  /** Hands over and clears the pending changes. */
  checkout(): Map<string, Change<EndpointsMap>> {
    const out = this.items;
    this.items = new Map();
    return out;
  }
}

/** A UDP endpoint that went away: conntrack entries still pointing at it must be flushed. */
export interface StaleUdpEndpoint {
  /** The service port as it was when the endpoint was in use. */
  service: ServicePortInfo;
  ip: string;
}

/** Result of folding pending changes into the state. */
export interface UpdateResult {
  /** `namespace/name` of every service whose ports or endpoints changed. */
  updatedServices: Set<string>;
  /** UDP endpoints removed since the last apply (upstream's conntrack cleanup input). */
  staleUdpEndpoints: StaleUdpEndpoint[];
  /**
   * UDP service ports that had no endpoints and now have some: flows created meanwhile were
   * recorded without DNAT and would keep missing the new endpoints until flushed.
   */
  newlyActiveUdpServices: ServicePortInfo[];
}

function usableEndpoint(e: EndpointInfo): boolean {
  return e.ready || (e.serving && e.terminating);
}

function serviceKeyOf(portKey: string): string {
  // `ns/name[:port]/PROTO` → `ns/name`
  const first = portKey.indexOf('/');
  const rest = portKey.slice(first + 1);
  const nameEnd = rest.search(/[:/]/);
  return `${portKey.slice(0, first)}/${rest.slice(0, nameEnd)}`;
}

/** The state every backend renders from: all service ports and their endpoints. */
export class ProxyState {
  readonly services: ServicePortMap = new Map();
  readonly endpoints: EndpointsMap = new Map();

  /** Applies pending changes from both trackers; returns which services changed. */
  apply(services?: ServiceChangeTracker, endpoints?: EndpointsChangeTracker): UpdateResult {
    const updatedServices = new Set<string>();
    // The pre-apply value of every port this apply replaces or removes (only those: copying the
    // whole map cost more than the rest of a one-endpoint sync at 10,000 services).
    const prevServices = new Map<string, ServicePortInfo>();
    const remember = (k: string) => {
      const old = this.services.get(k);
      if (old && !prevServices.has(k)) prevServices.set(k, old);
    };
    for (const [key, ch] of services?.checkout() ?? []) {
      updatedServices.add(key);
      for (const k of ch.previous.keys()) {
        remember(k);
        this.services.delete(k);
      }
      for (const [k, v] of ch.current) {
        remember(k);
        this.services.set(k, v);
      }
    }
    const staleUdpEndpoints: StaleUdpEndpoint[] = [];
    const newlyActiveUdpServices: ServicePortInfo[] = [];
    for (const [key, ch] of endpoints?.checkout() ?? []) {
      updatedServices.add(key);
      for (const [k, prev] of ch.previous) {
        const svc = prevServices.get(k) ?? this.services.get(k);
        if (svc?.protocol !== 'UDP') continue;
        const now = new Set((ch.current.get(k) ?? []).filter(usableEndpoint).map((e) => e.ip));
        for (const e of prev)
          if (usableEndpoint(e) && !now.has(e.ip)) staleUdpEndpoints.push({ service: svc, ip: e.ip });
      }
      for (const [k, cur] of ch.current) {
        const svc = this.services.get(k);
        if (svc?.protocol !== 'UDP') continue;
        const before = (ch.previous.get(k) ?? []).some(usableEndpoint);
        if (!before && cur.some(usableEndpoint)) newlyActiveUdpServices.push(svc);
      }
      for (const k of ch.previous.keys()) this.endpoints.delete(k);
      for (const [k, v] of ch.current) this.endpoints.set(k, v);
    }
    return { updatedServices, staleUdpEndpoints, newlyActiveUdpServices };
  }

  /** Endpoints of one service port (empty when none). */
  endpointsOf(svc: ServicePortInfo): EndpointInfo[] {
    return this.endpoints.get(svc.key) ?? [];
  }

  /** `namespace/name` of the service a ServicePortInfo / endpoints key belongs to. */
  static serviceKeyOf(portKey: string): string {
    return serviceKeyOf(portKey);
  }
}

/** Builds a state directly from objects (for tests, benches and one-shot renders). */
export function stateFromObjects(
  services: ServiceObject[],
  slices: EndpointSliceObject[],
  nodeName: string,
): ProxyState {
  const st = new ProxyState();
  const sct = new ServiceChangeTracker();
  const ect = new EndpointsChangeTracker(nodeName);
  for (const s of services) sct.update(undefined, s);
  for (const s of slices) ect.endpointSliceUpdate(s, false);
  st.apply(sct, ect);
  return st;
}
