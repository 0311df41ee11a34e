/**
 * Defaulting, as the API server applies it to every object it decodes (create, update, patch):
 * the values Kubernetes' SetDefaults_* functions and registry strategies fill in, so that what a
 * user reads back (`kubectl get -o yaml`) matches a real cluster and every consumer can rely on
 * fields like `protocol`, `targetPort` and `type` being set. Defaulting never overwrites a value.
 */

import ipaddr from 'ipaddr.js';
import { isValidQuantity, parseQuantity } from './quantity.ts';
import type { ResourceInfo } from './resources.ts';
import type { KubeObject } from './types.ts';

type Obj = Record<string, any>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets `o[k] = v` when `o[k]` is undefined or null. */
function dflt(o: Obj, k: string, v: unknown): void {
  if (o[k] === undefined || o[k] === null) o[k] = v;
}

/**
 * Fills in defaults on `obj` in place, for the kind `res` describes. Unknown kinds are left alone.
 * Safe to call repeatedly (idempotent).
 */
export function applyDefaults(res: ResourceInfo, obj: KubeObject): void {
  if (!isObj(obj)) return;
  if (!isObj(obj.metadata)) obj.metadata = {};
  switch (res.kind) {
    case 'Pod':
      if (!isObj(obj.spec)) obj.spec = { containers: [] };
      defaultPodSpec(obj.spec);
      if (!isObj(obj.status)) obj.status = {};
      dflt(obj.status, 'phase', 'Pending');
      dflt(obj.status, 'qosClass', qosClass(obj.spec));
      break;
    case 'Service':
      if (!isObj(obj.spec)) obj.spec = {};
      defaultServiceSpec(obj.spec);
      if (!isObj(obj.status)) obj.status = { loadBalancer: {} };
      break;
    case 'Endpoints':
      for (const s of arr(obj.subsets))
        for (const p of arr(s?.ports)) if (isObj(p)) dflt(p, 'protocol', 'TCP');
      break;
    case 'EndpointSlice':
      for (const p of arr(obj.ports))
        if (isObj(p)) {
          dflt(p, 'name', '');
          dflt(p, 'protocol', 'TCP');
        }
      if (obj.endpoints === undefined || obj.endpoints === null) obj.endpoints = [];
      break;
    case 'Node':
      if (isObj(obj.status) && isObj(obj.status.capacity) && !isObj(obj.status.allocatable))
        obj.status.allocatable = { ...obj.status.capacity };
      break;
    case 'Namespace': {
      const name = obj.metadata.name;
      if (name) {
        // Since 1.21 every namespace carries its own name as an immutable label.
        if (!isObj(obj.metadata.labels)) obj.metadata.labels = {};
        obj.metadata.labels['kubernetes.io/metadata.name'] = name;
      }
      if (!isObj(obj.spec)) obj.spec = {};
      dflt(obj.spec, 'finalizers', ['kubernetes']);
      if (!isObj(obj.status)) obj.status = {};
      dflt(obj.status, 'phase', 'Active');
      break;
    }
    case 'Secret':
      dflt(obj as Obj, 'type', 'Opaque');
      break;
    case 'Deployment':
      if (!isObj(obj.spec)) obj.spec = {};
      defaultDeploymentSpec(obj.spec);
      break;
    case 'ReplicaSet':
      if (!isObj(obj.spec)) obj.spec = {};
      dflt(obj.spec, 'replicas', 1);
      defaultTemplate(obj.spec);
      break;
    case 'NetworkPolicy':
      if (!isObj(obj.spec)) obj.spec = {};
      defaultNetworkPolicySpec(obj.spec);
      break;
    // Ingress (pathType has no default in v1), IngressClass, ConfigMap: nothing to default.
  }
}

function arr(v: unknown): any[] {
  return Array.isArray(v) ? v : [];
}

// ---- Pod ----------------------------------------------------------------------------------

