/**
 * The description of an emulated cluster: `ClusterSpec`, plain data with a default for every field.
 * It comes from a cluster file (`podnet up -f cluster.yaml`) and/or CLI flags; parsing keeps the
 * YAML document so that every error names the field and its line:column. Nothing here touches the
 * kernel: `planCluster` (plan.ts) turns a spec into namespaces, links, addresses and routes.
 */
import ipaddr from 'ipaddr.js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { PodnetError } from '../util/errors.ts';

/** How Services become kernel rules on every node (kube-proxy's `--proxy-mode`). */
export type ProxyMode = 'iptables' | 'nftables' | 'userspace';
/** How pod traffic crosses nodes: plain routes on the LAN, or flannel-style VXLAN. */
export type OverlayMode = 'host-gw' | 'vxlan';

/** A node taint, as in a Node's `spec.taints`. */
export interface NodeTaint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** What a node offers to the scheduler (`status.capacity`). */
export interface NodeCapacity {
  /** CPU quantity, e.g. "4" or "3500m". */
  cpu: string;
  /** Memory quantity, e.g. "8Gi". */
  memory: string;
  /** Maximum pods on the node. */
  pods: number;
}

/** One node of the cluster, with every field filled. */
export interface NodeSpec {
  /** Kubernetes Node name (DNS-1123 subdomain). Default `node-<i>` (1-based). */
  name: string;
  /** Extra Node labels (`kubernetes.io/hostname` and `kubernetes.io/os` are always set). */
  labels: Record<string, string>;
  capacity: NodeCapacity;
  taints: NodeTaint[];
}

/** A whole cluster, with every field filled (see DEFAULTS and README.md). */
export interface ClusterSpec {
  /** Cluster name: becomes the `pn-<name>-` prefix of every namespace (1-12 chars, [a-z0-9-]). */
  name: string;
  nodes: NodeSpec[];
  /** Pod network; node i gets the i-th `/nodeCIDRMaskSize` of it. */
  clusterCIDR: string;
  /** Prefix length of each node's pod CIDR. */
  nodeCIDRMaskSize: number;
  /** Service ClusterIP range. */
  serviceCIDR: string;
  /** The node LAN ("physical" network): .1 is the underlay gateway, node i is .(10+i). */
  nodeCIDR: string;
  proxyMode: ProxyMode;
  overlay: OverlayMode;
  /** LoadBalancer IPs handed out on the LAN, `first-last`, or "" for none. */
  loadBalancerPool: string;
  /** MTU of the LAN links (pods get this minus 50 with VXLAN). */
  mtu: number;
  /** Processes of the ingress router (proxy/ingress `--workers`), sharing its listeners. */
  ingressWorkers: number;
  /** Nodes running an ingress router replica: the first N (1 to the node count). */
  ingressReplicas: number;
}

/** A cluster as written by a user: every field optional; `nodes` may be a count. */
export interface ClusterSpecInput {
  name?: string;
  nodes?: number | Array<Partial<Omit<NodeSpec, 'capacity'>> & { capacity?: Partial<NodeCapacity> }>;
  clusterCIDR?: string;
  nodeCIDRMaskSize?: number;
  serviceCIDR?: string;
  nodeCIDR?: string;
  proxyMode?: ProxyMode;
  overlay?: OverlayMode;
  loadBalancerPool?: string;
  mtu?: number;
  ingressWorkers?: number;
  ingressReplicas?: number;
}

/** Default values of every field. */
export const DEFAULTS = {
  name: 'default',
  nodes: 2,
  clusterCIDR: '10.244.0.0/16',
  nodeCIDRMaskSize: 24,
  serviceCIDR: '10.96.0.0/12',
  nodeCIDR: '172.31.0.0/24',
  proxyMode: 'iptables' as ProxyMode,
  overlay: 'host-gw' as OverlayMode,
  /** Derived from nodeCIDR when not given: the top ~20% of the LAN (…200-…250 on a /24). */
  loadBalancerPool: undefined as string | undefined,
  mtu: 1500,
  ingressWorkers: 1,
  ingressReplicas: 1,
  capacity: { cpu: '4', memory: '8Gi', pods: 110 } satisfies NodeCapacity,
} as const;

