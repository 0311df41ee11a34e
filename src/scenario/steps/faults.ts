/**
 * Fault injection: `kill` (a pod's container processes, a whole pod by force-deletion, or a node's
 * agent process) and `partition` (a node's LAN link down or up). Both act on what the scenario's
 * own cluster created, inside its namespaces.
 */
import { findResource } from '../../api/resources.ts';
import type { RunContext, StepKind, StepOutcome } from '../types.ts';
import { readPlace } from './common.ts';

const PODS = findResource('', 'v1', 'pods')!;
const SIGNALS = ['KILL', 'TERM', 'INT', 'HUP', 'STOP', 'CONT'] as const;

interface KillSpec {
  what: 'container' | 'pod' | 'agent';
  ref: string;
  signal: (typeof SIGNALS)[number];
}

/** Pids of the processes living in a network namespace (`ip netns pids`). */
async function netnsPids(ctx: RunContext, netns: string): Promise<number[]> {
  const r = await ctx.exec.run('ip', ['netns', 'pids', netns], { allowFail: true });
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
}

/** `kill`: `{container: pod:web-1}`, `{pod: pod:app=web}` or `{agent: node:node-2}`. */
export const killStep: StepKind<KillSpec> = {
  kind: 'kill',
  summary: "kill a pod's container processes, force-delete a pod, or kill a node's agent process",
  schema: {
    type: 'object',
    properties: {
      container: { type: 'string', description: 'pod:REF — signal every process in the pod' },
      pod: { type: 'string', description: 'pod:REF — delete the pod with grace period 0' },
      agent: { type: 'string', description: "node:NAME — kill the node's process (agent, kube-proxy, DNS)" },
      signal: { enum: [...SIGNALS], default: 'KILL' },
    },
    additionalProperties: false,
  },
  parse(body) {
    body.only(['container', 'pod', 'agent', 'signal']);
    const given = (['container', 'pod', 'agent'] as const).filter((k) => body.has(k));
    if (given.length !== 1) body.fail('give exactly one of container:, pod:, agent:');
    const what = given[0];
    const ref = readPlace(body, what, { required: true })!;
    if (what === 'agent' && !ref.startsWith('node:')) body.fail('must be node:NAME', what);
    if (what !== 'agent' && !ref.startsWith('pod:')) body.fail('must be pod:NAME or pod:SELECTOR', what);
    const signal = body.oneOf('signal', SIGNALS) ?? 'KILL';
    if (what === 'pod' && body.has('signal'))
      body.fail('a pod is force-deleted; signal applies to container and agent', 'signal');
    return { what, ref, signal };
  },
  describe: (s) =>
    s.what === 'container'
      ? `kill -${s.signal} the processes of ${s.ref}`
      : s.what === 'pod'
        ? `force-delete ${s.ref}`
        : `kill -${s.signal} the agent of ${s.ref}`,
  async run(s, ctx): Promise<StepOutcome> {
    const place = await ctx.place(s.ref);
    if (s.what === 'pod') {
      await ctx.client.delete(PODS, place.pod!.metadata.namespace, place.pod!.metadata.name!, {
        gracePeriodSeconds: 0,
      });
      return { ok: true, message: `deleted ${place.label} (grace 0)` };
    }
    if (s.what === 'agent') {
      const node = ctx.nodes.find((n) => n.name === place.node);
      if (!node?.pid) return { ok: false, message: `${place.label}: no node process known` };
      process.kill(node.pid, `SIG${s.signal}`);
      return {
        ok: true,
        message: `sent SIG${s.signal} to the node process of ${node.name} (pid ${node.pid})`,
      };
    }
    const pids = await netnsPids(ctx, place.netns);
    if (pids.length === 0) return { ok: false, message: `${place.label}: no process runs in ${place.netns}` };
    for (const pid of pids) {
      try {
        process.kill(pid, `SIG${s.signal}`);
      } catch {
        // Gone already (a short-lived probe): nothing to kill.
      }
    }
    return { ok: true, message: `sent SIG${s.signal} to ${pids.length} process(es) of ${place.label}` };
  },
};

interface PartitionSpec {
  node: string;
  link: 'down' | 'up';
}

/** `partition`: `{node: node-2, link: down}` — the node's port on the LAN bridge goes down (or up). */
export const partitionStep: StepKind<PartitionSpec> = {
  kind: 'partition',
  summary: "take a node's LAN link down (or back up): the node is cut off from the LAN",
  schema: {
    type: 'object',
    properties: {
      node: { type: 'string', description: 'node name (or node:NAME)' },
      link: { enum: ['down', 'up'], default: 'down' },
    },
    required: ['node'],
    additionalProperties: false,
  },
  parse(body) {
    body.only(['node', 'link']);
    const node = body.string('node', { required: true }).replace(/^node:/, '');
    return { node, link: body.oneOf('link', ['down', 'up'] as const) ?? 'down' };
  },
  describe: (s) => `partition: ${s.node} LAN link ${s.link}`,
  async run(s, ctx) {
    const n = ctx.cluster.plan.nodes.find((x) => x.name === s.node || String(x.index) === s.node);
    if (!n)
      return {
        ok: false,
        message: `no node "${s.node}" (nodes: ${ctx.nodes.map((x) => x.name).join(', ')})`,
      };
    // The bridge-side end of the node's veth: the node keeps its address and routes (they only
    // lose carrier), so bringing it back up heals the partition completely.
    await ctx.exec.run('ip', ['-n', ctx.underlay.netns, 'link', 'set', n.underlayVeth, s.link]);
    return { ok: true, message: `${n.name}: ${n.underlayVeth} in ${ctx.underlay.netns} is ${s.link}` };
  },
};
