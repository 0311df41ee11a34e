/**
 * kube-proxy's userspace mode: an in-process L4 balancer, as upstream ran before 1.26. The
 * Service addresses (ClusterIPs, externalIPs, LoadBalancer IPs) are local addresses of the node,
 * held as /32s by the `kube-svc0` device (device.ts), and for each Service port with endpoints the
 * proxy binds listeners on the Service's own addresses in the node's network namespace:
 * `ClusterIP:port` for ClusterIP traffic, `externalIP:port`, `lbIP:port` and `0.0.0.0:nodePort`
 * for outside traffic (so each listener knows its traffic policy). No nat rule steers anything:
 * pods, the LAN and the node itself reach the listeners by local delivery, and a Service without
 * endpoints has no listener, so the kernel refuses it at once. The only rules are the filter DROPs
 * of rules.ts. Every accepted TCP connection / UDP flow is relayed to an endpoint chosen by a
 * ServiceBalancer. A refused connect moves on
 * to the next endpoint. Endpoint changes only affect new connections: established TCP streams
 * drain; UDP flows to a removed endpoint are closed (the userspace counterpart of the conntrack
 * flush), so the client's next datagram picks a live one. Because the proxy opens its own
 * connection, backends see the node's address, never the client's.
 *
 * Restarts: relayed streams live in this process, so a crash ends them. `drain()` is the graceful
 * way out: it closes the listeners (new connections are the next proxy's, which binds the same
 * addresses and ports), leaves the rules and the device with its addresses alone (established
 * connections and the next proxy need them), and keeps relaying established TCP connections
 * until they end or the drain timeout passes.
 */
import dgram from 'node:dgram';
import { type Exec, realExec } from '../../src/kernel/exec.ts';
import type { ProxyBackend } from '../conformance/backend.ts';
import type { IptablesRunner } from '../iptables/runner.ts';
import { type ConntrackRunner, cleanConntrack } from '../model/conntrack.ts';
import { isExternallyAccessible } from '../model/service.ts';
import {
  EndpointsChangeTracker,
  ProxyState,
  ServiceChangeTracker,
  type UpdateResult,
} from '../model/tracker.ts';
import type { EndpointInfo, EndpointSliceObject, ServiceObject, ServicePortInfo } from '../model/types.ts';
import { inCidr, type Packet, type TraceOptions, type TraceResult } from '../trace/types.ts';
import { type BalancerConfig, ServiceBalancer, type TrafficKind } from './balancer.ts';
import {
  deleteServiceDevice,
  ensureServiceDevice,
  reconcileServiceAddresses,
  SERVICE_DEVICE,
} from './device.ts';
import { missingUserspaceHooks, type PortalSpec, renderUserspaceRules } from './rules.ts';
import { listenTcp, type RelayedConnection, type TcpRelayKind, tcpRelayKind } from './tcp-relay.ts';

/** Options for UserspaceProxier. */
export interface UserspaceProxierOptions {
  /** Applies the filter rules (ExecIptablesRunner in the node's namespace). */
  runner: IptablesRunner;
  /**
   * Runs `ip` and `sysctl` in the node's namespace for the `kube-svc0` device; default realExec
   * (this process runs in the node's namespace). The device is managed when this is given or
   * `bindAddress` is not.
   */
  exec?: Exec;
  nodeName: string;
  /** The node's addresses (NodePort traffic to them is outside traffic). */
  nodeIPs?: string[];
  clusterCIDR?: string;
  /**
   * Tests without a node namespace: listeners bind this address on ephemeral ports (one for
   * ClusterIP traffic, one for outside traffic) instead of the Service addresses, and no device
   * is made unless `exec` is given. Default: unset (listeners bind the Service addresses).
   */
  bindAddress?: string;
  /** Idle time after which a UDP flow is forgotten (upstream --udp-timeout); default 250 ms. */
  udpIdleTimeoutMs?: number;
  /** Time allowed for one connect to an endpoint before trying the next; default 2000 ms. */
  connectTimeoutMs?: number;
  /** Flushes conntrack entries of UDP services that just got endpoints; optional. */
  conntrack?: ConntrackRunner;
  onConntrackError?: (e: unknown) => void;
  /** Connection-level problems (all endpoints refused, relay errors); default ignored. */
  log?: (line: string) => void;
  /** Milliseconds clock (tests); default Date.now. */
  now?: () => number;
  /**
   * How long `drain()` keeps relaying established TCP connections before ending them; default
   * 30 s (DEFAULT_DRAIN_TIMEOUT_MS); 0 ends them at once.
   */
  drainTimeoutMs?: number;
  /**
   * How TCP is relayed: `uv` (libuv's TCP handles, the default where this Node has them) or
   * `net` (net.Socket); see tcp-relay.ts.
   */
  tcpRelay?: TcpRelayKind;
}