/** Host offset of node i's LAN address (node-1 = .11 on a /24): .1-.10 stay for infrastructure. */
export const NODE_IP_OFFSET = 10;
/** Most nodes a cluster may have (each one is a namespace and a few processes). */
export const MAX_NODES = 64;
/** Most ingress router processes (each is a Node.js process with its own informers). */
export const MAX_INGRESS_WORKERS = 16;

const PROXY_MODES: ProxyMode[] = ['iptables', 'nftables', 'userspace'];
const OVERLAYS: OverlayMode[] = ['host-gw', 'vxlan'];
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const TOP_FIELDS = [
  'name',
  'nodes',
  'clusterCIDR',
  'nodeCIDRMaskSize',
  'serviceCIDR',
  'nodeCIDR',
  'proxyMode',
  'overlay',
  'loadBalancerPool',
  'mtu',
  'ingressWorkers',
  'ingressReplicas',
];
const NODE_FIELDS = ['name', 'labels', 'capacity', 'taints'];

/** Reports a bad field: `where(path)` adds " (file:line:col)" when the value came from a file. */
type Where = (path: (string | number)[]) => string;

function fieldName(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function bad(where: Where, path: (string | number)[], reason: string): never {
  throw new PodnetError('PN_ERR_CONFIG', `${fieldName(path)}${where(path)}: ${reason}`, fieldName(path));
}

/** IPv4 address → 32-bit number. */
export function ip4ToNum(ip: string): number {
  return ipaddr.IPv4.parse(ip)
    .toByteArray()
    .reduce((a, b) => a * 256 + b, 0);
}

/** 32-bit number → dotted IPv4. */
export function numToIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A parsed IPv4 CIDR: network base, prefix, size. */
export interface Cidr4 {
  base: number;
  prefix: number;
  size: number;
}

/** Parses an IPv4 CIDR whose address is the network address (e.g. "10.244.0.0/16"). */
export function parseCidr4(s: string): Cidr4 | string {
  if (typeof s !== 'string' || !ipaddr.IPv4.isValidCIDR(s))
    return `"${s}" is not an IPv4 CIDR (like 10.244.0.0/16)`;
  const [ip, len] = s.split('/');
  const prefix = Number(len);
  const size = 2 ** (32 - prefix);
  const n = ip4ToNum(ip);
  if (n % size !== 0)
    return `"${s}" has host bits set (the network is ${numToIp4(n - (n % size))}/${prefix})`;
  return { base: n, prefix, size };
}

function overlaps(a: Cidr4, b: Cidr4): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/** Parses `first-last` (or a CIDR inside the LAN) into an inclusive numeric range. */
export function parseRange4(s: string): { first: number; last: number } | string {
  const m = /^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$/.exec(s);
  if (m) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(m[1]) || !ipaddr.IPv4.isValidFourPartDecimal(m[2]))
      return `"${s}" is not a range of IPv4 addresses (like 172.31.0.200-172.31.0.250)`;
    const first = ip4ToNum(m[1]);
    const last = ip4ToNum(m[2]);
    if (last < first) return `"${s}" ends before it starts`;
    return { first, last };
  }
  const c = parseCidr4(s);
  if (typeof c === 'string') return `"${s}" is neither a range first-last nor a CIDR`;
  return { first: c.base, last: c.base + c.size - 1 };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkName(where: Where, name: unknown): string {
  if (typeof name !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/.test(name))
    bad(
      where,
      ['name'],
      `"${String(name)}" is invalid: use 1-12 lower-case letters, digits or '-', starting and ending with a letter or digit`,
    );
  return name;
}

function str(where: Where, path: (string | number)[], v: unknown, dflt: string): string {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string') bad(where, path, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Router replicas run on the first N nodes: at least one, at most every node. */
function ingressReplicas(where: Where, v: unknown, nodeCount: number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > nodeCount)
    bad(where, ['ingressReplicas'], `${v} replicas need ${v} nodes, the cluster has ${nodeCount}`);
  return int(where, ['ingressReplicas'], v, DEFAULTS.ingressReplicas, 1, nodeCount);
}

