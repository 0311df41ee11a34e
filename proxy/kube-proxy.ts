/**
 * startKubeProxy: the kube-proxy a podnet node process runs. It lives in the node's network
 * namespace already (node-main.ts is started with nsenter --net), so its runners use no netns of
 * their own. It watches Services and EndpointSlices through shared informers, drives a
 * ProxyServer with the iptables or nftables backend, serves Prometheus metrics (sync duration,
 * network programming latency, services/endpoints/rules) and removes its rules when disposed.
 *
 * Restarts: `drain()` stops it the way a restart wants — the rules stay for the next proxy, whose
 * first sync rewrites them in one transaction (established connections keep their conntrack NAT
 * throughout), and the userspace mode keeps relaying its established connections until they end.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { findResource } from '../src/api/resources.ts';
import type { KubeObject } from '../src/api/types.ts';
import { type ApiClient, deletedObject, InformerFactory } from '../src/client/index.ts';
import type { ProxyBackend } from './conformance/backend.ts';
import { ServiceHealthServer } from './healthcheck.ts';
import { cleanupIptables } from './iptables/cleanup.ts';
import { IptablesProxier, type SyncResult } from './iptables/proxier.ts';
import { ExecIptablesRunner, type IptablesRunner } from './iptables/runner.ts';
import { type ConntrackRunner, ExecConntrackRunner } from './model/conntrack.ts';
import type { EndpointSliceObject, ServiceObject } from './model/types.ts';
import { cleanupNftables } from './nftables/cleanup.ts';
import { NftablesProxier } from './nftables/proxier.ts';
import type { NftablesSync } from './nftables/render.ts';
import { ExecNftRunner, type NftRunner } from './nftables/runner.ts';
import { type EventHandler, ProxyServer } from './server.ts';
import { UserspaceProxier, type UserspaceSyncResult } from './userspace/proxier.ts';

/** Options of startKubeProxy (the contract node-main.ts calls, see README.md). */
export interface KubeProxyOptions {
  client: ApiClient;
  nodeName: string;
  /** The node's LAN address: its NodePorts answer here. */
  hostIP: string;
  /** `iptables` (default), `nftables`, or `userspace` (the in-process L4 balancer). */
  mode?: string;
  /** The pod CIDR of the cluster: traffic from outside it to a ClusterIP is masqueraded. */
  clusterCIDR?: string;
  /** The Service CIDR (informational: logged). */
  serviceCIDR?: string;
  log?: (line: string) => void;
  /** Minimum time between syncs; default 200 ms. */
  minSyncPeriodMs?: number;
  /** Periodic resync; default 30 s. */
  syncPeriodMs?: number;
  /** Metrics listen address; default 127.0.0.1 (inside the node namespace). */
  metricsHost?: string;
  /** Metrics port; default 10249 (upstream's); 0 picks a free one; -1 disables. */
  metricsPort?: number;
  /**
   * Health port (upstream's `--healthz-bind-address`): `/healthz` and `/livez` answer 200 while
   * changes reach the rules in time, 503 once a queued change has waited longer than
   * `healthTimeoutMs`. Default 10256 (upstream's); 0 picks a free one; -1 disables.
   */
  healthzPort?: number;
  /** Health listen address; default `hostIP` (an outside load balancer probes the node there). */
  healthzHost?: string;
  /** How long a queued change may wait for a successful sync before /healthz says 503; default 2 × syncPeriod. */
  healthTimeoutMs?: number;
  /** Skip removing rules on dispose (e.g. a restart that wants no blackout). */
  keepRulesOnDispose?: boolean;
  /**
   * userspace: how long drain() keeps relaying established TCP connections before ending them;
   * default 30 s; 0 ends them at once.
   */
  drainTimeoutMs?: number;
  /**
   * Injected kernel edge and informer source (tests): default real runners in the current netns
   * and `InformerFactory.forClient(client)`. A given factory is started but not disposed here.
   */
  testing?: {
    iptables?: IptablesRunner;
    nft?: NftRunner;
    conntrack?: ConntrackRunner;
    informers?: InformerFactory;
    /** userspace, tests: listen on this address on ephemeral ports, with no kube-svc0 device. */
    bindAddress?: string;
  };
}

