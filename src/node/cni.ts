/**
 * The runtime side of CNI: what libcni does for a container runtime. It builds the node's network
 * configuration list (bridge + IPAM over the node's podCIDR), and runs a conflist's plugins for
 * ADD (in order, each getting the previous one's result as `prevResult`), CHECK (in order, with the
 * cached ADD result) and DEL (in reverse order, with the cached ADD result). Plugins are executables
 * found in the bin dirs; they run inside the NODE network namespace (`ip netns exec <node>`), where
 * the bridge lives, so nothing touches the host's own network.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/** A CNI network configuration list (the `.conflist` file). */
export interface NetConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: Array<Record<string, unknown> & { type: string }>;
}

/** The plugin executables the node conflist names; swap them for the reference plugins here. */
export interface CniTypes {
  /** Main plugin (default `podnet-bridge`; the reference one is `bridge`). */
  bridge?: string;
  /** IPAM plugin (default `podnet-host-local`; the reference one is `host-local`). */
  ipam?: string;
}

/** Inputs of the node conflist. */
export interface NodeConflistOptions {
  /** Network name (also host-local's state sub-directory). */
  name: string;
  podCIDR: string;
  /** host-local's state directory. */
  dataDir: string;
  types?: CniTypes;
  /** Bridge name (default cni0). */
  bridge?: string;
  cniVersion?: string;
  mtu?: number;
}

/**
 * The node's conflist: one bridge `cni0` acting as the pods' gateway, no masquerade (pod-to-pod
 * traffic keeps its source address, as Kubernetes requires), hairpin so a pod can reach itself
 * through a Service, and host-local IPAM over the podCIDR.
 */
export function nodeConflist(o: NodeConflistOptions): NetConfList {
  if (!o.podCIDR) throw new Error('podCIDR: required to build the CNI configuration');
  return {
    cniVersion: o.cniVersion ?? '1.0.0',
    name: o.name,
    plugins: [
      {
        type: o.types?.bridge ?? 'podnet-bridge',
        bridge: o.bridge ?? 'cni0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ...(o.mtu ? { mtu: o.mtu } : {}),
        ipam: {
          type: o.types?.ipam ?? 'podnet-host-local',
          ranges: [[{ subnet: o.podCIDR }]],
          dataDir: o.dataDir,
        },
      },
    ],
  };
}

/** A CNI result as the runtime reads it (the fields it needs). */
export interface CniResultJson {
  cniVersion?: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number; version?: string }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: Record<string, unknown>;
  [k: string]: unknown;
}

/** A plugin failure: the spec's error (code, msg, details) plus which plugin and command. */
export class CniInvokeError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly code: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(`CNI ${command} ${plugin} failed (code ${code}): ${msg}${details ? ` (${details})` : ''}`);
    this.name = 'CniInvokeError';
  }
}

/** Where and how plugins run for one container. */
export interface CniRuntimeConf {
  containerId: string;
  /** Path of the container's network namespace (e.g. /run/netns/pn-c-pod-1234). */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs (K8S_POD_NAME etc.). */
  args?: Record<string, string>;
}

/** How plugins are executed. */
export interface CniExecOptions {
  /** Directories searched for plugin executables (CNI_PATH). */
  binDirs: string[];
  /** Run plugins inside this named network namespace (the node's); undefined = our own. */
  nodeNetns?: string;
  /** Extra environment (e.g. PODNET_CNI_SOCKET). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Runs one plugin; defaults to spawning it (injectable for tests). */
  run?: (
    file: string,
    env: Record<string, string>,
    stdin: string,
  ) => Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Finds a plugin executable in the bin dirs. */
export function findPlugin(type: string, binDirs: string[]): string {
  if (!/^[A-Za-z0-9._-]+$/.test(type))
    throw new Error(`plugins[].type: invalid plugin name ${JSON.stringify(type)}`);
  for (const d of binDirs) {
    const f = join(d, type);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      // try the next directory
    }
  }
  throw new CniInvokeError(type, 'FIND', 0, `plugin ${type} not found in ${binDirs.join(':')}`);
}

