/**
 * Server-side printing: the meta.k8s.io/v1 Table the API server returns when a client asks for
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` does), with the same
 * columns, cell formats and wide (priority 1) columns as upstream's printers, and a plain-text
 * layout of such a Table as kubectl prints it (used by `podnet get`).
 *
 * Like the real server, rows are always generated with every column (wide included); the client
 * hides priority > 0 columns unless asked for `-o wide`. So nothing is truncated server-side.
 */

import type { ResourceInfo } from '../api/resources.ts';
import { labelSelectorFromObject, selectorToString } from '../api/selectors.ts';
import type { KubeObject, ListMeta } from '../api/types.ts';

/** metav1.TableColumnDefinition */
export interface TableColumnDefinition {
  name: string;
  /** OpenAPI type: string, integer, number, boolean, date. */
  type: string;
  /** `name` for the object-name column, `date` for timestamps, otherwise ''. */
  format: string;
  description: string;
  /** 0: always shown; 1: shown with `-o wide`. */
  priority: number;
}

/** metav1.TableRowCondition */
export interface TableRowCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** metav1.TableRow */
export interface TableRow {
  cells: unknown[];
  conditions?: TableRowCondition[];
  object?: unknown;
}

/** metav1.Table */
export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: ListMeta;
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

/** Options of renderTable. */
export interface RenderTableOptions {
  /** What each row's `object` holds (`?includeObject=`); PartialObjectMetadata by default. */
  includeObject?: 'None' | 'Metadata' | 'Object';
  /** The list's metadata (resourceVersion, continue) to copy into the Table. */
  listMeta?: ListMeta;
  /** The clock for AGE columns (tests pin it). */
  now?: Date;
}

type Printer = (obj: any, now: Date) => unknown[];

interface KindPrinter {
  columns: TableColumnDefinition[];
  row: Printer;
  conditions?: (obj: any) => TableRowCondition[] | undefined;
}

function col(
  name: string,
  type: string,
  description: string,
  priority = 0,
  format = '',
): TableColumnDefinition {
  return { name, type, format, description, priority };
}

const NAME = col(
  'Name',
  'string',
  'Name must be unique within a namespace; it is how clients refer to the object.',
  0,
  'name',
);
const AGE = col('Age', 'string', 'Time since the object was created (metadata.creationTimestamp).');
const CONTAINERS = col('Containers', 'string', 'Names of each container in the template.', 1);
const IMAGES = col('Images', 'string', 'Images referenced by each container in the template.', 1);
const SELECTOR = col('Selector', 'string', 'The label selector of the pods this object manages.', 1);

// ---------------------------------------------------------------------------------------------
// Shared cell formats

/**
 * kubectl's short human duration (k8s.io/apimachinery duration.HumanDuration): `45s`, `3m2s`,
 * `10m`, `5h`, `7h30m`, `3d`, `3d4h`, `2y`. Clock skew of up to 2 s in the future reads `0s`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    const y = Math.trunc(hours / 24 / 365);
    return dy === 0 ? `${y}y` : `${y}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** Age of a timestamp as kubectl prints it; `<unknown>` when absent or unparsable. */
export function age(timestamp: string | undefined | null, now: Date): string {
  if (!timestamp) return '<unknown>';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now.getTime() - t);
}

function formatSelector(sel: unknown, empty: string): string {
  if (sel === undefined || sel === null) return empty;
  try {
    const s = selectorToString(labelSelectorFromObject(sel as any));
    return s === '' ? empty : s;
  } catch {
    return '<error>';
  }
}

/** `k=v,k2=v2` sorted by key (labels.FormatLabels); `<none>` when empty. */
function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length ? keys.map((k) => `${k}=${m![k]}`).join(',') : '<none>';
}

function containerCells(podSpec: any): [string, string] {
  const cs: any[] = podSpec?.containers ?? [];
  return [cs.map((c) => c.name ?? '').join(','), cs.map((c) => c.image ?? '').join(',')];
}

/** `a,b,c + 2 more...` (upstream's list-with-more format, at most 3 items). */
function listWithMore(list: string[], total: number, empty: string): string {
  const shown = list.slice(0, 3).join(',');
  if (total > 3) return `${shown} + ${total - 3} more...`;
  return shown === '' ? empty : shown;
}

function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function int(n: unknown): number {
  return typeof n === 'number' ? n : 0;
}

