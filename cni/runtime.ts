/**
 * The runtime side of CNI (what libcni does for containerd): run a network configuration list
 * — plugins in order for ADD with each Result passed to the next as prevResult, in reverse order
 * for DEL, CHECK with the cached Result, GC and STATUS for every plugin — building each plugin's
 * config from the list (cniVersion, name, prevResult, runtimeConfig from declared capabilities).
 * The node agent calls this; tests run it with plugins in-process.
 */
import { type Delegate, makeDelegate } from './delegate.ts';
import type { CmdArgs, CniCommand } from './skel.ts';
import { CniCode, CniError, type CniResult, compareVersions, convertResult, type NetConf } from './spec.ts';

/** A network configuration list (`*.conflist`). */
export interface NetConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  disableGC?: boolean;
  plugins: Array<{ type: string; capabilities?: Record<string, boolean>; [k: string]: unknown }>;
}

/** Per-attachment arguments (libcni's RuntimeConf). */
export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: Array<[string, string]>;
  /** Values for capabilities (`portMappings`, …), passed as runtimeConfig to plugins declaring them. */
  capabilityArgs?: Record<string, unknown>;
}

/** Options: where plugins live, and how to run them (default: exec from cniPath). */
export interface RuntimeOptions {
  cniPath: string[];
  /** Runs one plugin; default: exec the binary from cniPath. */
  delegate?: Delegate;
}

function pluginConf(list: NetConfList, i: number, rt: RuntimeConf | undefined, prev?: CniResult): NetConf {
  const { capabilities, ...p } = list.plugins[i];
  const conf: NetConf = { ...p, cniVersion: list.cniVersion, name: list.name, type: p.type } as NetConf;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(capabilities ?? {}))
    if (on && rt?.capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  if (prev) conf.prevResult = convertResult(prev, list.cniVersion);
  return conf;
}

function argsFor(
  command: CniCommand,
  rt: RuntimeConf | undefined,
  opts: RuntimeOptions,
  stdin: string,
  conf: NetConf,
): CmdArgs {
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt?.containerId,
    CNI_NETNS: rt?.netns,
    CNI_IFNAME: rt?.ifname,
    CNI_ARGS: rt?.args?.map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: opts.cniPath.join(':'),
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return {
    command,
    containerId: rt?.containerId ?? '',
    netns: rt?.netns ?? '',
    ifname: rt?.ifname ?? '',
    args: env.CNI_ARGS ?? '',
    argsMap: {},
    path: opts.cniPath,
    stdin,
    conf,
    host: { ns: undefined, pid: process.pid },
    env,
  };
}

async function runOne(
  command: CniCommand,
  list: NetConfList,
  i: number,
  rt: RuntimeConf | undefined,
  opts: RuntimeOptions,
  prev?: CniResult,
  extra: Partial<NetConf> = {},
) {
  const conf = { ...pluginConf(list, i, rt, prev), ...extra };
  const stdin = JSON.stringify(conf);
  const delegate = opts.delegate ?? makeDelegate();
  return delegate(list.plugins[i].type, command, stdin, argsFor(command, rt, opts, stdin, conf));
}

/** ADD through every plugin; returns the final Result (cache it for DEL and CHECK). */
export async function addNetworkList(
  list: NetConfList,
  rt: RuntimeConf,
  opts: RuntimeOptions,
): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (let i = 0; i < list.plugins.length; i++) {
    const r = await runOne('ADD', list, i, rt, opts, prev);
    if (!r) throw new CniError(CniCode.DecodingFailure, `${list.plugins[i].type}: ADD returned no result`);
    prev = r;
  }
  if (!prev) throw new CniError(CniCode.InvalidConfig, `network list ${list.name} has no plugins`);
  return prev;
}

/** DEL through every plugin in reverse order (idempotent plugins: safe to repeat). */
export async function delNetworkList(
  list: NetConfList,
  rt: RuntimeConf,
  opts: RuntimeOptions,
  cached?: CniResult,
): Promise<void> {
  for (let i = list.plugins.length - 1; i >= 0; i--) await runOne('DEL', list, i, rt, opts, cached);
}

/** CHECK through every plugin with the cached Result. */
export async function checkNetworkList(
  list: NetConfList,
  rt: RuntimeConf,
  opts: RuntimeOptions,
  cached: CniResult,
): Promise<void> {
  if (list.disableCheck) return;
  for (let i = 0; i < list.plugins.length; i++) await runOne('CHECK', list, i, rt, opts, cached);
}

/** GC: every plugin releases what is not in `valid`. */
export async function gcNetworkList(
  list: NetConfList,
  valid: Array<{ containerID: string; ifname: string }>,
  opts: RuntimeOptions,
): Promise<void> {
  // As libcni: lists older than 1.1.0 have no GC.
  if (list.disableGC || compareVersions(list.cniVersion, '1.1.0') < 0) return;
  for (let i = 0; i < list.plugins.length; i++)
    await runOne('GC', list, i, undefined, opts, undefined, { 'cni.dev/valid-attachments': valid });
}

/** STATUS of every plugin; throws the first plugin's error. */
export async function statusNetworkList(list: NetConfList, opts: RuntimeOptions): Promise<void> {
  if (compareVersions(list.cniVersion, '1.1.0') < 0) return;
  for (let i = 0; i < list.plugins.length; i++) await runOne('STATUS', list, i, undefined, opts);
}
