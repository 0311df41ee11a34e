/**
 * What a container runs, without an image runtime. A container with `command` runs that program
 * from the host filesystem inside the pod's network namespace. Otherwise the image name picks one
 * of the built-in workloads (src/node/workloads): an agnhost/netexec-like echo server, a static web
 * server for nginx/httpd, or a pause process. Anything else cannot run, and says why.
 */
import type { Container } from '../api/index.ts';

/** The built-in workloads. */
export type BuiltinWorkload = 'netexec' | 'serve-hostname' | 'static' | 'pause';

/** How to run a container. */
export type WorkloadPlan =
  | { kind: 'command'; argv: string[] }
  | { kind: 'builtin'; workload: BuiltinWorkload; args: string[] }
  | { kind: 'unsupported'; reason: string; message: string };

/** The image mapping, for documentation and error messages. */
export const BUILTIN_IMAGES = [
  '*agnhost* / *netexec* / *echoserver* / podnet/echo → echo server (agnhost netexec, serve-hostname, pause)',
  'nginx* / httpd* → static HTTP server',
  '*pause* → pause (sleeps until stopped)',
  'any image with `command` → that command from the host filesystem',
];

/** The repository part of an image reference, lower-cased, without tag or digest. */
export function imageRepository(image: string): string {
  let s = image.trim().toLowerCase();
  const at = s.indexOf('@');
  if (at >= 0) s = s.slice(0, at);
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > slash) s = s.slice(0, colon);
  return s;
}

const ECHO_RE = /(agnhost|netexec|echoserver|podnet\/echo)/;
const AGNHOST_SUBCOMMANDS: Record<string, BuiltinWorkload> = {
  netexec: 'netexec',
  'serve-hostname': 'serve-hostname',
  pause: 'pause',
};

/** Decides how `c` runs (see module comment). */
export function planWorkload(c: Container): WorkloadPlan {
  if (c.command && c.command.length > 0) return { kind: 'command', argv: [...c.command, ...(c.args ?? [])] };
  const image = c.image ?? '';
  const repo = imageRepository(image);
  const base = repo.split('/').pop() ?? '';
  const args = c.args ?? [];
  if (ECHO_RE.test(repo)) {
    // agnhost takes a subcommand first; the other echo images are netexec-like servers.
    if (/agnhost/.test(repo) && args.length > 0 && !args[0].startsWith('-')) {
      const w = AGNHOST_SUBCOMMANDS[args[0]];
      if (!w)
        return {
          kind: 'unsupported',
          reason: 'ImageNotSupported',
          message: `agnhost subcommand "${args[0]}" is not emulated (supported: ${Object.keys(AGNHOST_SUBCOMMANDS).join(', ')})`,
        };
      return { kind: 'builtin', workload: w, args: args.slice(1) };
    }
    return { kind: 'builtin', workload: 'netexec', args };
  }
  if (base.startsWith('nginx') || base.startsWith('httpd'))
    return { kind: 'builtin', workload: 'static', args };
  if (base.includes('pause')) return { kind: 'builtin', workload: 'pause', args };
  return {
    kind: 'unsupported',
    reason: 'ImageNotSupported',
    message: `image "${image}" has no built-in workload on podnet and the container has no command; built-ins: ${BUILTIN_IMAGES.join('; ')}`,
  };
}
