/**
 * The ingress route table: a PURE function from API objects (IngressClasses, Ingresses, Services,
 * EndpointSlices, Secrets) to an immutable table the data plane looks requests up in. No sockets,
 * no timers — it is rebuilt whole on every change and swapped atomically by the controller.
 *
 * Semantics (networking.k8s.io/v1):
 * - Class selection: an Ingress is ours when `spec.ingressClassName` (or the legacy
 *   `kubernetes.io/ingress.class` annotation) names an IngressClass whose `spec.controller` is our
 *   controller name; an Ingress without a class is ours when one of our classes carries
 *   `ingressclass.kubernetes.io/is-default-class: "true"`.
 * - Hosts: exact (case-insensitive) beats wildcard; `*.a.com` matches exactly one extra label.
 *   Rules without a host form the catch-all bucket, used when no host bucket matches (as nginx's
 *   default server). Ingresses naming the same host are merged into one bucket.
 * - Paths: Exact, Prefix (element-wise, trailing slash of the rule ignored), ImplementationSpecific
 *   (= Prefix here) and, with `use-regex`/`rewrite-target`, a case-insensitive regex anchored at the
 *   start. Longest path wins; at equal length Exact beats Prefix beats regex.
 * - Conflicts (same host, same path and type from two Ingresses; two TLS secrets for one host; two
 *   default backends): the Ingress with the oldest creationTimestamp wins, ties broken by
 *   namespace/name. Canary Ingresses never conflict: they attach to the main route they shadow.
 * - Fallbacks: no path matches → the bucket's default backend (the oldest `spec.defaultBackend` of
 *   the Ingresses contributing to that host) → the global one (oldest of all) → 404.
 */
import type { Service } from '../../src/api/kinds/core.ts';
import type { EndpointSlice } from '../../src/api/kinds/discovery.ts';
import type { Ingress, IngressBackend, IngressClass } from '../../src/api/kinds/networking.ts';
import { type IngressAnnotations, parseAnnotations } from './annotations.ts';
import { BadPathError, normalizePath } from './path.ts';

/** The default controller name written in IngressClass `spec.controller`. */
export const DEFAULT_CONTROLLER_NAME = 'podnet.dev/ingress';
const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One endpoint to dial. */
export interface UpstreamEndpoint {
  ip: string;
  port: number;
}

/** A backend resolved to endpoints. `endpoints` empty → 503. */
export interface ResolvedBackend {
  /** `namespace/service:port` (port by number or name, as written in the Ingress). */
  key: string;
  namespace: string;
  service: string;
  endpoints: UpstreamEndpoint[];
  /** Why there are no endpoints (shown in the 503 body and logs). */
  reason?: string;
  protocol: 'HTTP' | 'HTTPS';
}

/** A canary alternative attached to a route. */
export interface CanaryRoute {
  backend: ResolvedBackend;
  /** 0–100: share of requests not decided by header. */
  weight: number;
  header?: string;
  headerValue?: string;
  ingress: string;
}

/** One path rule, ready to match. */
export interface Route {
  kind: 'Exact' | 'Prefix' | 'Regex';
  /** The normalised rule path (Prefix: without trailing slash, except "/"). */
  path: string;
  regex?: RegExp;
  backend: ResolvedBackend;
  /** `namespace/name` of the Ingress that owns the route. */
  ingress: string;
  annotations: IngressAnnotations;
  canary?: CanaryRoute;
}

/** The routes of one host (or of the catch-all bucket, host ''). */
export interface HostBucket {
  host: string;
  routes: Route[];
  defaultBackend?: { backend: ResolvedBackend; ingress: string; annotations: IngressAnnotations };
  /** A TLS secret covers this host (turns on the HTTP→HTTPS redirect unless disabled). */
  tls: boolean;
}

/** A TLS certificate for a set of SNI names. */
export interface TlsCert {
  /** `namespace/secretName` */
  secret: string;
  resourceVersion: string;
  certPem: string;
  keyPem: string;
}

