/**
 * Kernel parameters (sysctl) of a network namespace. `net.*` keys are per namespace: /proc/sys/net
 * shows the namespace of the process that opens it, so our own namespace is a file write and any
 * other goes through `nsenter --net=… sysctl`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Exec } from './exec.ts';
import { type NsRef, nsCommand } from './netns.ts';

/** Reads and writes sysctl keys (dotted form, e.g. `net.ipv4.ip_forward`). */
export interface Sysctl {
  get(ns: NsRef, key: string): Promise<string | undefined>;
  set(ns: NsRef, key: string, value: string): Promise<void>;
}

/** `net.ipv4.conf.eth0.forwarding` → `/proc/sys/net/ipv4/conf/eth0/forwarding`. */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

/** The real implementation. */
export class RealSysctl implements Sysctl {
  constructor(private readonly exec: Exec) {}

  async get(ns: NsRef, key: string): Promise<string | undefined> {
    if (ns === undefined)
      return readFile(sysctlPath(key), 'utf8').then(
        (s) => s.trim(),
        () => undefined,
      );
    const [cmd, args] = nsCommand(ns, 'cat', [sysctlPath(key)]);
    const r = await this.exec.run(cmd, args, { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async set(ns: NsRef, key: string, value: string): Promise<void> {
    if (ns === undefined) {
      const cur = await this.get(undefined, key);
      if (cur !== value) await writeFile(sysctlPath(key), value);
      return;
    }
    const [cmd, args] = nsCommand(ns, 'sysctl', ['-qw', `${key.replaceAll('.', '/')}=${value}`]);
    await this.exec.run(cmd, args);
  }
}

/** In-memory fake: `${ns}|${key}` → value. */
export class FakeSysctl implements Sysctl {
  readonly values = new Map<string, string>();
  async get(ns: NsRef, key: string): Promise<string | undefined> {
    return this.values.get(`${ns ?? ''}|${key}`);
  }
  async set(ns: NsRef, key: string, value: string): Promise<void> {
    this.values.set(`${ns ?? ''}|${key}`, value);
  }
}
