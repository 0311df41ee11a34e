/**
 * The plugin skeleton: turns the CNI protocol (environment + stdin → stdout + exit code) into calls of
 * a plugin's `add`, `del`, `check`, `status` and `gc`. Everything is validated before a handler runs,
 * so handlers can trust their arguments; every failure leaves as the spec's error JSON with a
 * non-zero exit, and anything that is not a CniError becomes code 999 here, in one place.
 */
import type { NsRef } from '../src/kernel/netns.ts';
import {
  CniCode,
  CniError,
  type CniResult,
  compareVersions,
  convertResult,
  isSupportedVersion,
  LATEST_VERSION,
  type NetConf,
  SUPPORTED_VERSIONS,
  toCniError,
} from './spec.ts';

/** The CNI operations. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'VERSION' | 'GC';
const COMMANDS: CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'VERSION', 'GC'];

/** Environment variables each command requires (CNI_ARGS is always optional). */
const REQUIRED_ENV: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

/** Where the runtime runs: host-side links are created in `ns`; `pid` is a process inside it. */
export interface HostContext {
  ns: NsRef;
  pid: number;
}

/** Validated arguments of one invocation. */
export interface CmdArgs {
  command: CniCommand;
  containerId: string;
  /** CNI_NETNS: a path (may be empty for DEL, GC, STATUS). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as given, and parsed into key → value. */
  args: string;
  argsMap: Record<string, string>;
  path: string[];
  /** The raw network configuration, and parsed. */
  stdin: string;
  conf: NetConf;
  host: HostContext;
  /** The whole environment the plugin was called with (for delegating to IPAM plugins). */
  env: Record<string, string | undefined>;
}

/** A CNI plugin's operations. */
export interface CniPlugin {
  /** Name as called (`podnet-bridge`). */
  name: string;
  add(a: CmdArgs): Promise<CniResult>;
  del(a: CmdArgs): Promise<void>;
  check(a: CmdArgs): Promise<void>;
  status(a: CmdArgs): Promise<void>;
  gc(a: CmdArgs): Promise<void>;
}

/** The process-level inputs and outputs of one invocation. */
export interface PluginIo {
  env: Record<string, string | undefined>;
  stdin: string;
  stdout(s: string): void;
  /** Defaults to our own namespace and PID. */
  host?: HostContext;
}

/** Parses CNI_ARGS (`K1=V1;K2=V2`); a pair without `=` is a decoding error (code 4). */
export function parseCniArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const pair of s.split(';')) {
    if (!pair) continue;
    const i = pair.indexOf('=');
    if (i <= 0) throw new CniError(CniCode.InvalidEnv, `CNI_ARGS: invalid pair "${pair}" (want KEY=VALUE)`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** Checks a container id as the reference skeleton does. */
export function validateContainerId(id: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(id))
    throw new CniError(CniCode.InvalidEnv, `CNI_CONTAINERID: invalid characters in "${id}"`);
}

/** Checks an interface name: 1–15 characters, not "." or "..", no "/", ":" or whitespace. */
export function validateIfname(name: string): void {
  if (name.length > 15)
    throw new CniError(CniCode.InvalidEnv, `CNI_IFNAME: "${name}" is longer than 15 characters`);
  if (name === '.' || name === '..' || /[/:\s]/.test(name))
    throw new CniError(CniCode.InvalidEnv, `CNI_IFNAME: "${name}" is not a valid interface name`);
}

/** Runs one invocation; returns the exit code (0 success, 1 error). Never throws. */
export async function pluginMain(plugin: CniPlugin, io: PluginIo): Promise<number> {
  let version = LATEST_VERSION;
  try {
    const env = io.env;
    const command = env.CNI_COMMAND as CniCommand | undefined;
    if (!command) throw new CniError(CniCode.InvalidEnv, 'environment variable CNI_COMMAND is missing');
    if (!COMMANDS.includes(command))
      throw new CniError(
        CniCode.InvalidEnv,
        `CNI_COMMAND: unknown command "${command}"`,
        `want one of ${COMMANDS.join(', ')}`,
      );

    if (command === 'VERSION') {
      let asked: unknown;
      try {
        asked = io.stdin.trim() ? JSON.parse(io.stdin).cniVersion : undefined;
      } catch {
        asked = undefined;
      }
      const v = typeof asked === 'string' && /^\d+\.\d+\.\d+$/.test(asked) ? asked : LATEST_VERSION;
      io.stdout(JSON.stringify({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] }));
      return 0;
    }

    const missing = REQUIRED_ENV[command].filter((k) => !env[k]);
    if (missing.length)
      throw new CniError(CniCode.InvalidEnv, `required environment variables missing: ${missing.join(', ')}`);

    let conf: NetConf;
    try {
      conf = JSON.parse(io.stdin);
    } catch (e) {
      throw new CniError(
        CniCode.DecodingFailure,
        'failed to decode network configuration',
        (e as Error).message,
      );
    }
    if (typeof conf !== 'object' || conf === null || Array.isArray(conf))
      throw new CniError(CniCode.DecodingFailure, 'network configuration: not a JSON object');
    if (!isSupportedVersion(conf.cniVersion))
      throw new CniError(
        CniCode.IncompatibleVersion,
        `incompatible CNI version: config has cniVersion ${JSON.stringify(conf.cniVersion ?? null)}, plugin supports ${SUPPORTED_VERSIONS.join(', ')}`,
      );
    version = conf.cniVersion;
    if ((command === 'GC' || command === 'STATUS') && compareVersions(version, '1.1.0') < 0)
      throw new CniError(
        CniCode.IncompatibleVersion,
        `${command} needs cniVersion 1.1.0 or later; config has ${version}`,
      );
    if (typeof conf.type !== 'string' || !conf.type)
      throw new CniError(CniCode.InvalidConfig, 'network configuration: field "type" is missing');
    if (command !== 'STATUS' && (typeof conf.name !== 'string' || !conf.name))
      throw new CniError(CniCode.InvalidConfig, 'network configuration: field "name" is missing');

    const containerId = env.CNI_CONTAINERID ?? '';
    const ifname = env.CNI_IFNAME ?? '';
    if (containerId) validateContainerId(containerId);
    if (ifname) validateIfname(ifname);
    const a: CmdArgs = {
      command,
      containerId,
      netns: env.CNI_NETNS ?? '',
      ifname,
      args: env.CNI_ARGS ?? '',
      argsMap: parseCniArgs(env.CNI_ARGS ?? ''),
      path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
      stdin: io.stdin,
      conf,
      host: io.host ?? { ns: undefined, pid: process.pid },
      env,
    };
    switch (command) {
      case 'ADD': {
        const r = await plugin.add(a);
        io.stdout(JSON.stringify(convertResult(r, version)));
        break;
      }
      case 'DEL':
        await plugin.del(a);
        break;
      case 'CHECK':
        await plugin.check(a);
        break;
      case 'STATUS':
        await plugin.status(a);
        break;
      case 'GC':
        await plugin.gc(a);
        break;
    }
    return 0;
  } catch (e) {
    io.stdout(JSON.stringify(toCniError(e).toJSON(version)));
    return 1;
  }
}
