/**
 * Pure Deployment arithmetic, after upstream's deployment/util: the pod-template hash that names
 * a Deployment's ReplicaSets, template equality (ignoring that hash label), revision numbers,
 * maxSurge/maxUnavailable resolution (surge rounds up, unavailable rounds down, never both 0),
 * and the rolling-update planner: how far the new ReplicaSet may grow and the old ones shrink
 * while at most `maxSurge` extra pods exist and at least `replicas - maxUnavailable` stay available.
 */
import {
  ANNOTATION_REVISION,
  type Deployment,
  LABEL_POD_TEMPLATE_HASH,
  type ReplicaSet,
} from '../api/kinds/apps.ts';
import type { PodTemplateSpec } from '../api/kinds/core.ts';
import { NAME_ALPHABET } from '../api/names.ts';
import { intOrPercent } from '../api/quantity.ts';

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** 32-bit FNV-1a of a string's UTF-8 bytes. */
export function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Maps each character to the vowel-free name alphabet (upstream's SafeEncodeString idea). */
function safeEncode(s: string): string {
  let out = '';
  for (const ch of s) out += NAME_ALPHABET[ch.charCodeAt(0) % NAME_ALPHABET.length];
  return out;
}

function stripHash(t: PodTemplateSpec | undefined): PodTemplateSpec {
  const c: PodTemplateSpec = structuredClone(t ?? {});
  if (c.metadata?.labels) {
    delete c.metadata.labels[LABEL_POD_TEMPLATE_HASH];
    if (Object.keys(c.metadata.labels).length === 0) delete c.metadata.labels;
  }
  return c;
}

/**
 * The `pod-template-hash` of a template: FNV-1a over its canonical JSON (without any hash label),
 * plus the Deployment's collisionCount when non-zero, encoded in the name alphabet.
 */
export function podTemplateHash(template: PodTemplateSpec | undefined, collisionCount?: number): string {
  let s = canonicalJson(stripHash(template));
  if (collisionCount) s += `#${collisionCount}`;
  return safeEncode(String(fnv32a(s)));
}

/** Are two templates the same apart from the pod-template-hash label? */
export function templatesEqual(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return canonicalJson(stripHash(a)) === canonicalJson(stripHash(b));
}

/** The revision annotation of a ReplicaSet (0 when absent or malformed). */
export function revisionOf(obj: { metadata: { annotations?: Record<string, string> } }): number {
  const n = Number(obj.metadata.annotations?.[ANNOTATION_REVISION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** The highest revision among `rss`. */
export function maxRevision(rss: readonly ReplicaSet[]): number {
  return rss.reduce((m, r) => Math.max(m, revisionOf(r)), 0);
}

/**
 * Resolves maxSurge (rounded up) and maxUnavailable (rounded down) against `desired`. If both
 * come out 0, maxUnavailable becomes 1 so a rollout can progress (upstream's ResolveFenceposts).
 */
export function resolveFenceposts(
  maxSurge: number | string | undefined,
  maxUnavailable: number | string | undefined,
  desired: number,
): { surge: number; unavailable: number } {
  const surge = intOrPercent(maxSurge ?? 0, desired, true);
  let unavailable = intOrPercent(maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** The Deployment's effective (surge, unavailable); Recreate has none of either. */
export function fenceposts(d: Deployment): { surge: number; unavailable: number } {
  const replicas = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return { surge: 0, unavailable: 0 };
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const r = resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicas);
  return { surge: r.surge, unavailable: Math.min(r.unavailable, replicas) };
}

function specReplicas(rs: ReplicaSet | undefined): number {
  return rs?.spec?.replicas ?? 0;
}

function available(rs: ReplicaSet | undefined): number {
  return rs?.status?.availableReplicas ?? 0;
}

/**
 * Replica count the new ReplicaSet should have next during a rolling update: grow toward
 * `replicas` but never let the sum of all ReplicaSets exceed `replicas + maxSurge`.
 */
export function newRSReplicas(
  d: Deployment,
  all: readonly ReplicaSet[],
  newRS: ReplicaSet | undefined,
): number {
  const replicas = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return replicas;
  const cur = specReplicas(newRS);
  if (cur >= replicas) return replicas;
  const { surge } = fenceposts(d);
  const total = all.reduce((s, r) => s + specReplicas(r), 0) + (newRS && !all.includes(newRS) ? cur : 0);
  const maxTotal = replicas + surge;
  if (total >= maxTotal) return cur;
  return cur + Math.min(maxTotal - total, replicas - cur);
}

/** One step of a rolling update. */
export type RollingStep =
  | { kind: 'scaleNew'; replicas: number }
  | { kind: 'scaleOld'; changes: Array<{ name: string; replicas: number }> }
  | { kind: 'none' };

function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  return ta - tb || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/**
 * The next rolling-update step for `d`, given its new ReplicaSet and the old ones (their spec and
 * observed availability): first resize the new ReplicaSet; otherwise shrink old ones, unhealthy
 * replicas first, never below `replicas - maxUnavailable` available pods (upstream's
 * reconcileNewReplicaSet / reconcileOldReplicaSets).
 */
export function planRollingUpdate(
  d: Deployment,
  newRS: ReplicaSet,
  oldRSs: readonly ReplicaSet[],
): RollingStep {
  const replicas = d.spec?.replicas ?? 1;
  const all = [...oldRSs, newRS];
  const cur = specReplicas(newRS);
  if (cur > replicas) return { kind: 'scaleNew', replicas };
  if (cur < replicas) {
    const next = newRSReplicas(d, all, newRS);
    if (next !== cur) return { kind: 'scaleNew', replicas: next };
  }
  const oldCount = oldRSs.reduce((s, r) => s + specReplicas(r), 0);
  if (oldCount === 0) return { kind: 'none' };
  const allCount = all.reduce((s, r) => s + specReplicas(r), 0);
  const minAvailable = replicas - fenceposts(d).unavailable;
  const newUnavailable = Math.max(0, specReplicas(newRS) - available(newRS));
  const maxScaledDown = allCount - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return { kind: 'none' };
  const olds = [...oldRSs].sort(byCreation).map((r) => ({ rs: r, replicas: specReplicas(r) }));
  // 1. Unhealthy old replicas cost no availability: remove them first.
  let cleaned = 0;
  for (const o of olds) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = Math.max(0, o.replicas - available(o.rs));
    const n = Math.min(maxScaledDown - cleaned, unhealthy);
    o.replicas -= n;
    cleaned += n;
  }
  // 2. Healthy ones, as long as enough stay available. The budget is also capped by
  //    maxScaledDown, which counts spec replicas and so stays safe while statuses lag.
  const availableNow = all.reduce((s, r) => s + available(r), 0);
  let budget = availableNow - minAvailable;
  if (budget > maxScaledDown - cleaned) budget = maxScaledDown - cleaned;
  for (const o of olds) {
    if (budget <= 0) break;
    const n = Math.min(o.replicas, budget);
    o.replicas -= n;
    budget -= n;
  }
  const changes = olds
    .filter((o) => o.replicas !== specReplicas(o.rs))
    .map((o) => ({ name: o.rs.metadata.name!, replicas: o.replicas }));
  return changes.length ? { kind: 'scaleOld', changes } : { kind: 'none' };
}