/** drain()'s default grace period for established connections. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** What drain() did with the connections it found. */
export interface DrainResult {
  /** Relayed TCP connections open when the drain began. */
  connections: number;
  /** Of those, the ones ended by the timeout rather than by their peers. */
  cut: number;
}

/** What one sync did. */
export interface UserspaceSyncResult {
  /** Service ports with listeners. */
  services: number;
  /** Listening sockets (TCP servers and UDP sockets). */
  listeners: number;
  /** Filter rules written (hooks excluded). */
  rules: number;
  /** Service addresses on the device after this sync (0 when no device is managed). */
  addresses: number;
  /** Whether the rules changed and were applied. */
  applied: boolean;
}

/** Counters for tests and metrics. */
export interface UserspaceStats {
  /** TCP connections relayed, by endpoint `ip:port`. */
  tcpByEndpoint: Map<string, number>;
  /** UDP flows opened, by endpoint. */
  udpFlowsByEndpoint: Map<string, number>;
  /** TCP connects refused or timed out (each retried on the next endpoint). */
  connectFailures: number;
  /** Connections turned away (no endpoint or all refused). */
  rejected: number;
}

interface UdpFlow {
  endpoint: string;
  socket: dgram.Socket;
  timer: NodeJS.Timeout;
}

/** One listener (TCP server or UDP socket) of one service port and traffic kind. */
interface Listener {
  kind: TrafficKind;
  /** The address bound (a Service address, 0.0.0.0 for NodePorts, or `bindAddress`). */
  address: string;
  /** The port bound (the Service's or NodePort; ephemeral under `bindAddress`). */
  port: number;
  close(): Promise<void>;
  /** UDP only: open flows by client `ip:port`. */
  flows?: Map<string, UdpFlow>;
}

/** A listener to have: its kind, address and port (0: ephemeral). */
interface ListenerSpec {
  kind: TrafficKind;
  address: string;
  port: number;
}

interface PortEntry {
  balancer: ServiceBalancer;
  /** By `kind address:port` of the spec that opened them. */
  listeners: Map<string, Listener>;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** kube-proxy's userspace mode. */
export class UserspaceProxier implements ProxyBackend {
  readonly name = 'userspace';
  readonly state = new ProxyState();
  readonly stats: UserspaceStats = {
    tcpByEndpoint: new Map(),
    udpFlowsByEndpoint: new Map(),
    connectFailures: 0,
    rejected: 0,
  };
  private readonly services = new ServiceChangeTracker();
  private readonly endpoints: EndpointsChangeTracker;
  private readonly ports = new Map<string, PortEntry>();
  /**
   * Accepted TCP connections still open, dialled or not (closed only on dispose: endpoint changes
   * let them drain; drain() counts these).
   */
  private readonly connections = new Set<RelayedConnection>();
  /** Of those, the ones relayed to an endpoint (two sockets each). */
  private established = 0;
  /** Woken whenever a connection closes (drain() waits on it). */
  private connectionClosed: (() => void) | undefined;
  private readonly tcpRelay: TcpRelayKind;
  private draining: Promise<DrainResult> | undefined;
  private readonly cfg: BalancerConfig;
  private needHooks = true;
  private lastPayload = '';
  private disposed = false;
  /** Whether this proxy manages kube-svc0 (see the `exec` option). */
  private readonly manageDevice: boolean;
  private readonly exec: Exec;
  /** The device exists and has strict ARP (cleared on failure and by requestFullSync). */
  private deviceReady = false;
  /** The sorted address list last reconciled ('' forces a reconcile). */
  private lastAddresses = '';
  /** Set by drain(): dispose() then leaves the device and its addresses to the next proxy. */
  private keepDevice = false;
  private readonly now: () => number;
  private readonly log: (l: string) => void;
  private pendingNewlyActive: UpdateResult['newlyActiveUdpServices'] = [];

