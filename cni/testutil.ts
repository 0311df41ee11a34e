/**
 * Test helpers for the CNI plugins: invoke a plugin through the protocol (env + stdin → code +
 * parsed stdout) and build network configs.
 */
import { type CniPlugin, type HostContext, pluginMain } from './skel.ts';

/** The outcome of one invocation. */
export interface Invocation {
  code: number;
  out: any;
  raw: string;
}

/** Runs `plugin` with CNI_COMMAND=`command` and the given env/config, as a runtime would. */
export async function invoke(
  plugin: CniPlugin,
  command: string,
  conf: unknown,
  env: Record<string, string | undefined> = {},
  host?: HostContext,
): Promise<Invocation> {
  let raw = '';
  const stdin = typeof conf === 'string' ? conf : JSON.stringify(conf);
  const code = await pluginMain(plugin, {
    env: { CNI_PATH: '/nonexistent', ...env, CNI_COMMAND: command },
    stdin,
    stdout: (s) => (raw += s),
    host,
  });
  let out: any;
  try {
    out = raw ? JSON.parse(raw) : undefined;
  } catch {
    out = raw;
  }
  return { code, out, raw };
}
