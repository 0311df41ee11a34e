/**
 * A container's environment and a pod's name resolution files, built as the kubelet builds them:
 * `env` (literal values, `$(VAR)` expansion, fieldRef, configMapKeyRef, secretKeyRef), `envFrom`,
 * the Service link variables (`<SVC>_SERVICE_HOST`, `<SVC>_PORT_<p>_TCP`…) for the Services of the
 * pod's namespace that exist when the container starts, and the pod's resolv.conf and /etc/hosts.
 * Pure functions: the caller fetches the ConfigMaps, Secrets and Services.
 */
import type { ConfigMap, Container, Pod, Secret, Service } from '../api/index.ts';

/** A container environment that cannot be built (kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  readonly reason = 'CreateContainerConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/** Objects the environment may reference, fetched by the caller. */
export interface EnvSources {
  configMaps: Map<string, ConfigMap>;
  secrets: Map<string, Secret>;
  /** Services of the pod's namespace (plus `kubernetes` of `default`). */
  services: Service[];
}

/** Expands `$(NAME)` references from `vars`; `$$` is a literal `$`; unknown references stay. */
export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? vars[name] : m;
  });
}

/** The value a downward-API fieldRef names. */
export function fieldRefValue(pod: Pod, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
    case 'status.hostIPs':
      return (pod.status?.hostIPs ?? []).map((i) => i.ip).join(',');
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.podIPs':
      return (pod.status?.podIPs ?? []).map((i) => i.ip).join(',');
    default:
      throw new ContainerConfigError(`env fieldRef.fieldPath: unsupported field "${path}"`);
  }
}

function envName(svcName: string): string {
  return svcName.toUpperCase().replace(/-/g, '_');
}

/** The Service link variables of `services` (kubelet's FromServices). */
export function serviceEnv(services: Service[]): Record<string, string> {
  const env: Record<string, string> = {};
  const sorted = [...services].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const s of sorted) {
    const ip = s.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const ports = s.spec?.ports ?? [];
    if (ports.length === 0) continue;
    const n = envName(s.metadata.name ?? '');
    env[`${n}_SERVICE_HOST`] = ip;
    env[`${n}_SERVICE_PORT`] = String(ports[0].port);
    for (const p of ports) if (p.name) env[`${n}_SERVICE_PORT_${envName(p.name)}`] = String(p.port);
    const host = ip.includes(':') ? `[${ip}]` : ip;
    const proto0 = (ports[0].protocol ?? 'TCP').toLowerCase();
    env[`${n}_PORT`] = `${proto0}://${host}:${ports[0].port}`;
    for (const p of ports) {
      const proto = p.protocol ?? 'TCP';
      const pre = `${n}_PORT_${p.port}_${proto}`;
      env[pre] = `${proto.toLowerCase()}://${host}:${p.port}`;
      env[`${pre}_PROTO`] = proto.toLowerCase();
      env[`${pre}_PORT`] = String(p.port);
      env[`${pre}_ADDR`] = ip;
    }
  }
  return env;
}

function keyRef(
  kind: 'configmap' | 'secret',
  ref: { name?: string; key: string; optional?: boolean },
  src: EnvSources,
): string | undefined {
  const obj = kind === 'configmap' ? src.configMaps.get(ref.name ?? '') : src.secrets.get(ref.name ?? '');
  if (!obj) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
  }
  const raw = obj.data?.[ref.key];
  if (raw === undefined) {
    if (ref.optional) return undefined;
    throw new ContainerConfigError(
      `couldn't find key ${ref.key} in ${kind === 'configmap' ? 'ConfigMap' : 'Secret'} ${obj.metadata.namespace}/${ref.name}`,
    );
  }
  return kind === 'secret' ? Buffer.from(raw, 'base64').toString() : raw;
}

/**
 * The environment of container `c` of `pod`, in kubelet's order: service links (unless
 * enableServiceLinks is false), then envFrom, then env — later entries win; `$(VAR)` in env values
 * expands against the variables defined before.
 */