  constructor(private readonly opts: UserspaceProxierOptions) {
    this.endpoints = new EndpointsChangeTracker(opts.nodeName);
    this.cfg = { nodeIPs: opts.nodeIPs ?? [], clusterCIDR: opts.clusterCIDR };
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.manageDevice = opts.exec !== undefined || opts.bindAddress === undefined;
    this.exec = opts.exec ?? realExec;
    this.tcpRelay = opts.tcpRelay ?? tcpRelayKind();
  }

  onServiceUpdate(prev: ServiceObject | undefined, cur: ServiceObject | undefined): boolean {
    return this.services.update(prev, cur);
  }

  onEndpointSliceUpdate(slice: EndpointSliceObject, removed: boolean): boolean {
    return this.endpoints.endpointSliceUpdate(slice, removed);
  }

  /** Forces the next sync to re-check the hooks, the device and its addresses, and rewrite our rules. */
  requestFullSync(): void {
    this.needHooks = true;
    this.lastPayload = '';
    this.deviceReady = false;
    this.lastAddresses = '';
  }

  /** The listeners a service port should have now (none without endpoints). */
  private wantedListeners(svc: ServicePortInfo, hasEndpoints: boolean): ListenerSpec[] {
    if (!hasEndpoints) return [];
    const external = isExternallyAccessible(svc);
    const bind = this.opts.bindAddress;
    if (bind !== undefined) {
      const out: ListenerSpec[] = [{ kind: 'internal', address: bind, port: 0 }];
      if (external) out.push({ kind: 'external', address: bind, port: 0 });
      return out;
    }
    const out: ListenerSpec[] = [{ kind: 'internal', address: svc.clusterIP, port: svc.port }];
    if (!external) return out;
    for (const ip of new Set([...svc.externalIPs, ...svc.loadBalancerVIPs]))
      if (ip !== svc.clusterIP) out.push({ kind: 'external', address: ip, port: svc.port });
    if (svc.nodePort) out.push({ kind: 'external', address: '0.0.0.0', port: svc.nodePort });
    return out;
  }

  /** Creates kube-svc0 when needed and makes it hold exactly `wanted`. Returns the address count. */
  private async syncDevice(wanted: Set<string>): Promise<number> {
    if (!this.manageDevice) return 0;
    const list = [...wanted].sort().join(' ');
    if (this.deviceReady && list === this.lastAddresses) return wanted.size;
    try {
      if (!this.deviceReady) await ensureServiceDevice(this.exec);
      this.deviceReady = true;
      const { added, removed } = await reconcileServiceAddresses(this.exec, wanted);
      if (added.length || removed.length)
        this.log(`${SERVICE_DEVICE}: +${added.length} -${removed.length} address(es)`);
    } catch (e) {
      this.deviceReady = false;
      this.lastAddresses = '';
      throw e;
    }
    this.lastAddresses = list;
    return wanted.size;
  }