/** Listens on host:port (0 = any free port); resolves to `http://host:port<path>` as bound. */
async function listenAt(srv: Server, host: string, port: number, path: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => resolve());
  });
  const addr = srv.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${bound}${path}`;
}

/** What the health endpoint knows: epoch ms of the oldest queued/applying change and last sync. */
export interface ProxyHealthInput {
  oldestQueued?: number;
  oldestApplying?: number;
  lastUpdated?: number;
}

/**
 * Upstream's rule (pure): healthy unless a change has been waiting for a successful sync longer
 * than `timeoutMs`. With nothing pending the proxy is healthy however long ago it last synced
 * (nothing to do is not falling behind). The body is upstream's `/healthz` JSON.
 */
export function proxyHealth(
  h: ProxyHealthInput,
  now: number,
  timeoutMs: number,
): { healthy: boolean; body: { lastUpdated: string; currentTime: string } } {
  const pending = Math.min(h.oldestQueued ?? Infinity, h.oldestApplying ?? Infinity);
  const healthy = !Number.isFinite(pending) || now - pending < timeoutMs;
  return {
    healthy,
    body: {
      lastUpdated: new Date(h.lastUpdated ?? 0).toISOString(),
      currentTime: new Date(now).toISOString(),
    },
  };
}

/** A running kube-proxy. */
export interface KubeProxy {
  /** The effective mode. */
  readonly mode: ProxyMode;
  /** The backend (for trace() and state). */
  readonly backend: ProxyBackend;
  /** The metrics registry (also served over HTTP when a port was given). */
  readonly registry: Registry;
  /** `http://host:port/metrics`, or undefined when metrics are not served. */
  readonly metricsURL?: string;
  /** `http://host:port/healthz` of the health port, when it listens. */
  readonly healthzURL?: string;
  /** Resolves after the first successful sync. */
  readonly firstSync: Promise<void>;
  /**
   * Stops the informers and the sync loop, then removes this proxy's rules (unless
   * `keepRulesOnDispose`). After drain() it only ends what is still relayed: the rules belong to
   * the next proxy then.
   */
  dispose(): Promise<void>;
  /**
   * Stops for a restart: informers, sync loop, health checks and metrics stop (freeing their
   * ports for the next process) and no rule is written or removed any more. The userspace mode
   * closes its listeners and keeps relaying established TCP connections until they end or
   * `drainTimeoutMs` passes. Resolves when that is over.
   */
  drain(): Promise<void>;
}

/** Annotation upstream's EndpointSlice controller sets to the time of the triggering change. */
const TRIGGER_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/** The proxy modes podnet builds. */
export type ProxyMode = 'iptables' | 'nftables' | 'userspace';

/** Resolves `mode` (empty: iptables) to a built backend, or throws naming the field. */
export function resolveProxyMode(mode: string | undefined): ProxyMode {
  const m = mode || 'iptables';
  if (m === 'iptables' || m === 'nftables' || m === 'userspace') return m;
  throw new Error(`kube-proxy: mode: "${m}" is not supported: use iptables, nftables, userspace`);
}

/** Adapts a ProxyServer handler to the client's informer handler (tombstones unwrapped). */
function informerHandler<T extends KubeObject>(h: EventHandler<T>) {
  return {
    onAdd: (o: T, initial: boolean) => h.onAdd(o, initial),
    onUpdate: (o: T, n: T) => h.onUpdate(o, n),
    onDelete: (o: Parameters<typeof deletedObject<T>>[0]) => h.onDelete(deletedObject(o)),
  };
}