function spawnPlugin(nodeNetns: string | undefined, timeoutMs: number) {
  return (file: string, env: Record<string, string>, stdin: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const [cmd, argv] = nodeNetns ? ['ip', ['netns', 'exec', nodeNetns, file]] : [file, []];
      const child = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({
          code: code ?? 128,
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
        });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
    });
}

/** The per-plugin network config libcni builds: list-level cniVersion and name, plus prevResult. */
export function pluginConfig(
  list: NetConfList,
  plugin: NetConfList['plugins'][number],
  prevResult: CniResultJson | undefined,
): Record<string, unknown> {
  const c: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult) c.prevResult = prevResult;
  else delete c.prevResult;
  return c;
}

async function invokeOne(
  command: 'ADD' | 'DEL' | 'CHECK',
  list: NetConfList,
  plugin: NetConfList['plugins'][number],
  prevResult: CniResultJson | undefined,
  rt: CniRuntimeConf,
  ex: CniExecOptions,
): Promise<CniResultJson | undefined> {
  const file = findPlugin(plugin.type, ex.binDirs);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    ...(ex.env ?? {}),
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_PATH: ex.binDirs.join(':'),
  };
  if (rt.args && Object.keys(rt.args).length > 0)
    env.CNI_ARGS = Object.entries(rt.args)
      .map(([k, v]) => `${k}=${v}`)
      .join(';');
  const run = ex.run ?? spawnPlugin(ex.nodeNetns, ex.timeoutMs ?? 60_000);
  const r = await run(file, env, JSON.stringify(pluginConfig(list, plugin, prevResult)));
  let parsed: any;
  try {
    parsed = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    parsed = undefined;
  }
  if (r.code !== 0) {
    const msg = parsed?.msg ?? (r.stderr.trim() || r.stdout.trim() || `exit status ${r.code}`);
    throw new CniInvokeError(plugin.type, command, Number(parsed?.code ?? 999), String(msg), parsed?.details);
  }
  if (command !== 'ADD') return undefined;
  if (!parsed || typeof parsed !== 'object')
    throw new CniInvokeError(
      plugin.type,
      command,
      999,
      `ADD printed no result JSON: ${r.stdout.slice(0, 200)}`,
    );
  return parsed as CniResultJson;
}

/**
 * Runs a conflist like libcni's AddNetworkList/CheckNetworkList/DelNetworkList. ADD returns the
 * last plugin's result; CHECK and DEL need the cached ADD result (`prevResult`). DEL runs every
 * plugin even when one fails and reports the first failure afterwards, so a half-failed DEL still
 * releases what the others hold.
 */
export async function invokeConflist(
  command: 'ADD' | 'DEL' | 'CHECK',
  list: NetConfList,
  rt: CniRuntimeConf,
  ex: CniExecOptions,
  prevResult?: CniResultJson,
): Promise<CniResultJson | undefined> {
  if (!Array.isArray(list.plugins) || list.plugins.length === 0)
    throw new Error(`conflist ${list.name}: plugins must list at least one plugin`);
  if (command === 'ADD') {
    let prev: CniResultJson | undefined;
    for (const p of list.plugins) prev = await invokeOne('ADD', list, p, prev, rt, ex);
    return prev;
  }
  if (command === 'CHECK') {
    if (list.disableCheck) return undefined;
    for (const p of list.plugins) await invokeOne('CHECK', list, p, prevResult, rt, ex);
    return undefined;
  }
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      await invokeOne('DEL', list, p, prevResult, rt, ex);
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
  return undefined;
}

/** The first IPv4 (else first) address of a result, without the prefix length. */
export function resultIPs(r: CniResultJson | undefined): string[] {
  const ips = (r?.ips ?? []).map((i) => i.address.split('/')[0]);
  return [...ips.filter((a) => !a.includes(':')), ...ips.filter((a) => a.includes(':'))];
}