  /**
   * Folds pending changes in, puts the Service addresses on kube-svc0 (before any listener binds
   * them), opens/closes listeners, updates the balancers, closes UDP flows to endpoints that went
   * away, then applies the filter rules in one iptables-restore. A listener that cannot bind (its
   * address:port still held elsewhere) fails the sync after everything else is done, so the
   * retry opens only what is missing.
   */
  async sync(): Promise<UserspaceSyncResult> {
    if (this.disposed) throw new Error('userspace proxy: sync after dispose');
    if (this.draining) throw new Error('userspace proxy: sync while draining (the next proxy listens now)');
    const { newlyActiveUdpServices } = this.state.apply(this.services, this.endpoints);
    this.pendingNewlyActive.push(...newlyActiveUdpServices);
    // Every Service address, with or without endpoints: a local address without a listener is
    // refused by the kernel at once, where a routed one would wander off the node.
    const addresses = new Set<string>();
    for (const svc of this.state.services.values())
      for (const ip of [svc.clusterIP, ...svc.externalIPs, ...svc.loadBalancerVIPs])
        if (IPV4.test(ip)) addresses.add(ip);
    const addressCount = await this.syncDevice(addresses);
    const portals: PortalSpec[] = [];
    const failures: string[] = [];
    let listeners = 0;
    for (const [key, svc] of this.state.services) {
      let entry = this.ports.get(key);
      if (!entry) {
        entry = { balancer: new ServiceBalancer(svc, this.cfg), listeners: new Map() };
        this.ports.set(key, entry);
      }
      const eps = this.state.endpointsOf(svc);
      entry.balancer.update(svc, eps);
      this.closeStaleFlows(entry, eps);
      entry.balancer.expireAffinity(this.now());
      const b = entry.balancer;
      const wanted = new Map(
        this.wantedListeners(svc, b.hasEndpoints).map((l) => [`${l.kind} ${l.address}:${l.port}`, l]),
      );
      for (const [id, l] of entry.listeners) {
        if (wanted.has(id)) continue;
        await l.close();
        entry.listeners.delete(id);
      }
      for (const [id, spec] of wanted) {
        if (entry.listeners.has(id)) continue;
        try {
          entry.listeners.set(id, await this.listen(entry, spec));
        } catch (e) {
          failures.push(`${svc.nameString}: listen ${spec.address}:${spec.port}: ${(e as Error).message}`);
        }
      }
      listeners += entry.listeners.size;
      portals.push({
        svc,
        hasEndpoints: b.hasEndpoints,
        internalUsable: b.candidates('internal', '0.0.0.0').length > 0,
        // Outside clients (not pods, not the node) decide whether the external path is usable.
        externalUsable: b.candidates('external', '0.0.0.0').length > 0,
      });
    }
    for (const [key, entry] of this.ports) {
      if (this.state.services.has(key)) continue;
      // Service port gone: stop accepting; established TCP connections keep draining.
      for (const l of entry.listeners.values()) await l.close();
      this.ports.delete(key);
    }
    let hooks: ReturnType<typeof missingUserspaceHooks> = [];
    let legacyNat: string | undefined;
    if (this.needHooks) {
      const saved = await this.opts.runner.save(['nat', 'filter']);
      hooks = missingUserspaceHooks(saved);
      legacyNat = saved;
    }
    const payload = renderUserspaceRules(portals, { hooks, legacyNat });
    const body = renderUserspaceRules(portals);
    let applied = false;
    if (payload !== body || body !== this.lastPayload) {
      try {
        await this.opts.runner.restore(payload);
      } catch (e) {
        this.needHooks = true;
        this.lastPayload = '';
        throw e;
      }
      applied = true;
    }
    this.needHooks = false;
    this.lastPayload = body;
    const pending = this.pendingNewlyActive;
    this.pendingNewlyActive = [];
    if (this.opts.conntrack)
      await cleanConntrack(
        this.opts.conntrack,
        { staleUdpEndpoints: [], newlyActiveUdpServices: pending },
        this.opts.onConntrackError,
      );
    if (failures.length) throw new Error(`userspace proxy: ${failures.join('; ')}`);
    const rules = body.split('\n').filter((l) => l.startsWith('-A ')).length;
    return { services: this.ports.size, listeners, rules, applied, addresses: addressCount };
  }

  /**
   * The port of a service port's first listener for ClusterIP or outside traffic (tests,
   * debugging): the Service's own port, or an ephemeral one under `bindAddress`.
   */
  listenerPort(serviceKey: string, kind: TrafficKind = 'internal'): number | undefined {
    for (const l of this.ports.get(serviceKey)?.listeners.values() ?? []) if (l.kind === kind) return l.port;
    return undefined;
  }