// ---------------------------------------------------------------------------------------------
// Pods

function hasCondition(pod: any, type: string): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === type && c.status === 'True');
}

function laterOf(a: string | undefined, b: string | undefined): string | undefined {
  if (!b) return a;
  if (!a) return b;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

/** The STATUS, READY and RESTARTS of a pod, computed as kubectl's printer does. */
export function podStatusCells(pod: any, now: Date): { ready: string; status: string; restarts: string } {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  const initSpecs: any[] = spec.initContainers ?? [];
  const sidecar = (name: string) => initSpecs.find((c) => c.name === name)?.restartPolicy === 'Always';
  let restarts = 0;
  let sidecarRestarts = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestart: string | undefined;
  let lastSidecarRestart: string | undefined;
  let reason: string = status.reason || status.phase || '';
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  for (const c of initSpecs) if (c.restartPolicy === 'Always') totalContainers++;

  let initializing = false;
  const initStatuses: any[] = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i]!;
    restarts += int(c.restartCount);
    lastRestart = laterOf(lastRestart, c.lastState?.terminated?.finishedAt);
    const isSidecar = sidecar(c.name);
    if (isSidecar) {
      sidecarRestarts += int(c.restartCount);
      lastSidecarRestart = laterOf(lastSidecarRestart, c.lastState?.terminated?.finishedAt);
    }
    const term = c.state?.terminated;
    const wait = c.state?.waiting;
    if (term && term.exitCode === 0) continue;
    // A started sidecar (restartable init container) counts like a regular container.
    if (isSidecar && c.started) {
      if (c.ready) readyContainers++;
      continue;
    }
    if (term) {
      reason = term.reason
        ? `Init:${term.reason}`
        : term.signal
          ? `Init:Signal:${term.signal}`
          : `Init:ExitCode:${term.exitCode}`;
    } else if (wait?.reason && wait.reason !== 'PodInitializing') {
      reason = `Init:${wait.reason}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || hasCondition(pod, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses: any[] = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!;
      restarts += int(c.restartCount);
      lastRestart = laterOf(lastRestart, c.lastState?.terminated?.finishedAt);
      const term = c.state?.terminated;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (term?.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`;
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // A pod whose last container completed but another still runs is not "Completed".
    if (reason === 'Completed' && hasRunning) reason = hasCondition(pod, 'Ready') ? 'Running' : 'NotReady';
  }

  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed';
  if (pod.metadata?.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata?.deletionTimestamp && !terminal) reason = 'Terminating';

  let restartsCell = String(restarts);
  if (restarts !== 0 && lastRestart) restartsCell = `${restarts} (${age(lastRestart, now)} ago)`;
  return { ready: `${readyContainers}/${totalContainers}`, status: reason, restarts: restartsCell };
}

const podPrinter: KindPrinter = {
  columns: [
    NAME,
    col('Ready', 'string', 'The number of ready containers out of all containers of the pod.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col(
      'Restarts',
      'string',
      'How many times the containers of this pod have restarted, and when the last one did.',
    ),
    AGE,
    col('IP', 'string', 'The IP address of the pod (status.podIPs[0]).', 1),
    col('Node', 'string', 'The node the pod is bound to (spec.nodeName).', 1),
    col('Nominated Node', 'string', 'The node the scheduler nominated for this pod after preemption.', 1),
    col('Readiness Gates', 'string', 'How many of the readiness gates of the pod are true.', 1),
  ],
  row: (pod, now) => {
    const s = podStatusCells(pod, now);
    const ip = pod.status?.podIPs?.[0]?.ip || pod.status?.podIP || '<none>';
    const gates: any[] = pod.spec?.readinessGates ?? [];
    let gatesCell = '<none>';
    if (gates.length) {
      const trueCount = gates.filter((g) => {
        const c = (pod.status?.conditions ?? []).find((x: any) => x.type === g.conditionType);
        return c?.status === 'True';
      }).length;
      gatesCell = `${trueCount}/${gates.length}`;
    }
    return [
      pod.metadata.name,
      s.ready,
      s.status,
      s.restarts,
      age(pod.metadata.creationTimestamp, now),
      ip,
      pod.spec?.nodeName || '<none>',
      pod.status?.nominatedNodeName || '<none>',
      gatesCell,
    ];
  },
  conditions: (pod) => {
    if (pod.status?.phase === 'Succeeded') {
      return [
        {
          type: 'Completed',
          status: 'True',
          reason: 'Succeeded',
          message: 'The pod has completed successfully.',
        },
      ];
    }
    if (pod.status?.phase === 'Failed') {
      return [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];
    }
    return undefined;
  },
};