/** Outcome of a lookup. */
export type Match =
  | {
      kind: 'route';
      bucket: HostBucket;
      route: Route | undefined;
      backend: ResolvedBackend;
      annotations: IngressAnnotations;
      ingress: string;
      /** Rewritten upstream path (rewrite-target), else the request path. */
      upstreamPath: string;
    }
  | { kind: 'none'; bucket: HostBucket | undefined };

/** Everything the table is built from. */
export interface RouteInputs {
  ingressClasses: readonly IngressClass[];
  ingresses: readonly Ingress[];
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  secrets: readonly {
    metadata: { namespace?: string; name?: string; resourceVersion?: string };
    type?: string;
    data?: Record<string, string>;
  }[];
  /** Our controller name (IngressClass spec.controller). Default `podnet.dev/ingress`. */
  controllerName?: string;
  /** Serve only this IngressClass (of ours). */
  ingressClassName?: string;
}

/** A problem met while building (an Ingress path that cannot be used, a bad secret…). */
export interface BuildWarning {
  ingress?: string;
  message: string;
}

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) =>
  `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/** Orders Ingresses oldest first (creationTimestamp, then namespace/name): the conflict rule. */
export function compareAge(a: Ingress, b: Ingress): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  const ka = keyOf(a);
  const kb = keyOf(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Which of `ingresses` this controller serves (see module comment). */
export function selectIngresses(
  ingresses: readonly Ingress[],
  classes: readonly IngressClass[],
  controllerName = DEFAULT_CONTROLLER_NAME,
  ingressClassName?: string,
): Ingress[] {
  const ours = classes.filter(
    (c) =>
      c.spec?.controller === controllerName &&
      (ingressClassName === undefined || c.metadata.name === ingressClassName),
  );
  const names = new Set(ours.map((c) => c.metadata.name));
  const isDefault = ours.some((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  return ingresses.filter((ing) => {
    if (ing.metadata.deletionTimestamp) return false;
    const cls = ing.spec?.ingressClassName ?? ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
    return cls ? names.has(cls) : isDefault;
  });
}

/** True when `host` matches the rule host `pattern` (exact, or `*.` + exactly one label). */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (!p.startsWith('*.')) return p === h;
  const dot = h.indexOf('.');
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

/** Element-wise prefix match of a normalised request path against a normalised Prefix rule path. */
export function prefixMatches(rulePath: string, reqPath: string): boolean {
  if (rulePath === '/') return true;
  if (!reqPath.startsWith(rulePath)) return false;
  return reqPath.length === rulePath.length || reqPath[rulePath.length] === '/';
}

/** Services, slices and secrets indexed for the build. */
class Lookups {
  readonly services = new Map<string, Service>();
  readonly slices = new Map<string, EndpointSlice[]>();
  readonly secrets = new Map<string, RouteInputs['secrets'][number]>();
  private readonly resolved = new Map<string, ResolvedBackend>();

  constructor(inp: RouteInputs) {
    for (const s of inp.services) this.services.set(keyOf(s), s);
    for (const sl of inp.endpointSlices) {
      const svc = sl.metadata.labels?.[SERVICE_NAME_LABEL];
      if (!svc) continue;
      const k = `${sl.metadata.namespace ?? ''}/${svc}`;
      let l = this.slices.get(k);
      if (!l) {
        l = [];
        this.slices.set(k, l);
      }
      l.push(sl);
    }
    for (const s of inp.secrets) this.secrets.set(keyOf(s as any), s);
  }

  /** Resolves a backend of an Ingress in `namespace` to ready endpoints (cached per build). */
  backend(namespace: string, b: IngressBackend, protocol: 'HTTP' | 'HTTPS'): ResolvedBackend {
    const svcName = b.service?.name ?? '';
    const portSpec = b.service?.port;
    const portText = portSpec?.name ?? String(portSpec?.number ?? '');
    const key = `${namespace}/${svcName}:${portText}`;
    const cacheKey = `${key}|${protocol}`;
    const hit = this.resolved.get(cacheKey);
    if (hit) return hit;
    const out: ResolvedBackend = { key, namespace, service: svcName, endpoints: [], protocol };
    this.resolved.set(cacheKey, out);
    if (!b.service) {
      out.reason = b.resource ? `resource backends (${b.resource.kind}) are not supported` : 'no service';
      return out;
    }
    const svc = this.services.get(`${namespace}/${svcName}`);
    if (!svc) {
      out.reason = `service ${namespace}/${svcName} not found`;
      return out;
    }
    if (svc.spec?.type === 'ExternalName') {
      out.reason = `service ${namespace}/${svcName} is ExternalName (not supported)`;
      return out;
    }
    const sp = (svc.spec?.ports ?? []).find((p) =>
      portSpec?.name !== undefined ? p.name === portSpec.name : p.port === portSpec?.number,
    );
    if (!sp) {
      out.reason = `service ${namespace}/${svcName} has no port ${portText}`;
      return out;
    }
    if ((sp.protocol ?? 'TCP') !== 'TCP') {
      out.reason = `service port ${portText} is not TCP`;
      return out;
    }
    // The slice port carrying the target port has the service port's name ('' when unnamed).
    const seen = new Set<string>();
    for (const sl of this.slices.get(`${namespace}/${svcName}`) ?? []) {
      if (sl.addressType !== 'IPv4' && sl.addressType !== 'IPv6') continue;
      const port = (sl.ports ?? []).find(
        (p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === 'TCP',
      );
      if (!port?.port) continue;
      for (const ep of sl.endpoints ?? []) {
        // nil ready means ready (discovery/v1); terminating endpoints are not ready.
        if (ep.conditions?.ready === false) continue;
        const ip = ep.addresses?.[0];
        if (!ip) continue;
        const k = `${ip}:${port.port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        out.endpoints.push({ ip, port: port.port });
      }
    }
    out.endpoints.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
    if (out.endpoints.length === 0) out.reason = `service ${namespace}/${svcName} has no ready endpoints`;
    return out;
  }
}

