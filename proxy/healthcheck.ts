/**
 * Service health checks (upstream healthcheck.ServiceHealthServer): for each LoadBalancer Service
 * with `externalTrafficPolicy: Local`, kube-proxy answers HTTP on the Service's
 * healthCheckNodePort with 200 when this node has local endpoints and 503 when it has none, so an
 * external load balancer only sends traffic to nodes that can serve it without another hop.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Disposable } from '../src/util/disposable.ts';
import type { ProxyState } from './model/tracker.ts';

/** What one health-check port reports. */
export interface HealthCheckTarget {
  namespace: string;
  name: string;
  port: number;
  localEndpoints: number;
}

/** Health-check targets of a state: one per service with a healthCheckNodePort. */
export function healthCheckTargets(state: ProxyState): HealthCheckTarget[] {
  const out = new Map<string, HealthCheckTarget & { eps: Set<string> }>();
  for (const svc of state.services.values()) {
    if (!svc.healthCheckNodePort) continue;
    const key = `${svc.name.namespace}/${svc.name.name}`;
    let t = out.get(key);
    if (!t) {
      t = {
        namespace: svc.name.namespace,
        name: svc.name.name,
        port: svc.healthCheckNodePort,
        localEndpoints: 0,
        eps: new Set(),
      };
      out.set(key, t);
    }
    // Upstream counts distinct local, ready endpoint addresses across the service's ports.
    for (const e of state.endpointsOf(svc)) if (e.isLocal && e.ready) t.eps.add(e.ip);
  }
  return [...out.values()].map(({ eps, ...t }) => ({ ...t, localEndpoints: eps.size }));
}

/** Serves one HTTP listener per health-check port. */
export class ServiceHealthServer implements Disposable {
  private readonly listeners = new Map<number, { server: http.Server; target: HealthCheckTarget }>();

  /** @param host the address to listen on (the node IP; 127.0.0.1 in tests). */
  constructor(private readonly host: string) {}

  /** Opens listeners for new ports, closes those no longer wanted, updates the counts. */
  async sync(targets: HealthCheckTarget[]): Promise<void> {
    const wanted = new Map(targets.map((t) => [t.port, t]));
    for (const [port, l] of this.listeners)
      if (!wanted.has(port)) {
        this.listeners.delete(port);
        await new Promise<void>((r) => l.server.close(() => r()));
      }
    for (const [port, target] of wanted) {
      const existing = this.listeners.get(port);
      if (existing) {
        existing.target = target;
        continue;
      }
      const entry = { server: http.createServer(), target };
      entry.server.on('request', (_req, res) => {
        const t = entry.target;
        const body = JSON.stringify({
          service: { namespace: t.namespace, name: t.name },
          localEndpoints: t.localEndpoints,
          serviceProxyHealthy: true,
        });
        res.writeHead(t.localEndpoints > 0 ? 200 : 503, {
          'Content-Type': 'application/json',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(body);
      });
      await new Promise<void>((resolve, reject) => {
        entry.server.once('error', reject);
        entry.server.listen(port, this.host, () => resolve());
      });
      this.listeners.set(port, entry);
    }
  }

  /** Ports currently served. */
  get ports(): number[] {
    return [...this.listeners.values()].map((l) => (l.server.address() as AddressInfo).port);
  }

  async dispose(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => new Promise<void>((r) => l.server.close(() => r()))));
  }
}