/** Defaults a PodSpec in place (also used for Deployment/ReplicaSet pod templates). */
export function defaultPodSpec(spec: Obj): void {
  dflt(spec, 'restartPolicy', 'Always');
  dflt(spec, 'dnsPolicy', 'ClusterFirst');
  dflt(spec, 'terminationGracePeriodSeconds', 30);
  dflt(spec, 'schedulerName', 'default-scheduler');
  dflt(spec, 'securityContext', {});
  dflt(spec, 'enableServiceLinks', true);
  // The ServiceAccount admission plugin gives every pod the "default" account; the deprecated
  // alias mirrors the real field.
  if (!spec.serviceAccountName && spec.serviceAccount) spec.serviceAccountName = spec.serviceAccount;
  dflt(spec, 'serviceAccountName', 'default');
  if (!spec.serviceAccount) spec.serviceAccount = spec.serviceAccountName;
  dflt(spec, 'preemptionPolicy', 'PreemptLowerPriority');
  dflt(spec, 'priority', 0);
  if (!Array.isArray(spec.containers)) spec.containers = [];
  for (const c of spec.containers) if (isObj(c)) defaultContainer(c, spec.hostNetwork === true);
  for (const c of arr(spec.initContainers)) if (isObj(c)) defaultContainer(c, spec.hostNetwork === true);
  for (const v of arr(spec.volumes)) if (isObj(v)) defaultVolume(v);
  for (const t of arr(spec.tolerations))
    if (isObj(t) && t.operator === undefined && t.key) t.operator = 'Equal';
}

function defaultContainer(c: Obj, hostNetwork: boolean): void {
  dflt(c, 'terminationMessagePath', '/dev/termination-log');
  dflt(c, 'terminationMessagePolicy', 'File');
  if (!c.imagePullPolicy && typeof c.image === 'string') c.imagePullPolicy = defaultPullPolicy(c.image);
  for (const p of arr(c.ports)) {
    if (!isObj(p)) continue;
    dflt(p, 'protocol', 'TCP');
    // With hostNetwork the container listens on the node: its hostPort is its containerPort.
    if (hostNetwork && !p.hostPort && p.containerPort) p.hostPort = p.containerPort;
  }
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe])
    if (isObj(probe)) defaultProbe(probe);
  for (const h of [c.lifecycle?.postStart, c.lifecycle?.preStop]) if (isObj(h)) defaultHandler(h);
  for (const e of arr(c.env))
    if (isObj(e?.valueFrom?.fieldRef)) dflt(e.valueFrom.fieldRef, 'apiVersion', 'v1');
  if (isObj(c.resources) && isObj(c.resources.limits)) {
    // Requests default to limits for every resource that has a limit but no request.
    if (!isObj(c.resources.requests)) c.resources.requests = {};
    for (const [k, v] of Object.entries(c.resources.limits)) dflt(c.resources.requests, k, v);
  } else if (c.resources === undefined) {
    c.resources = {};
  }
}