/** Sort order within a bucket: longer path first; Exact < Prefix < Regex at equal length. */
function compareRoutes(a: Route, b: Route): number {
  if (a.path.length !== b.path.length) return b.path.length - a.path.length;
  const rank = { Exact: 0, Prefix: 1, Regex: 2 } as const;
  return rank[a.kind] - rank[b.kind];
}

/** An immutable route table. */
export class RouteTable {
  /** Exact hosts → bucket. */
  readonly hosts = new Map<string, HostBucket>();
  /** `*.suffix` patterns → bucket, keyed by the suffix ("a.com" for "*.a.com"). */
  readonly wildcards = new Map<string, HostBucket>();
  /** Rules without a host (and the global default backend). */
  readonly catchAll: HostBucket = { host: '', routes: [], tls: false };
  /** SNI name (exact or `*.suffix`) → certificate. */
  readonly certs = new Map<string, TlsCert>();
  /** The Ingresses served (`namespace/name`), for status write-back. */
  readonly served: string[] = [];
  readonly warnings: BuildWarning[] = [];

  /** The bucket for a request host (already lower-case, no port). */
  bucketFor(host: string): HostBucket | undefined {
    const exact = this.hosts.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    if (dot > 0) {
      const w = this.wildcards.get(host.slice(dot + 1));
      if (w) return w;
    }
    return this.catchAll.routes.length > 0 || this.catchAll.defaultBackend ? this.catchAll : undefined;
  }

  /** True when `host` is one we route (for refusing absolute-form targets of other hosts). */
  servesHost(host: string): boolean {
    return this.bucketFor(host) !== undefined;
  }

  /** The certificate for an SNI name, if a secret covers it. */
  certFor(servername: string): TlsCert | undefined {
    const h = servername.toLowerCase();
    const exact = this.certs.get(h);
    if (exact) return exact;
    const dot = h.indexOf('.');
    return dot > 0 ? this.certs.get(`*.${h.slice(dot + 1)}`) : undefined;
  }

