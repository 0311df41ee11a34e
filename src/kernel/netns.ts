/**
 * Network namespaces: naming, paths, and running a command inside one.
 *
 * A namespace is referred to by an `NsRef`: `undefined` is the caller's own namespace, a bare name is
 * a namespace under /run/netns (what `ip netns add` creates), and an absolute path is any namespace
 * file (`/proc/PID/ns/net`, a CNI_NETNS bind mount). `ip` enters named namespaces itself (`ip -n`);
 * for anything else we prefix `nsenter --net=PATH`, which costs one extra exec but accepts any path.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { Exec } from './exec.ts';

/** A network namespace: undefined = own, a name under /run/netns, or an absolute path. */
export type NsRef = string | undefined;

/** Where `ip netns add` puts named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/** The file path of a namespace reference (`/proc/self/ns/net` for our own). */
export function nsPath(ns: NsRef): string {
  if (ns === undefined) return '/proc/self/ns/net';
  return ns.startsWith('/') ? ns : `${NETNS_RUN_DIR}/${ns}`;
}

/**
 * The `ip -n` name of a reference when it has one: a bare name, or a path directly under
 * /run/netns or /var/run/netns. Undefined otherwise (own namespace or an arbitrary path).
 */
export function nsName(ns: NsRef): string | undefined {
  if (ns === undefined) return undefined;
  if (!ns.startsWith('/')) return ns;
  const m = /^(?:\/var)?\/run\/netns\/([^/]+)$/.exec(ns);
  return m ? m[1] : undefined;
}

/** Builds the argv that runs `cmd args` inside `ns` (uses `ip -n` for ip on named namespaces). */
export function nsCommand(ns: NsRef, cmd: string, args: string[]): [string, string[]] {
  if (ns === undefined) return [cmd, args];
  const name = nsName(ns);
  if (cmd === 'ip' && name !== undefined) return ['ip', ['-n', name, ...args]];
  return ['nsenter', [`--net=${nsPath(ns)}`, cmd, ...args]];
}

/** True when two namespace references denote the same kernel namespace (same dev+inode). */
export function sameNs(a: NsRef, b: NsRef): boolean {
  try {
    const sa = statSync(nsPath(a));
    const sb = statSync(nsPath(b));
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/** Creates, deletes and lists named network namespaces. */
export interface Netns {
  /** Creates the named namespace (and brings its `lo` up when `loUp`). Fails if it exists. */
  add(name: string, opts?: { loUp?: boolean }): Promise<void>;
  /** Deletes the named namespace; a missing one is not an error. */
  del(name: string): Promise<void>;
  /** Names of all namespaces under /run/netns. */
  list(): Promise<string[]>;
  /** Whether the namespace exists (a name or a path). */
  exists(ns: string): Promise<boolean>;
  /** The file path of a namespace name. */
  path(name: string): string;
}

/** The real implementation over `ip netns`. */
export class RealNetns implements Netns {
  constructor(private readonly exec: Exec) {}

  async add(name: string, opts: { loUp?: boolean } = {}): Promise<void> {
    await this.exec.run('ip', ['netns', 'add', name]);
    if (opts.loUp) await this.exec.run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  async del(name: string): Promise<void> {
    if (!existsSync(nsPath(name))) return;
    await this.exec.run('ip', ['netns', 'del', name], { allowFail: true });
  }

  async list(): Promise<string[]> {
    try {
      return readdirSync(NETNS_RUN_DIR).sort();
    } catch {
      return [];
    }
  }

  async exists(ns: string): Promise<boolean> {
    return existsSync(nsPath(ns));
  }

  path(name: string): string {
    return nsPath(name);
  }
}

/** In-memory fake: namespaces are just names. */
export class FakeNetns implements Netns {
  readonly names = new Set<string>();
  readonly calls: string[] = [];

  async add(name: string): Promise<void> {
    this.calls.push(`add ${name}`);
    if (this.names.has(name)) throw new Error(`Cannot create namespace file "${nsPath(name)}": File exists`);
    this.names.add(name);
  }
  async del(name: string): Promise<void> {
    this.calls.push(`del ${name}`);
    this.names.delete(name);
  }
  async list(): Promise<string[]> {
    return [...this.names].sort();
  }
  async exists(ns: string): Promise<boolean> {
    const name = nsName(ns);
    return name !== undefined && this.names.has(name);
  }
  path(name: string): string {
    return nsPath(name);
  }
}
