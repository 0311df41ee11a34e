/**
 * The `wait` step: polls the API until a condition on objects holds, or fails at its timeout with
 * the last observed state (so the report says *why*: "2/3 ready: web-x not Ready (ContainersNotReady)").
 * Conditions: `ready` (kind-aware: Deployment rolled out, Pod Ready, Node Ready, Service with its
 * address), `deleted`, `exists`, `endpoints` (ready endpoints of a Service), `condition` (a named
 * status condition True) and `field` (a dotted path is set, or equals a value).
 */

import { findResource } from '../../api/resources.ts';
import type { KubeObject } from '../../api/types.ts';
import type { RunContext, StepKind, StepOutcome } from '../types.ts';
import { formatMs, type ObjectRef, readObjectRef, sleep } from './common.ts';
import { resolveRef } from './objects.ts';

const FORS = ['ready', 'deleted', 'exists', 'endpoints', 'condition', 'field'] as const;
type WaitFor = (typeof FORS)[number];

interface WaitSpec {
  for: WaitFor;
  ref: ObjectRef;
  count?: number;
  condition?: string;
  field?: string;
  equals?: string;
  timeoutMs: number;
}

const SLICES = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;

function cond(
  o: KubeObject,
  type: string,
): { status?: string; reason?: string; message?: string } | undefined {
  return (o.status?.conditions as Array<{ type: string; status: string }> | undefined)?.find(
    (c) => c.type === type,
  );
}