// ---------------------------------------------------------------------------------------------
// Services, endpoints, slices

/** `80/TCP,443:30443/TCP` */
export function servicePorts(ports: any[] | undefined): string {
  const s = (ports ?? [])
    .map((p) => (p.nodePort ? `${p.port}:${p.nodePort}` : `${p.port}`) + `/${p.protocol || 'TCP'}`)
    .join(',');
  return s || '<none>';
}

/** Load balancer addresses (IP, else hostname), de-duplicated and sorted as upstream's string set. */
function lbAddresses(ingress: any[] | undefined): string[] {
  const all = (ingress ?? []).map((i) => i.ip || i.hostname || '').filter((x) => x !== '');
  return [...new Set(all)].sort();
}

function serviceExternalIP(svc: any): string {
  const spec = svc.spec ?? {};
  const externalIPs: string[] = spec.externalIPs ?? [];
  switch (spec.type ?? 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const all = [...lbAddresses(svc.status?.loadBalancer?.ingress), ...externalIPs];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

const servicePrinter: KindPrinter = {
  columns: [
    NAME,
    col('Type', 'string', 'How the Service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.'),
    col('Cluster-IP', 'string', 'The virtual IP of the Service inside the cluster.'),
    col('External-IP', 'string', 'Addresses the Service is reachable at from outside the cluster.'),
    col('Port(s)', 'string', 'The ports of the Service: port[:nodePort]/protocol.'),
    AGE,
    col('Selector', 'string', 'The labels of the pods the Service sends traffic to.', 1),
  ],
  row: (svc, now) => [
    svc.metadata.name,
    svc.spec?.type ?? 'ClusterIP',
    svc.spec?.clusterIPs?.[0] || svc.spec?.clusterIP || '<none>',
    serviceExternalIP(svc),
    servicePorts(svc.spec?.ports),
    age(svc.metadata.creationTimestamp, now),
    formatLabels(svc.spec?.selector),
  ],
};

/** `10.244.1.5:8080,10.244.2.7:8080 + 3 more...` (ready addresses × ports, at most 3 shown). */
export function formatEndpoints(ep: any): string {
  const subsets: any[] = ep.subsets ?? [];
  if (!subsets.length) return '<none>';
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    const addresses: any[] = ss.addresses ?? [];
    const ports: any[] = ss.ports ?? [];
    if (!ports.length) {
      count += addresses.length;
      for (const a of addresses) if (list.length < 3) list.push(a.ip);
      continue;
    }
    for (const p of ports) {
      count += addresses.length;
      for (const a of addresses) if (list.length < 3) list.push(joinHostPort(a.ip, p.port));
    }
  }
  const ret = list.join(',');
  return count > 3 ? `${ret} + ${count - 3} more...` : ret;
}

const endpointsPrinter: KindPrinter = {
  columns: [NAME, col('Endpoints', 'string', 'The ready addresses and ports behind the Service.'), AGE],
  row: (ep, now) => [ep.metadata.name, formatEndpoints(ep), age(ep.metadata.creationTimestamp, now)],
};

const endpointSlicePrinter: KindPrinter = {
  columns: [
    NAME,
    col('AddressType', 'string', 'The type of the addresses: IPv4, IPv6 or FQDN.'),
    col('Ports', 'string', 'The ports of the endpoints of this slice.'),
    col('Endpoints', 'string', 'The addresses of the endpoints of this slice.'),
    AGE,
  ],
  row: (s, now) => {
    const ports: any[] = s.ports ?? [];
    const portList = ports.map((p) =>
      p.port !== undefined && p.port !== null ? String(p.port) : p.name || '*',
    );
    const addresses: string[] = (s.endpoints ?? []).flatMap((e: any) => e.addresses ?? []);
    return [
      s.metadata.name,
      s.addressType ?? '',
      listWithMore(portList, portList.length, '<unset>'),
      listWithMore(addresses, addresses.length, '<unset>'),
      age(s.metadata.creationTimestamp, now),
    ];
  },
};

// ---------------------------------------------------------------------------------------------
// Workloads

const deploymentPrinter: KindPrinter = {
  columns: [
    NAME,
    col('Ready', 'string', 'Ready replicas out of desired replicas.'),
    col('Up-to-date', 'string', 'Replicas updated to the current pod template.'),
    col('Available', 'string', 'Replicas available to serve (ready for at least minReadySeconds).'),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
  ],
  row: (d, now) => {
    const [containers, images] = containerCells(d.spec?.template?.spec);
    return [
      d.metadata.name,
      `${int(d.status?.readyReplicas)}/${d.spec?.replicas ?? 1}`,
      int(d.status?.updatedReplicas),
      int(d.status?.availableReplicas),
      age(d.metadata.creationTimestamp, now),
      containers,
      images,
      formatSelector(d.spec?.selector, ''),
    ];
  },
};

const replicaSetPrinter: KindPrinter = {
  columns: [
    NAME,
    col('Desired', 'integer', 'The number of replicas wanted (spec.replicas).'),
    col('Current', 'integer', 'The number of replicas that exist (status.replicas).'),
    col('Ready', 'integer', 'The number of ready replicas.'),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
  ],
  row: (rs, now) => {
    const [containers, images] = containerCells(rs.spec?.template?.spec);
    return [
      rs.metadata.name,
      rs.spec?.replicas ?? 1,
      int(rs.status?.replicas),
      int(rs.status?.readyReplicas),
      age(rs.metadata.creationTimestamp, now),
      containers,
      images,
      formatSelector(rs.spec?.selector, ''),
    ];
  },
};

// ---------------------------------------------------------------------------------------------
// Cluster-scoped kinds

function nodeRoles(labels: Record<string, string> | undefined): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && v) {
      roles.add(v);
    }
  }
  return [...roles].sort().join(',') || '<none>';
}