  /** Every listener's `address:port` of a service port, sorted (tests, debugging). */
  listenerAddresses(serviceKey: string): string[] {
    return [...(this.ports.get(serviceKey)?.listeners.values() ?? [])]
      .map((l) => `${l.address}:${l.port}`)
      .sort();
  }

  /** Open UDP flows (all services). */
  get udpFlows(): number {
    let n = 0;
    for (const e of this.ports.values()) for (const l of e.listeners.values()) n += l.flows?.size ?? 0;
    return n;
  }

  /** Open TCP sockets of relayed connections (client and endpoint sides). */
  get openSockets(): number {
    return this.connections.size + this.established;
  }

  /** TCP connections still open (accepted client connections). */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Listening sockets (TCP servers and UDP sockets) still open. */
  get listening(): number {
    let n = 0;
    for (const e of this.ports.values()) n += e.listeners.size;
    return n;
  }

  private closeStaleFlows(entry: PortEntry, eps: EndpointInfo[]): void {
    const live = new Set(eps.filter((e) => e.ready || (e.serving && e.terminating)).map((e) => e.endpoint));
    for (const l of entry.listeners.values()) {
      for (const [k, f] of l.flows ?? []) {
        if (live.has(f.endpoint)) continue;
        clearTimeout(f.timer);
        f.socket.close();
        l.flows!.delete(k);
      }
    }
  }

  private listen(entry: PortEntry, spec: ListenerSpec): Promise<Listener> {
    return entry.balancer.service.protocol === 'UDP'
      ? this.listenUdp(entry, spec)
      : this.listenTcp(entry, spec);
  }

  private async listenTcp(entry: PortEntry, spec: ListenerSpec): Promise<Listener> {
    const { kind } = spec;
    const l = await listenTcp(
      this.tcpRelay,
      spec.address,
      spec.port,
      (conn) => this.accept(entry, kind, conn),
      (e) => this.log(`${entry.balancer.service.nameString}: listener: ${e.message}`),
    );
    return {
      kind,
      address: spec.address,
      port: l.port,
      // Stops accepting at once; relayed connections are meant to drain on their own.
      close: async () => l.close(),
    };
  }

  private accept(entry: PortEntry, kind: TrafficKind, conn: RelayedConnection): void {
    const svc = entry.balancer.service;
    // The peer address costs a getpeername() per connection: ask only when the choice depends on
    // it (ClientIP affinity; outside traffic under externalTrafficPolicy Local) or to log a refusal.
    const clientIP =
      svc.sessionAffinity.type === 'ClientIP' || (kind === 'external' && svc.externalPolicyLocal)
        ? conn.peerAddress()
        : '';
    let connected = false;
    this.connections.add(conn);
    conn.onClose = () => {
      this.connections.delete(conn);
      if (connected) this.established--;
      this.connectionClosed?.();
    };
    conn.onError = (e) => this.log(`${svc.nameString}: ${e.message}`);
    const tried = new Set<string>();
    const attempt = () => {
      if (this.disposed || conn.closed) return;
      const choice = entry.balancer.next(kind, clientIP, this.now(), tried);
      if (typeof choice === 'string') {
        this.stats.rejected++;
        if (tried.size > 0) this.log(`${svc.nameString}: every endpoint refused ${conn.peerAddress()}`);
        conn.reject();
        return;
      }
      tried.add(choice.endpoint);
      conn.dial(choice.ip, choice.port, this.opts.connectTimeoutMs ?? 2000, (err) => {
        if (err) {
          // Refused, unreachable or silent: the next endpoint gets this connection (upstream's retry).
          this.stats.connectFailures++;
          attempt();
          return;
        }
        connected = true;
        this.established++;
        this.stats.tcpByEndpoint.set(
          choice.endpoint,
          (this.stats.tcpByEndpoint.get(choice.endpoint) ?? 0) + 1,
        );
      });
    };
    attempt();
  }

