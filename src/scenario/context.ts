/**
 * The run-time side of a scenario: `createContext` turns a running cluster into the `RunContext`
 * steps use — place references resolved against the API (`pod:app=client` → the pod's sandbox
 * namespace and IP), commands run inside namespaces, a logger, deferred cleanup — and
 * `addOutsideClient` attaches a "machine on the LAN" that is not a node (its own namespace, a veth
 * on the LAN bridge, an address low in the node CIDR), for traffic from outside the cluster.
 * `probeCommand` bundles the traffic probe once and returns the argv that runs it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod } from '../api/kinds/core.ts';
import { findResource } from '../api/resources.ts';
import { hashedLinkName, LAN_BRIDGE } from '../cluster/plan.ts';
import type { RunningCluster } from '../cluster/run.ts';
import { type Cidr4, numToIp4, parseCidr4 } from '../cluster/spec.ts';
import type { Exec } from '../kernel/exec.ts';
import { sandboxName } from '../node/names.ts';
import { DisposableStore } from '../util/disposable.ts';
import { PodnetError } from '../util/errors.ts';
import type { ProbeSpec } from './probe.ts';
import type { Place, RunContext, ScenarioNode } from './types.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const PODS = findResource('', 'v1', 'pods')!;

/** Host offset of the outside client in the node CIDR (.5: below the nodes at .11+, above the gateway). */
export const OUTSIDE_IP_OFFSET = 5;

/** Name of the outside client's namespace (carries the cluster prefix, so teardown sweeps it). */
export function outsideNetns(cluster: string): string {
  return `pn-${cluster}-outside`;
}

/**
 * Creates the outside client: namespace `pn-<cluster>-outside` with `eth0` on the LAN bridge at
 * `.5` of the node CIDR, default route via the LAN gateway. Returns its namespace and address.
 */
export async function addOutsideClient(
  exec: Exec,
  cluster: RunningCluster,
): Promise<{ netns: string; ip: string; dispose(): Promise<void> }> {
  const ns = outsideNetns(cluster.spec.name);
  const lan = parseCidr4(cluster.spec.nodeCIDR) as Cidr4;
  const ip = numToIp4(lan.base + OUTSIDE_IP_OFFSET);
  const underlay = cluster.plan.underlay.netns;
  const veth = hashedLinkName(cluster.spec.name, 'outside');
  await exec.run('ip', ['netns', 'delete', ns], { allowFail: true });
  await exec.run('ip', ['netns', 'add', ns]);
  const dispose = async () => {
    await exec.run('ip', ['-n', underlay, 'link', 'delete', veth], { allowFail: true });
    await exec.run('ip', ['netns', 'delete', ns], { allowFail: true });
  };
  try {
    await exec.run('ip', [
      '-n',
      underlay,
      'link',
      'add',
      veth,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ]);
    await exec.run('ip', ['-n', underlay, 'link', 'set', veth, 'master', LAN_BRIDGE, 'up']);
    await exec.run('ip', ['-n', ns, 'addr', 'add', `${ip}/${lan.prefix}`, 'dev', 'eth0']);
    await exec.run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await exec.run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await exec.run('ip', ['-n', ns, 'route', 'add', 'default', 'via', cluster.plan.underlay.gateway]);
  } catch (e) {
    await dispose();
    throw e;
  }
  return { netns: ns, ip, dispose };
}

let probeBundle: Promise<string> | undefined;

/** The argv that runs the probe with `spec` (bundled to plain JS on first use). */
export async function probeCommand(spec: ProbeSpec): Promise<string[]> {
  probeBundle ??= (async () => {
    const src = join(HERE, 'probe.ts');
    const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
    const out = join(HERE, '../../node_modules/.cache/podnet', `probe-${hash}.mjs`);
    if (!existsSync(out)) {
      mkdirSync(dirname(out), { recursive: true });
      const esbuild = await import('esbuild');
      await esbuild.build({
        entryPoints: [src],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile: out,
        logLevel: 'silent',
      });
    }
    return out;
  })();
  return [process.execPath, await probeBundle, JSON.stringify(spec)];
}

/** Is `s` a label selector rather than a name? */
function isSelector(s: string): boolean {
  return /[=!]|\s(in|notin)\s/.test(s);
}