function nodeAddress(node: any, type: string): string {
  return (node.status?.addresses ?? []).find((a: any) => a.type === type)?.address ?? '<none>';
}

const nodePrinter: KindPrinter = {
  columns: [
    NAME,
    col('Status', 'string', 'Ready, NotReady or Unknown, plus SchedulingDisabled when cordoned.'),
    col('Roles', 'string', 'The roles of the node, from its node-role.kubernetes.io/* labels.'),
    AGE,
    col('Version', 'string', 'The kubelet version the node reports.'),
    col('Internal-IP', 'string', 'The first InternalIP address of the node.', 1),
    col('External-IP', 'string', 'The first ExternalIP address of the node.', 1),
    col('OS-Image', 'string', 'The OS image the node reports.', 1),
    col('Kernel-Version', 'string', 'The kernel version the node reports.', 1),
    col('Container-Runtime', 'string', 'The container runtime and version the node reports.', 1),
  ],
  row: (node, now) => {
    const ready = (node.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
    const status: string[] = [];
    if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
    else status.push('Unknown');
    if (node.spec?.unschedulable) status.push('SchedulingDisabled');
    const info = node.status?.nodeInfo ?? {};
    return [
      node.metadata.name,
      status.join(','),
      nodeRoles(node.metadata.labels),
      age(node.metadata.creationTimestamp, now),
      info.kubeletVersion ?? '',
      nodeAddress(node, 'InternalIP'),
      nodeAddress(node, 'ExternalIP'),
      info.osImage || '<unknown>',
      info.kernelVersion || '<unknown>',
      info.containerRuntimeVersion || '<unknown>',
    ];
  },
};

const namespacePrinter: KindPrinter = {
  columns: [NAME, col('Status', 'string', 'The phase of the namespace: Active or Terminating.'), AGE],
  row: (ns, now) => [ns.metadata.name, ns.status?.phase ?? '', age(ns.metadata.creationTimestamp, now)],
};

// ---------------------------------------------------------------------------------------------
// Networking

/** The first three non-empty hosts; `+ N more...` counts rules beyond three; `*` when none. */
function ingressHosts(rules: any[] | undefined): string {
  const rs = rules ?? [];
  const list: string[] = [];
  let more = false;
  for (const r of rs) {
    if (list.length === 3) more = true;
    if (!more && r.host) list.push(r.host);
  }
  if (!list.length) return '*';
  return more ? `${list.join(',')} + ${rs.length - 3} more...` : list.join(',');
}

const ingressPrinter: KindPrinter = {
  columns: [
    NAME,
    col('Class', 'string', 'The IngressClass of the Ingress (spec.ingressClassName).'),
    col('Hosts', 'string', 'The hosts the Ingress routes.'),
    col('Address', 'string', 'The addresses of the load balancer serving the Ingress.'),
    col('Ports', 'string', 'The ports the Ingress is served on: 80, plus 443 with TLS.'),
    AGE,
  ],
  row: (ing, now) => [
    ing.metadata.name,
    ing.spec?.ingressClassName ?? '<none>',
    ingressHosts(ing.spec?.rules),
    lbAddresses(ing.status?.loadBalancer?.ingress).join(','),
    (ing.spec?.tls ?? []).length ? '80, 443' : '80',
    age(ing.metadata.creationTimestamp, now),
  ],
};

const ingressClassPrinter: KindPrinter = {
  columns: [
    NAME,
    col('Controller', 'string', 'The controller that implements this class.'),
    col('Parameters', 'string', 'The resource holding controller parameters: Kind[.group]/name.'),
    AGE,
  ],
  row: (ic, now) => {
    const p = ic.spec?.parameters;
    const params = p ? `${p.kind}${p.apiGroup ? `.${p.apiGroup}` : ''}/${p.name}` : '<none>';
    return [ic.metadata.name, ic.spec?.controller ?? '', params, age(ic.metadata.creationTimestamp, now)];
  },
};

const networkPolicyPrinter: KindPrinter = {
  columns: [NAME, col('Pod-Selector', 'string', 'The pods the policy applies to.'), AGE],
  row: (np, now) => [
    np.metadata.name,
    formatSelector(np.spec?.podSelector ?? {}, '<none>'),
    age(np.metadata.creationTimestamp, now),
  ],
};

// ---------------------------------------------------------------------------------------------
// Configuration and events

const configMapPrinter: KindPrinter = {
  columns: [NAME, col('Data', 'string', 'The number of keys in data and binaryData.'), AGE],
  row: (cm, now) => [
    cm.metadata.name,
    Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length,
    age(cm.metadata.creationTimestamp, now),
  ],
};

const secretPrinter: KindPrinter = {
  columns: [
    NAME,
    col('Type', 'string', 'The type of the secret (Opaque, kubernetes.io/tls, …).'),
    col('Data', 'string', 'The number of keys in the secret.'),
    AGE,
  ],
  row: (s, now) => [
    s.metadata.name,
    s.type || 'Opaque',
    new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})]).size,
    age(s.metadata.creationTimestamp, now),
  ],
};

