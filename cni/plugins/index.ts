/**
 * The plugin set, by executable name. IPAM calls to `podnet-host-local` run in-process; any other
 * IPAM type (the reference `host-local`, `static`, `dhcp`…) is executed from CNI_PATH.
 */
import type { Kernel } from '../../src/kernel/index.ts';
import { makeDelegate } from '../delegate.ts';
import type { CniPlugin } from '../skel.ts';
import { bridgePlugin } from './bridge.ts';
import { type HostLocalOptions, hostLocalPlugin } from './host-local.ts';
import { loopbackPlugin } from './loopback.ts';
import { portmapPlugin } from './portmap.ts';

/** Names of our executables. */
export const PLUGIN_NAMES = [
  'podnet-bridge',
  'podnet-host-local',
  'podnet-loopback',
  'podnet-portmap',
] as const;

/** Options for building the plugin set. */
export interface PluginSetOptions {
  kernel: Kernel;
  /** Run `podnet-host-local` in-process when it is the IPAM type (default true). */
  inProcessIpam?: boolean;
  hostLocal?: HostLocalOptions;
}

/** Builds all plugins, keyed by executable name. */
export function makePlugins(opts: PluginSetOptions): Record<string, CniPlugin> {
  const hostLocal = hostLocalPlugin(opts.hostLocal);
  const delegate = makeDelegate(opts.inProcessIpam === false ? {} : { 'podnet-host-local': hostLocal });
  return {
    'podnet-bridge': bridgePlugin({ kernel: opts.kernel, delegate }),
    'podnet-host-local': hostLocal,
    'podnet-loopback': loopbackPlugin({ kernel: opts.kernel }),
    'podnet-portmap': portmapPlugin({ kernel: opts.kernel }),
  };
}

/** Maps an invocation name (path, "bridge" or "podnet-bridge") to a plugin name, or undefined. */
export function pluginNameOf(invoked: string): string | undefined {
  const base = invoked.split('/').pop() ?? '';
  const name = base.startsWith('podnet-') ? base : `podnet-${base}`;
  return (PLUGIN_NAMES as readonly string[]).includes(name) ? name : undefined;
}