  private listenUdp(entry: PortEntry, spec: ListenerSpec): Promise<Listener> {
    const { kind } = spec;
    // reuseAddr: the next proxy may bind the address:port before this socket's close completes.
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const flows = new Map<string, UdpFlow>();
    const idle = this.opts.udpIdleTimeoutMs ?? 250;
    const drop = (key: string) => {
      const f = flows.get(key);
      if (!f) return;
      clearTimeout(f.timer);
      f.socket.close();
      flows.delete(key);
    };
    sock.on('error', (e) => this.log(`${entry.balancer.service.nameString}: udp listener: ${e.message}`));
    sock.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      let flow = flows.get(key);
      if (!flow) {
        const choice = entry.balancer.next(kind, rinfo.address, this.now());
        if (typeof choice === 'string') {
          this.stats.rejected++;
          return;
        }
        const out = dgram.createSocket('udp4');
        out.on('error', () => drop(key));
        out.on('message', (reply, from) => {
          if (from.address !== choice.ip || from.port !== choice.port) return;
          const f = flows.get(key);
          if (f) f.timer.refresh();
          // Replies leave from the listener socket, i.e. from the Service address it is bound to.
          sock.send(reply, rinfo.port, rinfo.address);
        });
        flow = { endpoint: choice.endpoint, socket: out, timer: setTimeout(() => drop(key), idle) };
        flows.set(key, flow);
        this.stats.udpFlowsByEndpoint.set(
          choice.endpoint,
          (this.stats.udpFlowsByEndpoint.get(choice.endpoint) ?? 0) + 1,
        );
      } else flow.timer.refresh();
      const [ip, port] = [
        flow.endpoint.slice(0, flow.endpoint.lastIndexOf(':')),
        flow.endpoint.slice(flow.endpoint.lastIndexOf(':') + 1),
      ];
      flow.socket.send(msg, Number(port), ip);
    });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(spec.port, spec.address, () => {
        sock.off('error', reject);
        resolve({
          kind,
          address: spec.address,
          port: sock.address().port,
          flows,
          close: async () => {
            for (const k of [...flows.keys()]) drop(k);
            await new Promise<void>((r) => sock.close(() => r()));
          },
        });
      });
    });
  }

  /**
   * What the balancer would do with the first packet of a connection: which listener takes it
   * (the one bound to its destination address and port; none without endpoints: refused), and
   * which endpoints it may reach (every candidate with probability 1/n, or one
   * drawn with `opts.random`), honouring affinity via `opts.recent` (list per service port).
   * `masquerade` is always true for relayed traffic: the backend sees the node's address.
   */
  async trace(pkt: Packet, opts: Partial<TraceOptions> = {}): Promise<TraceResult[]> {
    const local = (ip: string) => (this.opts.nodeIPs ?? []).includes(ip) || inCidr(ip, '127.0.0.0/8');
    for (const [key, entry] of this.ports) {
      const s = entry.balancer.service;
      if (s.protocol.toLowerCase() !== pkt.proto) continue;
      let kind: TrafficKind | undefined;
      let bound = `${pkt.dst}:${pkt.dport}`;
      if (pkt.dst === s.clusterIP && pkt.dport === s.port) kind = 'internal';
      else if ([...s.externalIPs, ...s.loadBalancerVIPs].includes(pkt.dst) && pkt.dport === s.port)
        kind = 'external';
      else if (s.nodePort && pkt.dport === s.nodePort && local(pkt.dst)) {
        kind = 'external';
        bound = `0.0.0.0:${s.nodePort}`;
      }
      if (!kind) continue;
      if (this.opts.bindAddress !== undefined)
        bound = `${this.opts.bindAddress}:${this.listenerPort(key, kind)}`;
      const hit = (rule: string) => [{ table: 'userspace', chain: key, rule }];
      const b = entry.balancer;
      if (!b.hasEndpoints)
        return [
          {
            verdict: 'REJECT',
            masquerade: false,
            probability: 1,
            mark: 0,
            hits: hit('no endpoints: no listener, refused by the kernel'),
          },
        ];
      if (
        kind === 'external' &&
        s.loadBalancerSourceRanges.length &&
        s.loadBalancerVIPs.includes(pkt.dst) &&
        !s.loadBalancerSourceRanges.some((r) => inCidr(pkt.src, r))
      )
        return [
          { verdict: 'DROP', masquerade: false, probability: 1, mark: 0, hits: hit('source not allowed') },
        ];
      let list = b.candidates(kind, pkt.src);
      if (list.length === 0)
        return [
          { verdict: 'DROP', masquerade: false, probability: 1, mark: 0, hits: hit('no local endpoints') },
        ];
      const affinity = s.sessionAffinity;
      const now = opts.now ?? 0;
      const lists = opts.recent;
      if (affinity.type === 'ClientIP' && lists) {
        const pinned = list.find((e) => {
          const seen = lists.get(`${key}|${e.endpoint}`)?.get(pkt.src);
          return seen !== undefined && now - seen < affinity.timeoutSeconds;
        });
        if (pinned) list = [pinned];
      }
      const result = (e: EndpointInfo, p: number): TraceResult => ({
        verdict: 'ACCEPT',
        dnat: e.endpoint,
        masquerade: true,
        probability: p,
        mark: 0,
        hits: hit(`${kind} listener ${bound} -> ${e.endpoint}`),
      });
      if (typeof opts.random === 'function') {
        const e = list[Math.min(list.length - 1, Math.floor(opts.random() * list.length))]!;
        if (affinity.type === 'ClientIP' && lists) {
          const name = `${key}|${e.endpoint}`;
          if (!lists.has(name)) lists.set(name, new Map());
          lists.get(name)!.set(pkt.src, now);
        }
        return [result(e, 1)];
      }
      return list.map((e) => result(e, 1 / list.length));
    }
    return [{ verdict: 'ACCEPT', masquerade: false, probability: 1, mark: 0, hits: [] }];
  }

  /**
   * Graceful stop for a restart: closes every listener and UDP flow at once (a connect that would
   * reach them is refused until the next proxy binds the same addresses and ports), writes no
   * rules and removes none, and leaves kube-svc0 with its addresses (the relayed connections and
   * the next proxy need them; removing anything here could undo the next proxy's work), then waits until every relayed TCP connection has ended
   * or `timeoutMs` (default the `drainTimeoutMs` option) has passed, ends what is left and
   * disposes. Later syncs throw. Idempotent: a second call returns the first one's promise.
   */
  drain(timeoutMs = this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS): Promise<DrainResult> {
    this.draining ??= (async () => {
      this.keepDevice = true;
      for (const entry of this.ports.values())
        for (const l of entry.listeners.values()) await l.close().catch(() => {});
      this.ports.clear();
      const connections = this.connections.size;
      this.log(`draining ${connections} connection(s) for up to ${timeoutMs} ms`);
      // Wall-clock time: the injected clock is for affinity, and the waits below are real timers.
      const deadline = Date.now() + timeoutMs;
      while (this.connections.size > 0 && !this.disposed) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 1000));
          this.connectionClosed = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.connectionClosed = undefined;
      }
      const cut = this.connections.size;
      if (cut > 0) this.log(`drain timeout: ending ${cut} connection(s)`);
      await this.dispose();
      return { connections, cut };
    })();
    return this.draining;
  }

  /**
   * Closes every listener, UDP flow and relayed connection and deletes kube-svc0 (its addresses
   * go with it) — except at the end of a drain, which leaves the device to the next proxy.
   * Rules are removed by cleanupIptables.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const entry of this.ports.values())
      for (const l of entry.listeners.values()) await l.close().catch(() => {});
    this.ports.clear();
    for (const c of [...this.connections]) c.destroy();
    this.connections.clear();
    this.connectionClosed?.();
    if (this.manageDevice && !this.keepDevice)
      await deleteServiceDevice(this.exec).catch((e) =>
        this.log(`${SERVICE_DEVICE}: ${(e as Error).message}`),
      );
  }
}