  /** Finds the route for `host` (lower-case, no port) and a normalised `path`. */
  lookup(host: string, path: string): Match {
    const bucket = this.bucketFor(host);
    if (!bucket) return { kind: 'none', bucket: undefined };
    for (const r of bucket.routes) {
      const m = r.kind === 'Regex' ? r.regex!.exec(path) : null;
      const hit =
        r.kind === 'Exact' ? path === r.path : r.kind === 'Prefix' ? prefixMatches(r.path, path) : m !== null;
      if (hit) {
        return {
          kind: 'route',
          bucket,
          route: r,
          backend: r.backend,
          annotations: r.annotations,
          ingress: r.ingress,
          upstreamPath: rewrite(r, path, m),
        };
      }
    }
    const d = bucket.defaultBackend ?? (bucket !== this.catchAll ? this.catchAll.defaultBackend : undefined);
    if (d) {
      return {
        kind: 'route',
        bucket,
        route: undefined,
        backend: d.backend,
        annotations: d.annotations,
        ingress: d.ingress,
        upstreamPath: path,
      };
    }
    return { kind: 'none', bucket };
  }
}

/** Applies rewrite-target (nginx `rewrite <path-regex> <target> break`): the whole path is replaced. */
function rewrite(r: Route, path: string, m: RegExpExecArray | null): string {
  const target = r.annotations.rewriteTarget;
  if (target === undefined) return path;
  const groups = m ?? r.regex?.exec(path) ?? [path];
  const out = target.replace(/\$(\d)/g, (_s, d: string) => groups[Number(d)] ?? '');
  return out.startsWith('/') ? out : `/${out}`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Builds the route table. Pure: same inputs, same table. */
export function buildRouteTable(inp: RouteInputs): RouteTable {
  const t = new RouteTable();
  const look = new Lookups(inp);
  const served = selectIngresses(
    inp.ingresses,
    inp.ingressClasses,
    inp.controllerName ?? DEFAULT_CONTROLLER_NAME,
    inp.ingressClassName,
  ).sort(compareAge);
  const bucket = (host: string | undefined): HostBucket => {
    if (!host) return t.catchAll;
    const h = host.toLowerCase();
    const map = h.startsWith('*.') ? t.wildcards : t.hosts;
    const k = h.startsWith('*.') ? h.slice(2) : h;
    let b = map.get(k);
    if (!b) {
      b = { host: h, routes: [], tls: false };
      map.set(k, b);
    }
    return b;
  };
  const canaries: Array<{ ing: Ingress; ann: IngressAnnotations }> = [];
  const routeKeys = new Map<HostBucket, Map<string, Route>>();
  for (const ing of served) {
    const ns = ing.metadata.namespace ?? 'default';
    const name = keyOf(ing);
    const { annotations: ann, warnings } = parseAnnotations(ing.metadata.annotations ?? {});
    for (const w of warnings) t.warnings.push({ ingress: name, message: w });
    t.served.push(name);
    if (ann.canary) {
      canaries.push({ ing, ann });
      continue;
    }
    // TLS: hosts → secret; the oldest Ingress claiming a host wins.
    for (const tls of ing.spec?.tls ?? []) {
      const cert = tls.secretName ? tlsCert(look, ns, tls.secretName, name, t.warnings) : undefined;
      for (const h of tls.hosts ?? []) {
        const lh = h.toLowerCase();
        if (cert && !t.certs.has(lh)) t.certs.set(lh, cert);
        bucket(lh).tls = true;
      }
    }
    if (ing.spec?.defaultBackend) {
      const d = {
        backend: look.backend(ns, ing.spec.defaultBackend, ann.backendProtocol),
        ingress: name,
        annotations: ann,
      };
      t.catchAll.defaultBackend ??= d;
      for (const rule of ing.spec.rules ?? []) if (rule.host) bucket(rule.host).defaultBackend ??= d;
    }
    for (const rule of ing.spec?.rules ?? []) {
      const b = bucket(rule.host);
      let keys = routeKeys.get(b);
      if (!keys) {
        keys = new Map();
        routeKeys.set(b, keys);
      }
      for (const p of rule.http?.paths ?? []) {
        const route = makeRoute(look, ns, name, p, ann, t.warnings);
        if (!route) continue;
        const k = `${route.kind} ${route.path}`;
        if (keys.has(k)) {
          t.warnings.push({
            ingress: name,
            message: `host "${b.host}" ${k} is already served by ${keys.get(k)!.ingress} (older wins)`,
          });
          continue;
        }
        keys.set(k, route);
        b.routes.push(route);
      }
    }
  }
  // Canaries attach to the main route with the same host, path and type.
  for (const { ing, ann } of canaries) {
    const ns = ing.metadata.namespace ?? 'default';
    const name = keyOf(ing);
    for (const rule of ing.spec?.rules ?? []) {
      const b = bucket(rule.host);
      for (const p of rule.http?.paths ?? []) {
        const probe = makeRoute(look, ns, name, p, ann, t.warnings);
        if (!probe) continue;
        const main = routeKeys.get(b)?.get(`${probe.kind} ${probe.path}`);
        if (!main) {
          t.warnings.push({
            ingress: name,
            message: `canary for "${b.host}" ${probe.path} has no main route`,
          });
          continue;
        }
        if (main.canary) continue;
        main.canary = {
          backend: probe.backend,
          weight: ann.canaryWeight,
          header: ann.canaryByHeader,
          headerValue: ann.canaryByHeaderValue,
          ingress: name,
        };
      }
    }
  }
  for (const b of [t.catchAll, ...t.hosts.values(), ...t.wildcards.values()]) b.routes.sort(compareRoutes);
  return t;
}

function makeRoute(
  look: Lookups,
  ns: string,
  ingress: string,
  p: { path?: string; pathType: string; backend: IngressBackend },
  ann: IngressAnnotations,
  warnings: BuildWarning[],
): Route | undefined {
  const backend = look.backend(ns, p.backend, ann.backendProtocol);
  const raw = p.path || '/';
  if (ann.useRegex || ann.rewriteTarget !== undefined) {
    try {
      return {
        kind: p.pathType === 'Exact' ? 'Exact' : 'Regex',
        path: raw,
        regex: new RegExp(p.pathType === 'Exact' ? `^${escapeRegex(raw)}$` : `^${raw}`, 'i'),
        backend,
        ingress,
        annotations: ann,
      };
    } catch (e) {
      warnings.push({ ingress, message: `path "${raw}": invalid regex: ${(e as Error).message}` });
      return undefined;
    }
  }
  let path: string;
  try {
    path = normalizePath(raw);
  } catch (e) {
    if (!(e instanceof BadPathError)) throw e;
    warnings.push({ ingress, message: `path "${raw}": ${e.message}` });
    return undefined;
  }
  if (p.pathType === 'Exact') return { kind: 'Exact', path, backend, ingress, annotations: ann };
  // Prefix and ImplementationSpecific: the rule's trailing slash is ignored.
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { kind: 'Prefix', path, backend, ingress, annotations: ann };
}

function tlsCert(
  look: Lookups,
  ns: string,
  secretName: string,
  ingress: string,
  warnings: BuildWarning[],
): TlsCert | undefined {
  const s = look.secrets.get(`${ns}/${secretName}`);
  const where = `secret ${ns}/${secretName}`;
  if (!s) {
    warnings.push({ ingress, message: `${where} not found (default certificate used)` });
    return undefined;
  }
  const crt = s.data?.['tls.crt'];
  const key = s.data?.['tls.key'];
  if (!crt || !key) {
    warnings.push({ ingress, message: `${where}: data["tls.crt"] and data["tls.key"] are required` });
    return undefined;
  }
  return {
    secret: `${ns}/${secretName}`,
    resourceVersion: s.metadata.resourceVersion ?? '',
    certPem: Buffer.from(crt, 'base64').toString('utf8'),
    keyPem: Buffer.from(key, 'base64').toString('utf8'),
  };
}