function int(
  where: Where,
  path: (string | number)[],
  v: unknown,
  dflt: number,
  min: number,
  max: number,
): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    bad(where, path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(
  where: Where,
  path: (string | number)[],
  v: unknown,
  dflt: T,
  allowed: T[],
): T {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !allowed.includes(v as T))
    bad(where, path, `"${String(v)}" is not supported: use ${allowed.join(', ')}`);
  return v as T;
}

function quantity(where: Where, path: (string | number)[], v: unknown, dflt: string): string {
  if (v === undefined || v === null) return dflt;
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.test(s))
    bad(where, path, `"${String(v)}" is not a quantity (like 4, 500m, 8Gi)`);
  return s;
}

function checkUnknown(where: Where, path: (string | number)[], obj: object, known: string[]): void {
  for (const k of Object.keys(obj))
    if (!known.includes(k)) bad(where, [...path, k], `unknown field (known: ${known.join(', ')})`);
}

function resolveNodes(where: Where, v: unknown): NodeSpec[] {
  const defaults = (i: number): NodeSpec => ({
    name: `node-${i + 1}`,
    labels: {},
    capacity: { ...DEFAULTS.capacity },
    taints: [],
  });
  if (v === undefined || v === null) return Array.from({ length: DEFAULTS.nodes }, (_, i) => defaults(i));
  if (typeof v === 'number') {
    const n = int(where, ['nodes'], v, DEFAULTS.nodes, 1, MAX_NODES);
    return Array.from({ length: n }, (_, i) => defaults(i));
  }
  if (!Array.isArray(v)) bad(where, ['nodes'], 'must be a count or a list of nodes');
  if (v.length < 1 || v.length > MAX_NODES) bad(where, ['nodes'], `must list 1 to ${MAX_NODES} nodes`);
  const seen = new Set<string>();
  return v.map((raw: unknown, i: number) => {
    const p = ['nodes', i];
    const node = defaults(i);
    if (raw === null || raw === undefined) return node;
    if (typeof raw !== 'object' || Array.isArray(raw))
      bad(where, p, 'must be a mapping (name, labels, capacity, taints)');
    const r = raw as Record<string, unknown>;
    checkUnknown(where, p, r, NODE_FIELDS);
    node.name = str(where, [...p, 'name'], r.name, node.name);
    if (node.name.length > 63 || !node.name.split('.').every((l) => DNS1123_LABEL.test(l)))
      bad(where, [...p, 'name'], `"${node.name}" is not a valid node name (lower-case DNS subdomain)`);
    if (seen.has(node.name)) bad(where, [...p, 'name'], `"${node.name}" is used by another node`);
    seen.add(node.name);
    if (r.labels !== undefined && r.labels !== null) {
      if (typeof r.labels !== 'object' || Array.isArray(r.labels))
        bad(where, [...p, 'labels'], 'must be a mapping');
      for (const [k, val] of Object.entries(r.labels as Record<string, unknown>)) {
        if (!/^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k))
          bad(where, [...p, 'labels', k], 'is not a valid label key');
        const s = typeof val === 'number' || typeof val === 'boolean' ? String(val) : val;
        if (typeof s !== 'string' || !/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(s))
          bad(where, [...p, 'labels', k], `"${String(val)}" is not a valid label value`);
        node.labels[k] = s;
      }
    }
    if (r.capacity !== undefined && r.capacity !== null) {
      if (typeof r.capacity !== 'object' || Array.isArray(r.capacity))
        bad(where, [...p, 'capacity'], 'must be a mapping (cpu, memory, pods)');
      const c = r.capacity as Record<string, unknown>;
      checkUnknown(where, [...p, 'capacity'], c, ['cpu', 'memory', 'pods']);
      node.capacity = {
        cpu: quantity(where, [...p, 'capacity', 'cpu'], c.cpu, DEFAULTS.capacity.cpu),
        memory: quantity(where, [...p, 'capacity', 'memory'], c.memory, DEFAULTS.capacity.memory),
        pods: int(where, [...p, 'capacity', 'pods'], c.pods, DEFAULTS.capacity.pods, 1, 10_000),
      };
    }
    if (r.taints !== undefined && r.taints !== null) {
      if (!Array.isArray(r.taints)) bad(where, [...p, 'taints'], 'must be a list of {key, value, effect}');
      node.taints = r.taints.map((t: unknown, j: number) => {
        const tp = [...p, 'taints', j];
        if (!t || typeof t !== 'object' || Array.isArray(t))
          bad(where, tp, 'must be a mapping {key, value, effect}');
        const tt = t as Record<string, unknown>;
        checkUnknown(where, tp, tt, ['key', 'value', 'effect']);
        const key = str(where, [...tp, 'key'], tt.key, '');
        if (!key) bad(where, [...tp, 'key'], 'required');
        const value = tt.value === undefined ? undefined : str(where, [...tp, 'value'], tt.value, '');
        const effect = oneOf(
          where,
          [...tp, 'effect'],
          tt.effect,
          undefined as any,
          EFFECTS as NodeTaint['effect'][],
        );
        if (!effect) bad(where, [...tp, 'effect'], `required: one of ${EFFECTS.join(', ')}`);
        return { key, ...(value !== undefined ? { value } : {}), effect };
      });
    }
    return node;
  });
}