/** Starts kube-proxy for one node; resolves once the informers run and metrics listen. */
export async function startKubeProxy(o: KubeProxyOptions): Promise<KubeProxy> {
  const log = o.log ?? (() => {});
  const mode = resolveProxyMode(o.mode);
  const registry = new Registry();
  const m = {
    syncDuration: new Histogram({
      name: 'kubeproxy_sync_proxy_rules_duration_seconds',
      help: 'Time taken by one sync of the proxy rules',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    programming: new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds',
      help: 'Time from an EndpointSlice change to the rules being applied on this node',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    syncs: new Counter({
      name: 'kubeproxy_sync_proxy_rules_total',
      help: 'Sync attempts by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    lastSync: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      help: 'Time of the last successful sync',
      registers: [registry],
    }),
    services: new Gauge({
      name: 'kubeproxy_services',
      help: 'Service ports programmed',
      registers: [registry],
    }),
    endpoints: new Gauge({
      name: 'kubeproxy_endpoints',
      help: 'Endpoints programmed (all service ports)',
      registers: [registry],
    }),
    rules: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_rules',
      help: 'Rules (iptables: per table) or per-service chains (nftables) after the last sync',
      labelNames: ['table'],
      registers: [registry],
    }),
  };

  const t = o.testing ?? {};
  // The userspace mode owns iptables filter rules too (DROPs for Local policies and source ranges).
  const iptRunner = mode !== 'nftables' ? (t.iptables ?? new ExecIptablesRunner()) : undefined;
  const nftRunner = mode === 'nftables' ? (t.nft ?? new ExecNftRunner()) : undefined;
  const common = {
    nodeName: o.nodeName,
    clusterCIDR: o.clusterCIDR,
    nodeIPs: [o.hostIP],
    conntrack: t.conntrack ?? new ExecConntrackRunner(),
    onConntrackError: (e: unknown) => log(`conntrack cleanup: ${(e as Error).message}`),
  };
  const inner: ProxyBackend =
    mode === 'userspace'
      ? new UserspaceProxier({
          ...common,
          runner: iptRunner!,
          bindAddress: t.bindAddress,
          drainTimeoutMs: o.drainTimeoutMs,
          log: (l) => log(`userspace: ${l}`),
        })
      : iptRunner
        ? new IptablesProxier({ ...common, runner: iptRunner })
        : new NftablesProxier({ ...common, runner: nftRunner! });

  // Set by drain(): the backend's dispose (called by the ProxyServer) then drains instead.
  let restarting = false;
  let inflight: Promise<unknown> = Promise.resolve();
  // Slice changes not yet applied: when each happened (trigger annotation, else arrival).
  let pendingChanges: number[] = [];
  // Health (upstream ProxierHealthServer): when the oldest change not yet applied was queued
  // (undefined: none), the same for changes a running sync is applying, and the last success.
  let oldestQueued: number | undefined;
  let oldestApplying: number | undefined;
  let lastUpdated: number | undefined;
  const queued = <T>(changed: T): T => {
    if (changed) oldestQueued ??= Date.now();
    return changed;
  };
  let resolveFirst!: () => void;
  const firstSync = new Promise<void>((r) => {
    resolveFirst = r;
  });
  const metered: ProxyBackend = {
    name: inner.name,
    get state() {
      return inner.state;
    },
    onServiceUpdate: (p, c) => queued(inner.onServiceUpdate(p, c)),
    onEndpointSliceUpdate: (slice, removed) => {
      const changed = queued(inner.onEndpointSliceUpdate(slice, removed));
      if (changed) {
        const t = Date.parse(slice.metadata.annotations?.[TRIGGER_ANNOTATION] ?? '');
        pendingChanges.push(Number.isFinite(t) ? Math.min(t, Date.now()) : Date.now());
      }
      return changed;
    },
    sync: () => {
      const run = meteredSync();
      inflight = run.catch(() => {});
      return run;
    },
    trace: (pkt, opts) => inner.trace(pkt, opts),
    dispose: async () => {
      // The sync loop is stopped by now, but a sync may still be applying: let it finish, so no
      // rule of ours lands after this proxy has let go (the next one may have written its own).
      await inflight;
      if (restarting && inner instanceof UserspaceProxier) {
        const r = await inner.drain();
        log(`drained ${r.connections} connection(s), ${r.cut} ended by the timeout`);
      } else await inner.dispose();
    },
  };
  async function meteredSync(): Promise<unknown> {
    const started = performance.now();
    const applying = pendingChanges;
    pendingChanges = [];
    oldestApplying = oldestQueued;
    oldestQueued = undefined;
    let out: unknown;
    try {
      out = await inner.sync();
    } catch (e) {
      pendingChanges = applying.concat(pendingChanges);
      if (oldestApplying !== undefined) oldestQueued = Math.min(oldestApplying, oldestQueued ?? Infinity);
      oldestApplying = undefined;
      m.syncs.inc({ result: 'error' });
      throw e;
    }
    const now = Date.now();
    oldestApplying = undefined;
    lastUpdated = now;
    m.syncDuration.observe((performance.now() - started) / 1000);
    m.syncs.inc({ result: 'success' });
    m.lastSync.set(now / 1000);
    for (const t of applying) m.programming.observe(Math.max(0, now - t) / 1000);
    const st = inner.state;
    if (st) {
      m.services.set(st.services.size);
      let eps = 0;
      for (const list of st.endpoints.values()) eps += list.length;
      m.endpoints.set(eps);
    }
    if (mode === 'iptables') {
      const s = (out as SyncResult).render.stats;
      m.rules.set({ table: 'nat' }, s.natRules + s.natRulesSkipped);
      m.rules.set({ table: 'filter' }, s.filterRules);
    } else if (mode === 'userspace') m.rules.set({ table: 'userspace' }, (out as UserspaceSyncResult).rules);
    else m.rules.set({ table: 'kube-proxy' }, (out as NftablesSync).activeChains.size);
    resolveFirst();
    return out;
  }

  // Metrics first: a port in use fails the start before any informer or rule exists.
  let http: Server | undefined;
  let metricsURL: string | undefined;
  const port = o.metricsPort ?? 10249;
  if (port >= 0) {
    const host = o.metricsHost ?? '127.0.0.1';
    const srv = createServer((req, res) => {
      if (req.url === '/healthz' || req.url === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (e) => res.writeHead(500).end(String(e)),
      );
    });
    metricsURL = await listenAt(srv, host, port, '/metrics');
    http = srv;
  }
  // Health: its own port, as upstream (the metrics port's /healthz only says the process is up).
  const healthTimeoutMs = o.healthTimeoutMs ?? 2 * (o.syncPeriodMs ?? 30_000);
  let healthz: Server | undefined;
  let healthzURL: string | undefined;
  const hport = o.healthzPort ?? 10256;
  if (hport >= 0) {
    const host = o.healthzHost ?? o.hostIP;
    const srv = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/healthz' && path !== '/livez') {
        res.writeHead(404).end();
        return;
      }
      const h = proxyHealth({ oldestQueued, oldestApplying, lastUpdated }, Date.now(), healthTimeoutMs);
      res
        .writeHead(h.healthy ? 200 : 503, {
          'content-type': 'application/json',
          'x-content-type-options': 'nosniff',
        })
        .end(JSON.stringify(h.body));
    });
    try {
      healthzURL = await listenAt(srv, host, hport, '/healthz');
    } catch (e) {
      if (http) await new Promise<void>((r) => http!.close(() => r()));
      throw e;
    }
    healthz = srv;
  }
  const server = new ProxyServer({
    backend: metered,
    minSyncIntervalMs: o.minSyncPeriodMs ?? 200,
    syncPeriodMs: o.syncPeriodMs ?? 30_000,
    // LoadBalancer Services with externalTrafficPolicy: Local get their healthCheckNodePort here.
    healthServer: new ServiceHealthServer(o.hostIP),
    onSyncError: (e) => log(`sync failed (will retry): ${(e as Error).message.split('\n')[0]}`),
  });

  const factory = t.informers ?? InformerFactory.forClient(o.client);
  const svcInf = factory.informerFor<ServiceObject>(findResource('', 'v1', 'services')!);
  const sliceInf = factory.informerFor<EndpointSliceObject>(
    findResource('discovery.k8s.io', 'v1', 'endpointslices')!,
  );
  // The node itself (upstream watches it for topology labels); kept warm for later use.
  factory.informerFor(findResource('', 'v1', 'nodes')!, { fieldSelector: `metadata.name=${o.nodeName}` });
  const handlers = [
    svcInf.addEventHandler(informerHandler(server.serviceHandler)),
    sliceInf.addEventHandler(informerHandler(server.endpointSliceHandler)),
  ];
  factory.start();
  // A dispose before the first list ends these waits; nothing to report then.
  svcInf.waitForSync().then(
    () => server.onServicesSynced(),
    () => {},
  );
  sliceInf.waitForSync().then(
    () => server.onEndpointSlicesSynced(),
    () => {},
  );

  log(
    `mode ${mode}, clusterCIDR ${o.clusterCIDR ?? '(none)'}, serviceCIDR ${o.serviceCIDR ?? '(unknown)'}, metrics ${metricsURL ?? 'off'}, healthz ${healthzURL ?? 'off'}`,
  );

  // Metrics close before the backend stops: a draining proxy must not hold the port the next
  // process binds.
  const stop = async () => {
    for (const h of handlers) await h.dispose();
    if (!t.informers) await factory.dispose();
    for (const srv of [http, healthz]) {
      if (!srv) continue;
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
    await server.dispose();
  };
  let stopped: Promise<void> | undefined;
  const stopOnce = (): Promise<void> => {
    stopped ??= stop();
    return stopped;
  };
  let cleaned = false;
  return {
    mode,
    backend: metered,
    registry,
    metricsURL,
    healthzURL,
    firstSync,
    async drain() {
      if (!stopped) {
        restarting = true;
        log('draining for a restart: rules left to the next proxy');
      }
      await stopOnce();
    },
    async dispose() {
      // During or after a drain: end what is still relayed; the rules are the next proxy's.
      if (restarting) await inner.dispose();
      await stopOnce();
      if (restarting || o.keepRulesOnDispose || cleaned) return;
      cleaned = true;
      try {
        if (iptRunner) await cleanupIptables(iptRunner);
        if (nftRunner) await cleanupNftables(nftRunner);
        log('rules removed');
      } catch (e) {
        log(`cleanup failed: ${(e as Error).message.split('\n')[0]}`);
      }
    },
  };
}