const eventPrinter: KindPrinter = {
  columns: [
    col('Last Seen', 'string', 'Time since the event was last observed.'),
    col('Type', 'string', 'Normal or Warning.'),
    col('Reason', 'string', 'A short, machine-readable reason for the event.'),
    col('Object', 'string', 'The object the event is about: kind/name.'),
    col('Subobject', 'string', 'The part of the object the event is about (e.g. a container).', 1),
    col('Source', 'string', 'The component (and host) that reported the event.', 1),
    col('Message', 'string', 'A human-readable description of the event.'),
    col('First Seen', 'string', 'Time since the event was first observed.', 1),
    col('Count', 'string', 'How many times the event was observed.', 1),
    col('Name', 'string', 'The name of the Event object.', 1, 'name'),
  ],
  row: (ev, now) => {
    const first = ev.firstTimestamp ? age(ev.firstTimestamp, now) : age(ev.eventTime, now);
    let last = ev.lastTimestamp ? age(ev.lastTimestamp, now) : first;
    let count = int(ev.count);
    if (ev.series) {
      last = age(ev.series.lastObservedTime, now);
      count = int(ev.series.count);
    } else if (count === 0) {
      count = 1;
    }
    const io = ev.involvedObject ?? {};
    const kind = String(io.kind ?? '').toLowerCase();
    const target = io.name ? `${kind}/${io.name}` : kind;
    const component = ev.source?.component || ev.reportingComponent || '';
    const host = ev.source?.host || ev.reportingInstance || '';
    const source = host ? `${component}, ${host}` : component;
    return [
      last,
      ev.type ?? '',
      ev.reason ?? '',
      target,
      io.fieldPath ?? '',
      source,
      String(ev.message ?? '').trim(),
      first,
      count,
      ev.metadata.name,
    ];
  },
};