/**
 * Fills every default and checks every field: CIDRs are valid and disjoint, the LAN holds the
 * gateway, every node and the LoadBalancer pool, the cluster CIDR has a subnet for every node.
 * `where` locates a field in its source file (parseClusterFile supplies it).
 */
export function resolveClusterSpec(input: ClusterSpecInput, where: Where = () => ''): ClusterSpec {
  if (!input || typeof input !== 'object' || Array.isArray(input))
    throw new PodnetError('PN_ERR_CONFIG', `cluster spec${where([])}: must be a mapping`);
  checkUnknown(where, [], input, TOP_FIELDS);
  const name = checkName(where, input.name ?? DEFAULTS.name);
  const nodes = resolveNodes(where, input.nodes);
  const cidr = (field: 'clusterCIDR' | 'serviceCIDR' | 'nodeCIDR'): [string, Cidr4] => {
    const s = str(where, [field], input[field], DEFAULTS[field]);
    const c = parseCidr4(s);
    if (typeof c === 'string') bad(where, [field], c);
    return [s, c];
  };
  const [clusterCIDR, cc] = cidr('clusterCIDR');
  const [serviceCIDR, sc] = cidr('serviceCIDR');
  const [nodeCIDR, nc] = cidr('nodeCIDR');
  const nodeCIDRMaskSize = int(
    where,
    ['nodeCIDRMaskSize'],
    input.nodeCIDRMaskSize,
    DEFAULTS.nodeCIDRMaskSize,
    16,
    28,
  );
  if (nodeCIDRMaskSize < cc.prefix)
    bad(
      where,
      ['nodeCIDRMaskSize'],
      `${nodeCIDRMaskSize} is shorter than the clusterCIDR prefix /${cc.prefix}`,
    );
  // Node i takes subnet i (subnet 0 stays free, so node-1 is 10.244.1.0/24 as in most guides).
  if (2 ** (nodeCIDRMaskSize - cc.prefix) < nodes.length + 1)
    bad(
      where,
      ['clusterCIDR'],
      `${clusterCIDR} has ${2 ** (nodeCIDRMaskSize - cc.prefix)} /${nodeCIDRMaskSize} subnets, too few for ${nodes.length} nodes (subnet 0 is kept free)`,
    );
  if (overlaps(cc, sc)) bad(where, ['serviceCIDR'], `${serviceCIDR} overlaps clusterCIDR ${clusterCIDR}`);
  if (overlaps(nc, cc)) bad(where, ['nodeCIDR'], `${nodeCIDR} overlaps clusterCIDR ${clusterCIDR}`);
  if (overlaps(nc, sc)) bad(where, ['nodeCIDR'], `${nodeCIDR} overlaps serviceCIDR ${serviceCIDR}`);
  if (nc.size - 2 < NODE_IP_OFFSET + nodes.length)
    bad(
      where,
      ['nodeCIDR'],
      `${nodeCIDR} is too small for ${nodes.length} nodes at .${NODE_IP_OFFSET + 1} and up`,
    );
  const lastNode = nc.base + NODE_IP_OFFSET + nodes.length;
  let loadBalancerPool: string;
  if (input.loadBalancerPool === undefined || input.loadBalancerPool === null) {
    // Default: the top fifth of the LAN, if it clears the node addresses.
    const last = nc.base + nc.size - 6;
    const first = Math.max(lastNode + 1, nc.base + Math.ceil(nc.size * 0.78125));
    loadBalancerPool = first <= last ? `${numToIp4(first)}-${numToIp4(last)}` : '';
  } else {
    loadBalancerPool = str(where, ['loadBalancerPool'], input.loadBalancerPool, '').trim();
    if (loadBalancerPool) {
      const r = parseRange4(loadBalancerPool);
      if (typeof r === 'string') bad(where, ['loadBalancerPool'], r);
      if (r.first < nc.base + 1 || r.last > nc.base + nc.size - 2)
        bad(where, ['loadBalancerPool'], `${loadBalancerPool} is not inside nodeCIDR ${nodeCIDR}`);
      if (r.first <= lastNode)
        bad(
          where,
          ['loadBalancerPool'],
          `${loadBalancerPool} overlaps the gateway or node addresses (${numToIp4(nc.base + 1)}-${numToIp4(lastNode)})`,
        );
    }
  }
  return {
    name,
    nodes,
    clusterCIDR,
    nodeCIDRMaskSize,
    serviceCIDR,
    nodeCIDR,
    proxyMode: oneOf(where, ['proxyMode'], input.proxyMode, DEFAULTS.proxyMode, PROXY_MODES),
    overlay: oneOf(where, ['overlay'], input.overlay, DEFAULTS.overlay, OVERLAYS),
    loadBalancerPool,
    mtu: int(where, ['mtu'], input.mtu, DEFAULTS.mtu, 1280, 9000),
    ingressWorkers: int(
      where,
      ['ingressWorkers'],
      input.ingressWorkers,
      DEFAULTS.ingressWorkers,
      1,
      MAX_INGRESS_WORKERS,
    ),
    ingressReplicas: ingressReplicas(where, input.ingressReplicas, nodes.length),
  };
}

