/**
 * A fake Exec for the userspace proxy's device commands (`ip link/addr` on kube-svc0, `sysctl`):
 * it keeps the devices, their addresses and the sysctls as state, records every command, and
 * refuses what the kernel would refuse (an address added twice, one deleted that is not there, a
 * command on a missing device). Only the commands device.ts runs are understood.
 */
import type { Exec, ExecOptions, ExecResult } from '../../src/kernel/exec.ts';
import { ExecError } from '../../src/kernel/exec.ts';

/** Fake `ip`/`sysctl` for device.ts. */
export class FakeDeviceExec implements Exec {
  /** Devices and their IPv4 addresses. */
  readonly devices = new Map<string, Set<string>>();
  /** Sysctls written. */
  readonly sysctls = new Map<string, string>();
  /** Every command run, as `cmd args...` (stdin lines of `ip -batch -` appended after `|`). */
  readonly log: string[] = [];

  async run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.log.push(
      [cmd, ...args].join(' ') + (opts.input ? ` | ${opts.input.trim().split('\n').join('; ')}` : ''),
    );
    const ok = (stdout = ''): ExecResult => ({ stdout, stderr: '', code: 0 });
    const fail = (msg: string): ExecResult => {
      const r = { stdout: '', stderr: msg, code: 1 };
      if (opts.allowFail) return r;
      throw new ExecError(cmd, args, r);
    };
    if (cmd === 'sysctl') {
      for (const a of args.filter((x) => x.includes('='))) {
        const [k, v] = a.split('=');
        this.sysctls.set(k!, v!);
      }
      return ok();
    }
    if (cmd !== 'ip') return fail(`fake exec: unknown command ${cmd}`);
    if (args[0] === '-batch') {
      for (const line of (opts.input ?? '').split('\n').filter(Boolean)) {
        const err = this.ip(line.split(' '));
        if (err) return fail(err);
      }
      return ok();
    }
    const json = args[0] === '-j';
    const rest = json ? args.slice(1) : args;
    if (rest[1] === 'show') {
      const dev = rest[3]!;
      const addrs = this.devices.get(dev);
      if (!addrs) return fail(`Device "${dev}" does not exist.`);
      const info = [...addrs].map((a) => ({ family: 'inet', local: a, prefixlen: 32 }));
      return ok(JSON.stringify([{ ifname: dev, addr_info: rest[0] === 'addr' ? info : undefined }]));
    }
    const err = this.ip(rest);
    return err ? fail(err) : ok();
  }

  /** Applies one `ip` command; returns an error message or undefined. */
  private ip(a: string[]): string | undefined {
    const [obj, verb] = a;
    if (obj === 'link' && verb === 'add') {
      if (this.devices.has(a[2]!)) return 'RTNETLINK answers: File exists';
      this.devices.set(a[2]!, new Set());
      return undefined;
    }
    if (obj === 'link' && verb === 'set') return this.devices.has(a[2]!) ? undefined : 'Cannot find device';
    if (obj === 'link' && verb === 'del')
      return this.devices.delete(a[2]!) ? undefined : 'Cannot find device';
    if (obj === 'addr') {
      const addrs = this.devices.get(a[4]!);
      if (!addrs) return 'Cannot find device';
      const ip = a[2]!.replace(/\/32$/, '');
      if (verb === 'add') {
        if (addrs.has(ip)) return 'RTNETLINK answers: File exists';
        addrs.add(ip);
        return undefined;
      }
      if (verb === 'del')
        return addrs.delete(ip) ? undefined : 'RTNETLINK answers: Cannot assign requested address';
    }
    return `fake exec: unsupported ip ${a.join(' ')}`;
  }
}
