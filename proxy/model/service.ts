/**
 * Derives ServicePortInfo records from a v1 Service, the way upstream's newBaseServiceInfo does:
 * one record per port, headless and ExternalName services skipped, only the IPv4 family kept
 * (podnet's clusters are single-stack IPv4).
 */
import {
  DEFAULT_AFFINITY_SECONDS,
  type Protocol,
  type ServiceObject,
  type ServicePortInfo,
  servicePortNameString,
} from './types.ts';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** True for a dotted-quad IPv4 address. */
export function isIPv4(s: string | undefined): s is string {
  const m = s ? IPV4.exec(s) : null;
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}

/** The IPv4 ClusterIP of a service, or undefined for headless/unset/IPv6-only. */
export function serviceClusterIPv4(svc: ServiceObject): string | undefined {
  const spec = svc.spec ?? {};
  const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.find((ip) => isIPv4(ip));
}

/** Whether traffic can reach this service from outside the cluster (upstream ExternallyAccessible). */
export function externallyAccessible(svc: ServiceObject): boolean {
  const t = svc.spec?.type ?? 'ClusterIP';
  return t === 'NodePort' || t === 'LoadBalancer' || (svc.spec?.externalIPs?.length ?? 0) > 0;
}

/** Key of a service port record: `ns/name[:port]/PROTO`. */
export function servicePortKey(nameString: string, protocol: Protocol): string {
  return `${nameString}/${protocol}`;
}

/**
 * All ServicePortInfo records for one Service. Headless (`clusterIP: None`), ExternalName and
 * services without an IPv4 ClusterIP yield none, as upstream skips them.
 */
export function servicePortsFromService(svc: ServiceObject): ServicePortInfo[] {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return [];
  const clusterIP = serviceClusterIPv4(svc);
  if (!clusterIP) return [];
  const namespace = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name ?? '';
  const externallyReachable = externallyAccessible(svc);
  const externalPolicyLocal = externallyReachable && spec.externalTrafficPolicy === 'Local';
  const affinity: ServicePortInfo['sessionAffinity'] =
    spec.sessionAffinity === 'ClientIP'
      ? {
          type: 'ClientIP',
          timeoutSeconds: spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS,
        }
      : { type: 'None' };
  const lbVIPs =
    spec.type === 'LoadBalancer'
      ? (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip) => isIPv4(ip))
      : [];
  return (spec.ports ?? []).map((p) => {
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    const portName = p.name ?? '';
    const nameString = servicePortNameString({ namespace, name, port: portName });
    const nodePort = spec.type === 'NodePort' || spec.type === 'LoadBalancer' ? (p.nodePort ?? 0) : 0;
    return {
      key: servicePortKey(nameString, protocol),
      name: { namespace, name, port: portName, protocol },
      nameString,
      clusterIP,
      port: p.port,
      protocol,
      targetPort: p.targetPort,
      nodePort,
      externalIPs: (spec.externalIPs ?? []).filter((ip) => isIPv4(ip)),
      loadBalancerVIPs: lbVIPs as string[],
      loadBalancerSourceRanges: spec.type === 'LoadBalancer' ? (spec.loadBalancerSourceRanges ?? []) : [],
      sessionAffinity: affinity,
      externalPolicyLocal,
      internalPolicyLocal: spec.internalTrafficPolicy === 'Local',
      healthCheckNodePort:
        spec.type === 'LoadBalancer' && externalPolicyLocal ? (spec.healthCheckNodePort ?? 0) : 0,
    } satisfies ServicePortInfo;
  });
}

/** Upstream ServicePort.UsesClusterEndpoints: some traffic goes to endpoints on any node. */
export function usesClusterEndpoints(s: ServicePortInfo): boolean {
  return !s.internalPolicyLocal || (isExternallyAccessible(s) && !s.externalPolicyLocal);
}

/** Upstream ServicePort.UsesLocalEndpoints: some traffic goes only to this node's endpoints. */
export function usesLocalEndpoints(s: ServicePortInfo): boolean {
  return s.internalPolicyLocal || (isExternallyAccessible(s) && s.externalPolicyLocal);
}

/** Whether a derived record has any external destination (NodePort, externalIP, LB VIP). */
export function isExternallyAccessible(s: ServicePortInfo): boolean {
  return s.nodePort !== 0 || s.externalIPs.length > 0 || s.loadBalancerVIPs.length > 0;
}
