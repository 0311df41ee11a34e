/**
 * The scheduler's pure core, after kube-scheduler's plugins: filters that say why a node cannot
 * take a pod (node readiness, NodeUnschedulable, NodeName, TaintToleration, NodeAffinity incl.
 * nodeSelector, NodeResourcesFit), scores that rank the feasible ones (least allocated, plus
 * spreading the pods of one owner across nodes), and upstream's "0/3 nodes are available: …"
 * message. Everything works on `NodeInfo` snapshots, so it is tested without an API server.
 */
import type {
  Node,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  Pod,
  Taint,
  Toleration,
} from '../api/kinds/core.ts';
import { parseQuantity } from '../api/quantity.ts';

/** A node with the pods bound (or assumed) to it. */
export interface NodeInfo {
  node: Node;
  pods: Pod[];
}

/** cpu (cores), memory (bytes), pods. */
export interface Resources {
  cpu: number;
  memory: number;
  pods: number;
}

/** Upstream's defaults for scoring pods that request nothing (100m cpu, 200Mi memory). */
export const NON_ZERO_DEFAULTS = { cpu: 0.1, memory: 200 * 1024 * 1024 };

function q(v: string | number | undefined): number {
  if (v === undefined) return 0;
  try {
    return parseQuantity(v);
  } catch {
    return 0;
  }
}

/**
 * What a pod requests: the sum over its containers, or the largest init container if larger (as
 * upstream computes it). With `nonZero`, containers that request nothing count as 100m/200Mi.
 */
export function podRequests(pod: Pod, nonZero = false): Resources {
  const sum = { cpu: 0, memory: 0 };
  for (const c of pod.spec?.containers ?? []) {
    const r = c.resources?.requests ?? {};
    sum.cpu += r.cpu !== undefined ? q(r.cpu) : nonZero ? NON_ZERO_DEFAULTS.cpu : 0;
    sum.memory += r.memory !== undefined ? q(r.memory) : nonZero ? NON_ZERO_DEFAULTS.memory : 0;
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const r = c.resources?.requests ?? {};
    sum.cpu = Math.max(sum.cpu, q(r.cpu));
    sum.memory = Math.max(sum.memory, q(r.memory));
  }
  return { ...sum, pods: 1 };
}

/** A node's allocatable resources; a resource the node does not report is unlimited. */
export function allocatable(node: Node): Resources {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return {
    cpu: a.cpu !== undefined ? q(a.cpu) : Number.POSITIVE_INFINITY,
    memory: a.memory !== undefined ? q(a.memory) : Number.POSITIVE_INFINITY,
    pods: a.pods !== undefined ? q(a.pods) : Number.POSITIVE_INFINITY,
  };
}

/** What the pods on a node request together. */
export function requested(info: NodeInfo, nonZero = false): Resources {
  const r = { cpu: 0, memory: 0, pods: 0 };
  for (const p of info.pods) {
    const x = podRequests(p, nonZero);
    r.cpu += x.cpu;
    r.memory += x.memory;
    r.pods += 1;
  }
  return r;
}

// ---- tolerations and taints ------------------------------------------------------------------

