/**
 * The kernel edge of podnet: the only module that changes network namespaces, links, addresses,
 * routes, sysctls and firewall rules. Each part is an interface with a real implementation (over
 * iproute2, iptables-restore, nsenter) and an in-memory fake for tests without root.
 */
import { type Exec, realExec } from './exec.ts';
import { FakeIp, type Ip, RealIp } from './ip.ts';
import { FakeIptables, type IptablesRunner, RealIptables } from './iptables.ts';
import { FakeNetns, type Netns, type NsRef, RealNetns } from './netns.ts';
import { FakeSysctl, RealSysctl, type Sysctl } from './sysctl.ts';

export * from './exec.ts';
export * from './ip.ts';
export * from './ip-session.ts';
export * from './iptables.ts';
export * from './netns.ts';
export * from './sysctl.ts';

/** Everything that touches the kernel, bundled for injection. */
export interface Kernel {
  exec: Exec;
  ip: Ip;
  netns: Netns;
  sysctl: Sysctl;
  /** The iptables runner of a namespace and family. */
  iptables(ns: NsRef, family?: 4 | 6): IptablesRunner;
}

/** Options of the real kernel. */
export interface RealKernelOptions {
  /** Namespaces whose `ip` work goes through a resident ip process (see IpSession). */
  persistentIp?: (ns: NsRef) => boolean;
}

/** The real kernel, running programs through `exec`. Dispose `ip` (RealIp) to stop resident processes. */
export function realKernel(exec: Exec = realExec, opts: RealKernelOptions = {}): Kernel {
  return {
    exec,
    ip: new RealIp(exec, { persistentFor: opts.persistentIp }),
    netns: new RealNetns(exec),
    sysctl: new RealSysctl(exec),
    iptables: (ns, family = 4) => new RealIptables(exec, ns, family),
  };
}

/** A fake kernel with its parts exposed for assertions. */
export interface FakeKernel extends Kernel {
  ip: FakeIp;
  netns: FakeNetns;
  sysctl: FakeSysctl;
  /** Iptables fakes by `${ns ?? ''}/${family}`. */
  tables: Map<string, FakeIptables>;
}

/** Builds a fake kernel; `exec` fails every command (nothing may escape to the real system). */
export function fakeKernel(): FakeKernel {
  const tables = new Map<string, FakeIptables>();
  return {
    exec: {
      run: async (cmd) => {
        throw new Error(`fake kernel: unexpected exec of ${cmd}`);
      },
    },
    ip: new FakeIp(),
    netns: new FakeNetns(),
    sysctl: new FakeSysctl(),
    tables,
    iptables(ns, family = 4) {
      const k = `${ns ?? ''}/${family}`;
      const t = tables.get(k) ?? new FakeIptables();
      tables.set(k, t);
      return t;
    },
  };
}