// Kinds without a dedicated printer get upstream's default columns.
const defaultPrinter: KindPrinter = {
  columns: [NAME, col('Created At', 'date', 'When the object was created (metadata.creationTimestamp).')],
  row: (o) => [o.metadata.name, o.metadata.creationTimestamp ?? ''],
};

const PRINTERS: Record<string, KindPrinter> = {
  '/Pod': podPrinter,
  '/Service': servicePrinter,
  '/Endpoints': endpointsPrinter,
  '/Node': nodePrinter,
  '/Namespace': namespacePrinter,
  '/ConfigMap': configMapPrinter,
  '/Secret': secretPrinter,
  '/Event': eventPrinter,
  'discovery.k8s.io/EndpointSlice': endpointSlicePrinter,
  'apps/Deployment': deploymentPrinter,
  'apps/ReplicaSet': replicaSetPrinter,
  'networking.k8s.io/Ingress': ingressPrinter,
  'networking.k8s.io/IngressClass': ingressClassPrinter,
  'networking.k8s.io/NetworkPolicy': networkPolicyPrinter,
};

function printerFor(res: ResourceInfo): KindPrinter {
  return PRINTERS[`${res.group}/${res.kind}`] ?? defaultPrinter;
}

/** The column definitions served for a resource (all of them, wide ones with priority 1). */
export function tableColumns(res: ResourceInfo): TableColumnDefinition[] {
  return printerFor(res).columns.map((c) => ({ ...c }));
}

function partialMetadata(obj: KubeObject): object {
  const { managedFields: _drop, ...metadata } = obj.metadata;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
}

/**
 * Renders objects of one resource as a meta.k8s.io/v1 Table, as the API server answers a
 * `;as=Table` request: every column (wide included), one row per object, each row's `object`
 * being PartialObjectMetadata unless `includeObject` says `None` or `Object`.
 */
export function renderTable(res: ResourceInfo, objects: KubeObject[], opts: RenderTableOptions = {}): Table {
  const printer = printerFor(res);
  const now = opts.now ?? new Date();
  const include = opts.includeObject ?? 'Metadata';
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...(opts.listMeta ?? {}) },
    columnDefinitions: tableColumns(res),
    rows: objects.map((obj) => {
      const row: TableRow = { cells: printer.row(obj, now) };
      const conditions = printer.conditions?.(obj);
      if (conditions) row.conditions = conditions;
      if (include === 'Metadata') row.object = partialMetadata(obj);
      else if (include === 'Object') row.object = obj;
      return row;
    }),
  };
}

/** Options of printTable. */
export interface PrintTableOptions {
  /** Include priority > 0 columns (`-o wide`). */
  wide?: boolean;
  /** Omit the header line (`--no-headers`). */
  noHeaders?: boolean;
}

function cellText(cell: unknown): string {
  if (cell === null || cell === undefined) return '';
  const s = typeof cell === 'string' ? cell : String(cell);
  // kubectl cuts a cell at the first line break and marks the cut.
  const brk = s.search(/[\f\n\r]/);
  return brk >= 0 ? `${s.slice(0, brk)}...` : s;
}

/**
 * Lays a Table out as text the way kubectl does: upper-cased headers, columns padded to their
 * widest cell plus three spaces (at least six wide; Go's tabwriter with kubectl's settings), the
 * last column unpadded, wide columns only with `wide`. Every line ends with a newline; a Table
 * without rows prints nothing (kubectl then says "No resources found").
 */
export function printTable(
  table: Pick<Table, 'columnDefinitions' | 'rows'>,
  opts: PrintTableOptions = {},
): string {
  const keep = table.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => opts.wide || !c.priority);
  if (!table.rows.length) return '';
  const lines: string[][] = [];
  if (!opts.noHeaders) lines.push(keep.map(({ c }) => c.name.toUpperCase()));
  for (const row of table.rows) lines.push(keep.map(({ i }) => cellText(row.cells[i])));
  const width = (s: string) => [...s].length;
  const widths = keep.map((_, j) => Math.max(6, ...lines.map((l) => width(l[j]!) + 3)));
  return lines
    .map((l) =>
      l.map((cell, j) => (j === l.length - 1 ? cell : cell + ' '.repeat(widths[j]! - width(cell)))).join(''),
    )
    .map((l) => `${l}\n`)
    .join('');
}