/**
 * Parses a cluster file (YAML) and resolves it; `overrides` (CLI flags) win over the file. Errors
 * name the field and its position: `nodes[1].capacity.pods (cluster.yaml:7:15): must be …`.
 */
export function parseClusterFile(
  text: string,
  file = 'cluster.yaml',
  overrides: ClusterSpecInput = {},
): ClusterSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lc.linePos(e.pos[0]);
    throw new PodnetError('PN_ERR_CONFIG', `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`);
  }
  const where: Where = (path) => {
    // Point at the deepest node that exists along the path (the value, else its parent).
    for (let n = path.length; n >= 0; n--) {
      const node = path.length === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (node && (isScalar(node) || isMap(node) || isSeq(node)) && range) {
        const pos = lc.linePos(range[0]);
        return ` (${file}:${pos.line}:${pos.col})`;
      }
    }
    return ` (${file})`;
  };
  const data = doc.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw new PodnetError('PN_ERR_CONFIG', `${file}: must be a mapping of cluster fields`);
  const merged = { ...data } as ClusterSpecInput;
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (merged as any)[k] = v;
  // Fields given as flags are not in the file: report them without a position.
  const flagged = new Set(Object.keys(overrides).filter((k) => (overrides as any)[k] !== undefined));
  return resolveClusterSpec(merged, (path) => (flagged.has(String(path[0])) ? ' (flag)' : where(path)));
}

/** The pod CIDR of node `index` (0-based): subnet index+1 of the cluster CIDR. */
export function podCIDRFor(
  spec: Pick<ClusterSpec, 'clusterCIDR' | 'nodeCIDRMaskSize'>,
  index: number,
): string {
  const c = parseCidr4(spec.clusterCIDR) as Cidr4;
  const step = 2 ** (32 - spec.nodeCIDRMaskSize);
  return `${numToIp4(c.base + (index + 1) * step)}/${spec.nodeCIDRMaskSize}`;
}