function podReady(p: Pod): boolean {
  return (
    !p.metadata.deletionTimestamp &&
    p.status?.phase === 'Running' &&
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Options of createContext. */
export interface ContextOptions {
  scenario: string;
  baseDir: string;
  artifactsDir: string;
  cluster: RunningCluster;
  outside: { netns: string; ip: string };
  defaultNamespace: string;
  exec: Exec;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** A RunContext plus the disposer of everything steps deferred. */
export interface ScenarioContext extends RunContext {
  /** Runs the deferred cleanups (reverse order). */
  dispose(): Promise<void>;
}

/** Builds the RunContext of a running scenario. */
export function createContext(o: ContextOptions): ScenarioContext {
  const c = o.cluster;
  const owner = new DisposableStore();
  const nodes: ScenarioNode[] = c.plan.nodes.map((n) => ({
    name: n.name,
    netns: n.netns,
    lanIP: n.lanIP,
    podCIDR: n.podCIDR,
    pid: c.nodePids[n.name],
  }));

  const podPlace = (p: Pod): Place => ({
    kind: 'pod',
    label: `pod:${p.metadata.namespace === o.defaultNamespace ? '' : `${p.metadata.namespace}/`}${p.metadata.name}`,
    netns: sandboxName(c.spec.name, {
      namespace: p.metadata.namespace ?? 'default',
      name: p.metadata.name!,
      uid: p.metadata.uid!,
    }),
    ip: p.status?.podIP,
    node: p.spec?.nodeName,
    pod: p,
  });

  const pods = async (selector: string, namespace?: string): Promise<Pod[]> => {
    const list = await c.client.list<Pod>(PODS, namespace ?? o.defaultNamespace, { labelSelector: selector });
    return [...list.items].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
  };

  const places = async (ref: string): Promise<Place[]> => {
    if (ref === 'outside')
      return [{ kind: 'outside', label: 'outside', netns: o.outside.netns, ip: o.outside.ip }];
    if (ref === 'underlay') return [{ kind: 'underlay', label: 'underlay', netns: c.plan.underlay.netns }];
    if (ref.startsWith('node:')) {
      const want = ref.slice(5);
      const n = c.plan.nodes.find((x) => x.name === want || String(x.index) === want);
      if (!n)
        throw new PodnetError(
          'PN_ERR_NOT_FOUND',
          `${ref}: no such node (nodes: ${nodes.map((x) => x.name).join(', ')})`,
        );
      return [{ kind: 'node', label: `node:${n.name}`, netns: n.netns, ip: n.lanIP, node: n.name }];
    }
    if (ref.startsWith('pod:')) {
      let rest = ref.slice(4);
      // `@NODE`: only pods running on that node (e.g. pod:app=echo@node-2).
      let onNode: string | undefined;
      const at = rest.lastIndexOf('@');
      if (at > 0) {
        onNode = rest.slice(at + 1);
        rest = rest.slice(0, at);
      }
      let ns = o.defaultNamespace;
      const slash = rest.indexOf('/');
      if (slash > 0 && !/[=!]/.test(rest.slice(0, slash))) {
        ns = rest.slice(0, slash);
        rest = rest.slice(slash + 1);
      }
      if (isSelector(rest)) {
        const all = await pods(rest, ns);
        const running = all.filter((p) => podReady(p) && (!onNode || p.spec?.nodeName === onNode));
        if (running.length === 0)
          throw new PodnetError(
            'PN_ERR_NOT_FOUND',
            `${ref}: no Ready pod matches${onNode ? ` on ${onNode}` : ''} (${all.length} match the selector${all.length ? `: ${all.map((p) => `${p.metadata.name} ${p.status?.phase ?? 'Pending'} on ${p.spec?.nodeName ?? '-'}`).join(', ')}` : ''})`,
          );
        return running.map(podPlace);
      }
      try {
        return [podPlace(await c.client.get<Pod>(PODS, ns, rest))];
      } catch (e) {
        throw new PodnetError('PN_ERR_NOT_FOUND', `${ref}: ${(e as Error).message}`);
      }
    }
    throw new PodnetError('PN_ERR_SCENARIO', `${ref}: not a place (pod:REF, node:NAME, outside, underlay)`);
  };

  return {
    scenario: o.scenario,
    baseDir: o.baseDir,
    artifactsDir: o.artifactsDir,
    cluster: {
      name: c.spec.name,
      spec: c.spec,
      plan: c.plan,
      kubeconfigPath: c.kubeconfigPath,
      apiUrl: c.apiUrl,
    },
    client: c.client,
    nodes,
    outside: o.outside,
    underlay: { netns: c.plan.underlay.netns, bridge: LAN_BRIDGE },
    defaultNamespace: o.defaultNamespace,
    exec: o.exec,
    signal: o.signal,
    place: async (ref) => (await places(ref))[0],
    places,
    async execIn(place, cmd, opts = {}) {
      const p = typeof place === 'string' ? (await places(place))[0] : place;
      if (p.kind === 'pod' && !existsSync(`/run/netns/${p.netns}`))
        return {
          code: 127,
          stdout: '',
          stderr: `${p.label} has no sandbox namespace (${p.netns}) on this machine`,
        };
      const env = {
        ...process.env,
        ...(p.pod
          ? {
              POD_NAME: p.pod.metadata.name!,
              POD_NAMESPACE: p.pod.metadata.namespace ?? 'default',
              HOSTNAME: p.pod.metadata.name!,
            }
          : {}),
      };
      return o.exec.run(cmd[0], cmd.slice(1), {
        netns: p.netns,
        allowFail: true,
        timeoutMs: opts.timeoutMs ?? 30_000,
        input: opts.input,
        env,
      });
    },
    pods,
    log: o.log,
    defer: (fn) => {
      owner.defer(fn);
    },
    dispose: () => owner.dispose(),
  };
}