/** Reads a dotted path (`status.loadBalancer.ingress.0.ip`) of an object. */
export function getPath(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Why `o` is not ready yet (undefined = ready). */
export function notReadyReason(o: KubeObject): string | undefined {
  const name = `${o.kind?.toLowerCase() ?? 'object'}/${o.metadata.name}`;
  const s = o.status ?? {};
  switch (o.kind) {
    case 'Deployment': {
      const want = o.spec?.replicas ?? 1;
      if ((s.observedGeneration ?? 0) < (o.metadata.generation ?? 0))
        return `${name}: rollout not observed yet`;
      if ((s.updatedReplicas ?? 0) < want) return `${name}: ${s.updatedReplicas ?? 0}/${want} updated`;
      if ((s.replicas ?? 0) > want) return `${name}: ${s.replicas - want} old replicas still running`;
      if ((s.readyReplicas ?? 0) < want) return `${name}: ${s.readyReplicas ?? 0}/${want} ready`;
      if ((s.availableReplicas ?? 0) < want) return `${name}: ${s.availableReplicas ?? 0}/${want} available`;
      return undefined;
    }
    case 'ReplicaSet':
    case 'StatefulSet': {
      const want = o.spec?.replicas ?? 1;
      return (s.readyReplicas ?? 0) >= want ? undefined : `${name}: ${s.readyReplicas ?? 0}/${want} ready`;
    }
    case 'Pod':
    case 'Node': {
      if (o.metadata.deletionTimestamp) return `${name}: being deleted`;
      const c = cond(o, 'Ready');
      return c?.status === 'True'
        ? undefined
        : `${name}: not Ready${c ? ` (${c.reason ?? c.status}${c.message ? `: ${c.message}` : ''})` : ` (phase ${s.phase ?? 'unknown'})`}`;
    }
    case 'Service': {
      if (o.spec?.type === 'LoadBalancer' && !s.loadBalancer?.ingress?.length)
        return `${name}: no LoadBalancer address yet`;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Ready endpoints of a Service (from its EndpointSlices): addresses, and the pods they belong to. */
export async function readyEndpoints(
  ctx: RunContext,
  namespace: string,
  service: string,
): Promise<Array<{ ip: string; pod?: string; node?: string }>> {
  const slices = await ctx.client.list(SLICES, namespace, {
    labelSelector: `kubernetes.io/service-name=${service}`,
  });
  const out: Array<{ ip: string; pod?: string; node?: string }> = [];
  for (const sl of slices.items as any[])
    for (const ep of sl.endpoints ?? [])
      if (ep.conditions?.ready !== false)
        for (const ip of ep.addresses ?? []) out.push({ ip, pod: ep.targetRef?.name, node: ep.nodeName });
  return out;
}

async function check(s: WaitSpec, ctx: RunContext): Promise<string | undefined> {
  const objs = await resolveRef(ctx, s.ref);
  const live = objs.filter((o) => !o.metadata.deletionTimestamp);
  switch (s.for) {
    case 'deleted':
      return objs.length === 0 ? undefined : `still present: ${objs.map((o) => o.metadata.name).join(', ')}`;
    case 'exists':
      if (s.count !== undefined && live.length !== s.count) return `${live.length} exist, want ${s.count}`;
      return live.length > 0
        ? undefined
        : `${s.ref.text}${s.ref.selector ? ` -l ${s.ref.selector}` : ''}: none yet`;
    case 'ready': {
      if (live.length === 0) return `${s.ref.text}${s.ref.selector ? ` -l ${s.ref.selector}` : ''}: none yet`;
      const why = live.map(notReadyReason).filter((x): x is string => !!x);
      const ready = live.length - why.length;
      if (s.count !== undefined) {
        if (ready !== s.count || live.length !== s.count)
          return `${ready} ready of ${live.length}, want exactly ${s.count}${why.length ? `: ${why.slice(0, 3).join('; ')}` : ''}`;
        return undefined;
      }
      return why.length === 0 ? undefined : `${ready}/${live.length} ready: ${why.slice(0, 3).join('; ')}`;
    }
    case 'endpoints': {
      const ns = s.ref.namespace ?? ctx.defaultNamespace;
      const eps = await readyEndpoints(ctx, ns, s.ref.name!);
      if (s.count !== undefined)
        return eps.length === s.count ? undefined : `${eps.length} ready endpoints, want ${s.count}`;
      return eps.length > 0 ? undefined : 'no ready endpoints yet';
    }
    case 'condition': {
      if (live.length === 0) return `${s.ref.text}: none yet`;
      const bad = live.filter((o) => cond(o, s.condition!)?.status !== 'True');
      return bad.length === 0
        ? undefined
        : `${s.condition} not True on ${bad.map((o) => `${o.metadata.name} (${cond(o, s.condition!)?.status ?? 'absent'})`).join(', ')}`;
    }
    case 'field': {
      if (live.length === 0) return `${s.ref.text}: none yet`;
      for (const o of live) {
        const v = getPath(o, s.field!);
        if (v === undefined || v === null || v === '') return `${o.metadata.name}: ${s.field} is not set`;
        if (s.equals !== undefined && String(v) !== s.equals)
          return `${o.metadata.name}: ${s.field} is ${JSON.stringify(v)}, want ${s.equals}`;
      }
      return undefined;
    }
  }
}

/** `wait`: `{for: ready, target: deployment/web, timeout: 60s}`. */
export const waitStep: StepKind<WaitSpec> = {
  kind: 'wait',
  summary:
    'wait until objects are ready / deleted / exist, a Service has endpoints, a condition or field holds',
  schema: {
    type: 'object',
    properties: {
      for: { enum: [...FORS], default: 'ready' },
      target: { type: 'string', description: 'KIND/NAME, or KIND with selector (endpoints: service/NAME)' },
      selector: { type: 'string' },
      namespace: { type: 'string' },
      count: {
        type: 'integer',
        minimum: 0,
        description: 'exactly this many (ready pods, endpoints, objects)',
      },
      condition: { type: 'string', description: 'for: condition — the status condition type' },
      field: {
        type: 'string',
        description: 'for: field — a dotted path, e.g. status.loadBalancer.ingress.0.ip',
      },
      equals: { type: ['string', 'number', 'boolean'] },
      timeout: { type: ['string', 'number'], default: '60s' },
    },
    required: ['target'],
    additionalProperties: false,
  },
  parse(body) {
    const r = body.scalarAs('target');
    r.only(['for', 'target', 'selector', 'namespace', 'count', 'condition', 'field', 'equals', 'timeout']);
    const f = r.oneOf('for', FORS) ?? 'ready';
    const ref = readObjectRef(r, 'target', { selectorKey: 'selector' });
    if (f === 'endpoints' && (ref.res.kind !== 'Service' || !ref.name))
      r.fail('for: endpoints needs target: service/NAME', 'target');
    const condition = r.string('condition', { required: f === 'condition' });
    const field = r.string('field', { required: f === 'field' });
    if (condition && f !== 'condition') r.fail('only with for: condition', 'condition');
    if (field && f !== 'field') r.fail('only with for: field', 'field');
    const equals = r.string('equals');
    if (equals !== undefined && f !== 'field') r.fail('only with for: field', 'equals');
    return {
      for: f,
      ref,
      count: r.int('count', { min: 0 }),
      condition,
      field,
      equals,
      timeoutMs: r.duration('timeout') ?? 60_000,
    };
  },
  describe: (s) =>
    `wait for ${s.ref.text}${s.ref.selector ? ` -l ${s.ref.selector}` : ''} ${s.for === 'condition' ? s.condition : s.for === 'field' ? `${s.field}${s.equals !== undefined ? `=${s.equals}` : ''}` : s.for}${s.count !== undefined ? ` (${s.count})` : ''}`,
  async run(s, ctx): Promise<StepOutcome> {
    const t0 = Date.now();
    let last = '';
    for (;;) {
      const why = await check(s, ctx);
      if (why === undefined) return { ok: true, message: `after ${formatMs(Date.now() - t0)}` };
      if (why !== last) ctx.log(why);
      last = why;
      if (Date.now() - t0 > s.timeoutMs)
        return { ok: false, message: `timed out after ${formatMs(s.timeoutMs)}: ${why}` };
      if (ctx.signal.aborted) return { ok: false, message: `interrupted: ${why}` };
      await sleep(250, ctx.signal);
    }
  },
};