/** Does `t` tolerate `taint` (key/operator/value/effect rules of upstream's ToleratesTaint)? */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  const op = t.operator ?? 'Equal';
  if (!t.key) return op === 'Exists';
  if (t.key !== taint.key) return false;
  if (op === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** Taints a node carries, plus the ones upstream's lifecycle controller would add for readiness. */
export function effectiveTaints(node: Node): Taint[] {
  const taints = [...(node.spec?.taints ?? [])];
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const implied =
    ready?.status === 'False'
      ? 'node.kubernetes.io/not-ready'
      : ready?.status === 'Unknown' || !ready
        ? 'node.kubernetes.io/unreachable'
        : undefined;
  if (implied && !taints.some((t) => t.key === implied && t.effect === 'NoSchedule'))
    taints.push({ key: implied, effect: 'NoSchedule' });
  if (node.spec?.unschedulable && !taints.some((t) => t.key === 'node.kubernetes.io/unschedulable'))
    taints.push({ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' });
  return taints;
}

// ---- node affinity ---------------------------------------------------------------------------

function matchRequirement(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const has = value !== undefined;
  switch (r.operator) {
    case 'In':
      return has && (r.values ?? []).includes(value);
    case 'NotIn':
      return !has || !(r.values ?? []).includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(r.values?.[0] ?? '')) return false;
      const a = Number(value);
      const b = Number(r.values![0]);
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** Does a node satisfy a NodeSelectorTerm (all expressions and fields)? An empty term matches nothing. */
export function matchesTerm(node: Node, term: NodeSelectorTerm): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  return (
    exprs.every((r) => matchRequirement(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined)) &&
    fields.every((r) => matchRequirement(r, r.key === 'metadata.name' ? node.metadata.name : undefined))
  );
}

/** nodeSelector and required node affinity (terms are ORed). */
export function matchesNodeAffinity(pod: Pod, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const req = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req) return (req.nodeSelectorTerms ?? []).some((t) => matchesTerm(node, t));
  return true;
}

// ---- filters ---------------------------------------------------------------------------------

/** Upstream's reason strings. */
export const REASONS = {
  unschedulable: 'node(s) were unschedulable',
  nodeName: "node(s) didn't match the requested node name",
  affinity: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  taint: (t: Taint) => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`,
  tooManyPods: 'Too many pods',
  insufficient: (r: string) => `Insufficient ${r}`,
} as const;

/**
 * Why `info`'s node cannot run `pod` (empty: it can). Like kube-scheduler, the first failing
 * filter decides; the resource filter may give several reasons at once.
 */
export function filterNode(pod: Pod, info: NodeInfo): string[] {
  const node = info.node;
  const tolerations = pod.spec?.tolerations ?? [];
  if (node.spec?.unschedulable) {
    const t: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
    if (!tolerations.some((x) => tolerates(x, t))) return [REASONS.unschedulable];
  }
  if (pod.spec?.nodeName && pod.spec.nodeName !== node.metadata.name) return [REASONS.nodeName];
  for (const taint of effectiveTaints(node)) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (taint.key === 'node.kubernetes.io/unschedulable') continue; // handled above
    if (!tolerations.some((x) => tolerates(x, taint))) return [REASONS.taint(taint)];
  }
  if (!matchesNodeAffinity(pod, node)) return [REASONS.affinity];
  if (hostPortConflict(pod, info.pods)) return [REASONS.ports];
  const alloc = allocatable(node);
  const used = requested(info);
  const want = podRequests(pod);
  const out: string[] = [];
  if (used.pods + 1 > alloc.pods) out.push(REASONS.tooManyPods);
  if (want.cpu > 0 && used.cpu + want.cpu > alloc.cpu + 1e-9) out.push(REASONS.insufficient('cpu'));
  if (want.memory > 0 && used.memory + want.memory > alloc.memory) out.push(REASONS.insufficient('memory'));
  return out;
}

/** hostPorts a pod asks for: `ip/protocol/port` (ip 0.0.0.0 when unset). */
export function hostPorts(pod: Pod): Array<{ ip: string; protocol: string; port: number }> {
  const out: Array<{ ip: string; protocol: string; port: number }> = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])])
    for (const p of c.ports ?? [])
      if (p.hostPort)
        out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol ?? 'TCP', port: p.hostPort });
  return out;
}

/**
 * Would `pod`'s hostPorts clash with those of pods already on the node? Same port and protocol
 * clash when either side binds 0.0.0.0 or both bind the same IP (upstream's NodePorts filter).
 */
export function hostPortConflict(pod: Pod, onNode: readonly Pod[]): boolean {
  const want = hostPorts(pod);
  if (want.length === 0) return false;
  const used = onNode.flatMap(hostPorts);
  return want.some((w) =>
    used.some(
      (u) =>
        u.port === w.port &&
        u.protocol === w.protocol &&
        (u.ip === '0.0.0.0' || w.ip === '0.0.0.0' || u.ip === w.ip),
    ),
  );
}

/**
 * Upstream's FitError text: `0/3 nodes are available: 1 node(s) didn't match Pod's node
 * affinity/selector, 2 Insufficient cpu.` — a histogram of reasons, sorted as strings.
 */
export function fitErrorMessage(numNodes: number, reasons: ReadonlyMap<string, string[]>): string {
  if (numNodes === 0) return 'no nodes available to schedule pods';
  const hist = new Map<string, number>();
  for (const rs of reasons.values()) for (const r of rs) hist.set(r, (hist.get(r) ?? 0) + 1);
  const parts = [...hist].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}

// ---- scores ----------------------------------------------------------------------------------

/** LeastAllocated (0–100): the free share of cpu and memory after placing the pod, averaged. */
export function leastAllocatedScore(pod: Pod, info: NodeInfo): number {
  const alloc = allocatable(info.node);
  const used = requested(info, true);
  const want = podRequests(pod, true);
  const part = (cap: number, req: number) => {
    if (!Number.isFinite(cap)) return 100;
    if (cap <= 0) return 0;
    return Math.max(0, ((cap - req) * 100) / cap);
  };
  return (part(alloc.cpu, used.cpu + want.cpu) + part(alloc.memory, used.memory + want.memory)) / 2;
}

/** The controller owner uid of a pod (pods of one ReplicaSet spread across nodes). */
export function ownerUid(pod: Pod): string | undefined {
  return pod.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

/**
 * Picks the best feasible node: least-allocated score plus twice a spreading score (fewer pods of
 * the same owner on the node is better), ties broken by fewer pods, then by name.
 */
export function pickNode(pod: Pod, feasible: readonly NodeInfo[]): NodeInfo | undefined {
  if (feasible.length === 0) return undefined;
  const owner = ownerUid(pod);
  const siblings = feasible.map((i) => (owner ? i.pods.filter((p) => ownerUid(p) === owner).length : 0));
  const maxSib = Math.max(...siblings);
  let best: { info: NodeInfo; score: number } | undefined;
  feasible.forEach((info, i) => {
    const spread = maxSib === 0 ? 100 : (100 * (maxSib - siblings[i]!)) / maxSib;
    const score = leastAllocatedScore(pod, info) + 2 * spread;
    if (
      !best ||
      score > best.score + 1e-9 ||
      (Math.abs(score - best.score) <= 1e-9 &&
        (info.pods.length < best.info.pods.length ||
          (info.pods.length === best.info.pods.length &&
            (info.node.metadata.name ?? '') < (best.info.node.metadata.name ?? ''))))
    )
      best = { info, score };
  });
  return best?.info;
}

/** Feasible nodes and, for the others, why not. */
export function findFeasible(
  pod: Pod,
  infos: readonly NodeInfo[],
): { feasible: NodeInfo[]; reasons: Map<string, string[]> } {
  const feasible: NodeInfo[] = [];
  const reasons = new Map<string, string[]>();
  for (const info of infos) {
    const r = filterNode(pod, info);
    if (r.length === 0) feasible.push(info);
    else reasons.set(info.node.metadata.name!, r);
  }
  return { feasible, reasons };
}