/** `Always` for `:latest` or untagged images, else `IfNotPresent` (digests count as tagged). */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  const tag = colon >= 0 ? lastSegment.slice(colon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultHandler(h: Obj): void {
  if (isObj(h.httpGet)) {
    dflt(h.httpGet, 'path', '/');
    dflt(h.httpGet, 'scheme', 'HTTP');
  }
  if (isObj(h.grpc)) dflt(h.grpc, 'service', '');
}

function defaultProbe(p: Obj): void {
  defaultHandler(p);
  dflt(p, 'timeoutSeconds', 1);
  dflt(p, 'periodSeconds', 10);
  dflt(p, 'successThreshold', 1);
  dflt(p, 'failureThreshold', 3);
}

function defaultVolume(v: Obj): void {
  if (!Object.keys(v).some((k) => k !== 'name')) v.emptyDir = {};
  if (isObj(v.configMap)) dflt(v.configMap, 'defaultMode', 0o644);
  if (isObj(v.secret)) dflt(v.secret, 'defaultMode', 0o644);
  if (isObj(v.downwardAPI)) dflt(v.downwardAPI, 'defaultMode', 0o644);
  if (isObj(v.projected)) dflt(v.projected, 'defaultMode', 0o644);
  if (isObj(v.hostPath)) dflt(v.hostPath, 'type', '');
}

/**
 * The QoS class of a pod spec: Guaranteed when every container has equal cpu and memory
 * requests and limits, BestEffort when none has any, else Burstable.
 */
export function qosClass(spec: Obj): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const all = [...arr(spec.containers), ...arr(spec.initContainers)].filter(isObj);
  let any = false;
  let guaranteed = all.length > 0;
  for (const c of all) {
    const req = isObj(c.resources?.requests) ? c.resources.requests : {};
    const lim = isObj(c.resources?.limits) ? c.resources.limits : {};
    for (const r of ['cpu', 'memory']) {
      const q = req[r] ?? lim[r];
      if (q !== undefined && isValidQuantity(q) && parseQuantity(q) !== 0) any = true;
      const l = lim[r];
      const rq = req[r] ?? l;
      if (
        l === undefined ||
        !isValidQuantity(l) ||
        !isValidQuantity(rq) ||
        parseQuantity(l) !== parseQuantity(rq)
      )
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

// ---- Service ------------------------------------------------------------------------------

function defaultServiceSpec(spec: Obj): void {
  dflt(spec, 'type', 'ClusterIP');
  dflt(spec, 'sessionAffinity', 'None');
  if (spec.sessionAffinity === 'ClientIP') {
    if (!isObj(spec.sessionAffinityConfig)) spec.sessionAffinityConfig = {};
    if (!isObj(spec.sessionAffinityConfig.clientIP)) spec.sessionAffinityConfig.clientIP = {};
    dflt(spec.sessionAffinityConfig.clientIP, 'timeoutSeconds', 10800);
  }
  for (const p of arr(spec.ports)) {
    if (!isObj(p)) continue;
    dflt(p, 'protocol', 'TCP');
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '')
      p.targetPort = p.port;
  }
  const type = spec.type;
  if ((type === 'NodePort' || type === 'LoadBalancer') && !spec.externalTrafficPolicy)
    spec.externalTrafficPolicy = 'Cluster';
  if (type === 'LoadBalancer') dflt(spec, 'allocateLoadBalancerNodePorts', true);
  if (type === 'ExternalName') return;
  dflt(spec, 'internalTrafficPolicy', 'Cluster');
  // clusterIP and clusterIPs mirror each other (the registry's normalisation).
  if (spec.clusterIP && !(Array.isArray(spec.clusterIPs) && spec.clusterIPs.length))
    spec.clusterIPs = [spec.clusterIP];
  if (!spec.clusterIP && Array.isArray(spec.clusterIPs) && spec.clusterIPs.length)
    spec.clusterIP = spec.clusterIPs[0];
  dflt(spec, 'ipFamilyPolicy', 'SingleStack');
  if (!Array.isArray(spec.ipFamilies) || spec.ipFamilies.length === 0) {
    const ips: unknown[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    const fams = ips
      .filter((ip): ip is string => typeof ip === 'string' && ip !== 'None' && ipaddr.isValid(ip))
      .map((ip) => (ipaddr.parse(ip).kind() === 'ipv6' ? 'IPv6' : 'IPv4'));
    spec.ipFamilies = fams.length ? fams : ['IPv4'];
  }
}

// ---- apps -----------------------------------------------------------------------------------

function defaultTemplate(spec: Obj): void {
  if (!isObj(spec.template)) return;
  if (!isObj(spec.template.spec)) spec.template.spec = { containers: [] };
  defaultPodSpec(spec.template.spec);
}

function defaultDeploymentSpec(spec: Obj): void {
  dflt(spec, 'replicas', 1);
  if (!isObj(spec.strategy)) spec.strategy = {};
  dflt(spec.strategy, 'type', 'RollingUpdate');
  if (spec.strategy.type === 'RollingUpdate') {
    if (!isObj(spec.strategy.rollingUpdate)) spec.strategy.rollingUpdate = {};
    dflt(spec.strategy.rollingUpdate, 'maxUnavailable', '25%');
    dflt(spec.strategy.rollingUpdate, 'maxSurge', '25%');
  }
  dflt(spec, 'revisionHistoryLimit', 10);
  dflt(spec, 'progressDeadlineSeconds', 600);
  defaultTemplate(spec);
}

// ---- networking ---------------------------------------------------------------------------

function defaultNetworkPolicySpec(spec: Obj): void {
  dflt(spec, 'podSelector', {});
  for (const rule of [...arr(spec.ingress), ...arr(spec.egress)])
    for (const p of arr(rule?.ports)) if (isObj(p)) dflt(p, 'protocol', 'TCP');
  if (!Array.isArray(spec.policyTypes) || spec.policyTypes.length === 0) {
    spec.policyTypes = ['Ingress'];
    if (Array.isArray(spec.egress) && spec.egress.length) spec.policyTypes.push('Egress');
  }
}
