/**
 * podnet-loopback: brings the container's loopback interface up (ADD) or down (DEL), and reports
 * its addresses as the reference plugin does. DEL on a missing namespace is success.
 */
import type { Kernel } from '../../src/kernel/index.ts';
import type { CniPlugin } from '../skel.ts';
import { CniCode, CniError } from '../spec.ts';

/** Builds the loopback plugin. */
export function loopbackPlugin({ kernel }: { kernel: Kernel }): CniPlugin {
  const mustExist = async (netns: string) => {
    if (!(await kernel.netns.exists(netns)))
      throw new CniError(CniCode.ContainerUnknown, `CNI_NETNS: network namespace ${netns} does not exist`);
  };
  const fail = (e: unknown, what: string) =>
    e instanceof CniError ? e : new CniError(CniCode.KernelFailure, `${what}: ${(e as Error).message}`);
  return {
    name: 'podnet-loopback',
    async add(a) {
      await mustExist(a.netns);
      try {
        await kernel.ip.apply(a.netns, [{ op: 'link-set', name: a.ifname, up: true }]);
        const lo = await kernel.ip.link(a.netns, a.ifname);
        const addrs = (lo?.addrs ?? []).filter((x) => /^127\.|^::1\//.test(x));
        return {
          cniVersion: a.conf.cniVersion,
          interfaces: [{ name: a.ifname, mac: '00:00:00:00:00:00', sandbox: a.netns }],
          ips: addrs.map((address) => ({ address, interface: 0 })),
        };
      } catch (e) {
        throw fail(e, 'loopback ADD');
      }
    },
    async del(a) {
      if (!a.netns || !(await kernel.netns.exists(a.netns))) return;
      try {
        await kernel.ip.apply(a.netns, [{ op: 'link-set', name: a.ifname, up: false }]);
      } catch (e) {
        throw fail(e, 'loopback DEL');
      }
    },
    async check(a) {
      await mustExist(a.netns);
      const lo = await kernel.ip.link(a.netns, a.ifname);
      if (!lo?.up) throw new CniError(CniCode.CheckMismatch, `CHECK: ${a.ifname} is not up in ${a.netns}`);
    },
    async status() {},
    async gc() {},
  };
}