export function containerEnv(pod: Pod, c: Container, src: EnvSources): Record<string, string> {
  const env: Record<string, string> = {};
  const ns = pod.metadata.namespace ?? 'default';
  const links =
    pod.spec?.enableServiceLinks === false
      ? src.services.filter((s) => s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes')
      : src.services;
  // Services of the pod's own namespace win over the master `kubernetes` service of default.
  const own = links.filter((s) => s.metadata.namespace === ns);
  const master = links.filter(
    (s) => s.metadata.namespace !== ns && !own.some((o) => o.metadata.name === s.metadata.name),
  );
  Object.assign(env, serviceEnv(master), serviceEnv(own));
  for (const ef of c.envFrom ?? []) {
    const kind = ef.configMapRef ? 'configmap' : 'secret';
    const ref = ef.configMapRef ?? ef.secretRef;
    if (!ref) continue;
    const obj = kind === 'configmap' ? src.configMaps.get(ref.name ?? '') : src.secrets.get(ref.name ?? '');
    if (!obj) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(obj.data ?? {}))
      env[`${ef.prefix ?? ''}${k}`] = kind === 'secret' ? Buffer.from(v, 'base64').toString() : v;
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom) {
      const vf = e.valueFrom;
      let v: string | undefined;
      if (vf.fieldRef) v = fieldRefValue(pod, vf.fieldRef.fieldPath);
      else if (vf.configMapKeyRef) v = keyRef('configmap', vf.configMapKeyRef, src);
      else if (vf.secretKeyRef) v = keyRef('secret', vf.secretKeyRef, src);
      else if (vf.resourceFieldRef) v = '0';
      if (v !== undefined) env[e.name] = v;
    } else env[e.name] = expandVars(e.value ?? '', env);
  }
  return env;
}

/** DNS settings of the node. */
export interface DnsSettings {
  clusterDNS?: string;
  clusterDomain: string;
  /** The node's own resolv.conf text (for dnsPolicy Default). */
  hostResolvConf?: string;
}

/**
 * The pod's resolv.conf, or undefined to let the pod see the node's (dnsPolicy Default, or
 * ClusterFirst without a cluster DNS, as the kubelet falls back).
 */
export function resolvConf(pod: Pod, d: DnsSettings): string | undefined {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const ns = pod.metadata.namespace ?? 'default';
  let servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === 'ClusterFirst' || (policy === 'ClusterFirstWithHostNet' && pod.spec?.hostNetwork)) {
    if (!d.clusterDNS) return extra(undefined);
    servers = [d.clusterDNS];
    searches = [`${ns}.svc.${d.clusterDomain}`, `svc.${d.clusterDomain}`, d.clusterDomain];
    options = ['ndots:5'];
  } else if (policy !== 'None') return extra(undefined);
  return extra({ servers, searches, options });

  function extra(base: { servers: string[]; searches: string[]; options: string[] } | undefined) {
    const cfg = pod.spec?.dnsConfig;
    if (!base && !cfg) return undefined;
    const b = base ?? { servers: [], searches: [], options: [] };
    if (!base && d.hostResolvConf) {
      for (const line of d.hostResolvConf.split('\n')) {
        const [k, ...rest] = line.trim().split(/\s+/);
        if (k === 'nameserver' && rest[0]) b.servers.push(rest[0]);
        else if (k === 'search') b.searches.push(...rest);
        else if (k === 'options') b.options.push(...rest);
      }
    }
    for (const s of cfg?.nameservers ?? []) if (!b.servers.includes(s)) b.servers.push(s);
    for (const s of cfg?.searches ?? []) if (!b.searches.includes(s)) b.searches.push(s);
    for (const o of cfg?.options ?? []) {
      const text = o.value !== undefined ? `${o.name}:${o.value}` : o.name;
      b.options = b.options.filter((x) => x.split(':')[0] !== o.name);
      b.options.push(text);
    }
    const lines = [
      ...(b.searches.length ? [`search ${b.searches.join(' ')}`] : []),
      ...b.servers.slice(0, 3).map((s) => `nameserver ${s}`),
      ...(b.options.length ? [`options ${b.options.join(' ')}`] : []),
    ];
    return `${lines.join('\n')}\n`;
  }
}

/** The pod's /etc/hosts: localhost, its own address under its hostname, and hostAliases. */
export function hostsFile(pod: Pod, podIPs: string[], clusterDomain: string): string {
  const hostname = pod.spec?.hostname ?? pod.metadata.name ?? '';
  const ns = pod.metadata.namespace ?? 'default';
  const lines = [
    '# Kubernetes-managed hosts file (podnet).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  const fqdn = pod.spec?.subdomain
    ? `${hostname}.${pod.spec.subdomain}.${ns}.svc.${clusterDomain}`
    : undefined;
  for (const ip of podIPs) lines.push(fqdn ? `${ip}\t${fqdn}\t${hostname}` : `${ip}\t${hostname}`);
  const aliases = pod.spec?.hostAliases ?? [];
  if (aliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return `${lines.join('\n')}\n`;
}
