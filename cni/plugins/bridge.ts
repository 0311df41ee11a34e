/**
 * podnet-bridge: the bridge plugin, with the reference plugin's config fields and meaning.
 *
 * ADD: validate, check the netns, run IPAM, then touch the kernel in as few processes as possible —
 * one `ip` batch inside the container (create the veth there and push its peer into the host
 * namespace by PID, set addresses, bring it up, add routes) and one on the host (create the bridge if
 * missing, gateway address, enslave and bring up the peer, hairpin/promisc/isolation) — plus one
 * iptables-restore for ipMasq. Any failure after IPAM undoes the veth, the rules and the allocation.
 * DEL is idempotent (missing netns, link, rules or allocation are success); CHECK compares the
 * container's interface, addresses and routes with prevResult.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kernel } from '../../src/kernel/index.ts';
import { IpBatchError, type IpOp, type LinkInfo } from '../../src/kernel/ip.ts';
import type { Delegate } from '../delegate.ts';
import {
  type Cidr,
  cidrContains,
  cidrString,
  ipString,
  networkCidr,
  nextIp,
  parseCidr,
  parseIp,
  tryParseCidr,
} from '../ipmath.ts';
import { type CmdArgs, type CniPlugin, validateIfname } from '../skel.ts';
import {
  CniCode,
  CniError,
  type CniInterface,
  type CniResult,
  type CniRoute,
  type NetConf,
  parseResult,
} from '../spec.ts';
import { formatChainName, removeChains, renderMasqAdd, ruleComment, staleChains } from './iptables.ts';

/** The bridge plugin's configuration after validation. */
export interface BridgeConfig {
  name: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  portIsolation: boolean;
  ipamType: string;
}

const UNSUPPORTED = ['vlan', 'vlanTrunk', 'macspoofchk', 'enabledad', 'disableContainerInterface'] as const;

/** Validates the bridge fields of a network config (codes 7 and 2). */
export function parseBridgeConfig(conf: NetConf): BridgeConfig {
  const bool = (k: string, dflt = false): boolean => {
    const v = conf[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean')
      throw new CniError(CniCode.InvalidConfig, `${k}: must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const k of UNSUPPORTED) {
    const v = conf[k];
    if (v !== undefined && v !== false && v !== 0 && !(Array.isArray(v) && v.length === 0))
      throw new CniError(CniCode.UnsupportedField, `${k}: not supported by podnet-bridge`);
  }
  const bridge = conf.bridge === undefined ? 'cni0' : conf.bridge;
  if (typeof bridge !== 'string' || !bridge)
    throw new CniError(CniCode.InvalidConfig, 'bridge: must be a name');
  try {
    validateIfname(bridge);
  } catch (e) {
    throw new CniError(
      CniCode.InvalidConfig,
      `bridge: "${bridge}" is not a valid interface name`,
      (e as Error).message,
    );
  }
  let mtu: number | undefined;
  if (conf.mtu !== undefined && conf.mtu !== 0) {
    if (!Number.isInteger(conf.mtu) || (conf.mtu as number) < 68 || (conf.mtu as number) > 65535)
      throw new CniError(
        CniCode.InvalidConfig,
        `mtu: must be an integer between 68 and 65535, got ${JSON.stringify(conf.mtu)}`,
      );
    mtu = conf.mtu as number;
  }
  if (!conf.ipam || typeof conf.ipam !== 'object' || typeof conf.ipam.type !== 'string' || !conf.ipam.type)
    throw new CniError(CniCode.InvalidConfig, 'ipam.type: missing (the bridge plugin needs an IPAM plugin)');
  const isDefaultGateway = bool('isDefaultGateway');
  return {
    name: conf.name,
    bridge,
    isDefaultGateway,
    isGateway: bool('isGateway') || isDefaultGateway,
    forceAddress: bool('forceAddress'),
    ipMasq: bool('ipMasq'),
    mtu,
    hairpinMode: bool('hairpinMode'),
    promiscMode: bool('promiscMode'),
    portIsolation: bool('portIsolation'),
    ipamType: conf.ipam.type,
  };
}

/** The host-side veth name: deterministic per container and interface ("veth" + 8 hex). */
export function hostVethName(containerId: string, ifname: string): string {
  return `veth${createHash('sha256').update(`${containerId}/${ifname}`).digest('hex').slice(0, 8)}`;
}

/** A random locally administered unicast MAC. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** One address of the container and its gateway, with the network it lives in. */
interface Addr {
  cidr: Cidr;
  net: Cidr;
  gateway?: string;
}

function addrsOf(r: CniResult, isGateway: boolean): Addr[] {
  return (r.ips ?? []).map((ipc, i) => {
    const cidr = parseCidr(ipc.address, `IPAM result ips[${i}].address`);
    const net = networkCidr(cidr);
    let gateway = ipc.gateway ? ipString(parseIp(ipc.gateway, `IPAM result ips[${i}].gateway`)) : undefined;
    if (!gateway && isGateway) gateway = ipString(nextIp(net.ip));
    return { cidr, net, gateway };
  });
}

function kernelError(e: unknown, what: string): CniError {
  if (e instanceof CniError) return e;
  return new CniError(CniCode.KernelFailure, `${what}: ${(e as Error).message}`);
}

/** Dependencies of the bridge plugin. */
export interface BridgeDeps {
  kernel: Kernel;
  delegate: Delegate;
}

/** Builds the bridge plugin. */
export function bridgePlugin({ kernel, delegate }: BridgeDeps): CniPlugin {
  const { ip } = kernel;

  async function ensureNetns(a: CmdArgs): Promise<void> {
    if (!(await kernel.netns.exists(a.netns)))
      throw new CniError(CniCode.ContainerUnknown, `CNI_NETNS: network namespace ${a.netns} does not exist`);
  }

  /** Host-side ops: bridge (if missing), gateway addresses, the port. */
  function hostOps(cfg: BridgeConfig, br: LinkInfo | undefined, veth: string, addrs: Addr[]): IpOp[] {
    if (br && br.kind !== 'bridge')
      throw new CniError(CniCode.InvalidConfig, `bridge: ${cfg.bridge} already exists but is not a bridge`);
    const ops: IpOp[] = [];
    if (!br) ops.push({ op: 'link-add', name: cfg.bridge, kind: 'bridge', mac: randomMac(), mtu: cfg.mtu });
    if (cfg.isGateway)
      for (const a of addrs) {
        if (!a.gateway) continue;
        const want = `${a.gateway}/${a.net.prefix}`;
        for (const have of br?.addrs ?? []) {
          const h = tryParseCidr(have);
          if (!h || have === want || h.ip.kind() !== a.net.ip.kind()) continue;
          if (!cidrContains(a.net, h.ip) && !cidrContains(networkCidr(h), parseIp(a.gateway, 'gateway')))
            continue;
          if (!cfg.forceAddress)
            throw new CniError(
              CniCode.InvalidConfig,
              `bridge: ${cfg.bridge} already has address ${have}, different from gateway ${want} (set forceAddress to replace it)`,
            );
          ops.push({ op: 'addr-del', dev: cfg.bridge, cidr: have });
        }
        if (!(br?.addrs ?? []).includes(want)) ops.push({ op: 'addr-replace', dev: cfg.bridge, cidr: want });
      }
    ops.push({ op: 'link-set', name: cfg.bridge, up: true, ...(cfg.promiscMode ? { promisc: true } : {}) });
    ops.push({ op: 'link-set', name: veth, master: cfg.bridge, up: true });
    if (cfg.hairpinMode || cfg.portIsolation)
      ops.push({
        op: 'bridge-port',
        name: veth,
        ...(cfg.hairpinMode ? { hairpin: true } : {}),
        ...(cfg.portIsolation ? { isolated: true } : {}),
      });
    return ops;
  }

  async function teardown(a: CmdArgs, cfg: BridgeConfig, families: Set<4 | 6>): Promise<void> {
    // The pod's interface and the masquerade rules are independent: remove them concurrently.
    const link = (async () => {
      if (!a.netns || !(await kernel.netns.exists(a.netns))) return;
      try {
        await ip.apply(a.netns, [{ op: 'link-del', name: a.ifname }]);
      } catch (e) {
        if (!(e instanceof IpBatchError && e.missing))
          throw kernelError(e, 'deleting the container interface');
      }
    })();
    const rules = (async () => {
      if (!cfg.ipMasq) return;
      const chain = formatChainName(cfg.name, a.containerId);
      for (const f of families) await removeChains(kernel.iptables(a.host.ns, f), 'nat', new Set([chain]));
    })();
    const [l, r] = await Promise.allSettled([link, rules]);
    if (l.status === 'rejected') throw l.reason;
    if (r.status === 'rejected') throw r.reason;
  }

  return {
    name: 'podnet-bridge',

    async add(a) {
      const cfg = parseBridgeConfig(a.conf);
      await ensureNetns(a);
      const ipamResult = await delegate(cfg.ipamType, 'ADD', a.stdin, a);
      if (!ipamResult?.ips?.length)
        throw new CniError(CniCode.InvalidConfig, `IPAM plugin ${cfg.ipamType} returned no IP configuration`);
      const veth = hostVethName(a.containerId, a.ifname);
      const families = new Set<4 | 6>();
      let created = false;
      try {
        const addrs = addrsOf(ipamResult, cfg.isGateway);
        for (const x of addrs) families.add(x.cidr.ip.kind() === 'ipv4' ? 4 : 6);
        const routes: CniRoute[] = [...(ipamResult.routes ?? [])];
        if (cfg.isDefaultGateway)
          for (const x of addrs) {
            if (!x.gateway) continue;
            const dflt = x.cidr.ip.kind() === 'ipv4' ? '0.0.0.0/0' : '::/0';
            const clash = routes.find((r) => r.dst === dflt);
            if (clash?.gw && clash.gw !== x.gateway)
              throw new CniError(
                CniCode.InvalidConfig,
                `isDefaultGateway: ineffective because IPAM sets the default route via ${clash.gw}`,
              );
            if (!clash) routes.push({ dst: dflt, gw: x.gateway });
          }
        const contMac = randomMac();
        const vethMac = randomMac();
        // Container side, one process: the veth is born here and its peer pushed to the host by PID.
        const cops: IpOp[] = [
          {
            op: 'link-add',
            name: a.ifname,
            kind: 'veth',
            mac: contMac,
            mtu: cfg.mtu,
            peer: { name: veth, mac: vethMac, mtu: cfg.mtu, netns: a.host.pid },
          },
        ];
        for (const x of addrs) cops.push({ op: 'addr-add', dev: a.ifname, cidr: cidrString(x.cidr) });
        cops.push({ op: 'link-set', name: a.ifname, up: true });
        for (const r of routes) {
          const dst = parseCidr(r.dst, 'route dst');
          const gw = r.gw ?? addrs.find((x) => x.cidr.ip.kind() === dst.ip.kind())?.gateway;
          cops.push({
            op: 'route-add',
            dst: cidrString(networkCidr(dst)),
            ...(gw ? { via: gw } : {}),
            dev: a.ifname,
            ...(r.priority !== undefined ? { metric: r.priority } : {}),
            ...(r.table !== undefined ? { table: r.table } : {}),
            ...(r.mtu ? { mtu: r.mtu } : {}),
            ...(r.advmss ? { advmss: r.advmss } : {}),
          });
        }
        // The container batch and the bridge lookup run at the same time; the host batch needs both.
        const [contRes, br0] = await Promise.allSettled([
          ip.apply(a.netns, cops),
          ip.link(a.host.ns, cfg.bridge),
        ]);
        if (contRes.status === 'rejected') {
          const e = contRes.reason;
          if (e instanceof IpBatchError && e.line?.startsWith('link add') && e.exists)
            throw new CniError(
              CniCode.KernelFailure,
              `interface ${a.ifname} already exists in ${a.netns}, or host interface ${veth} already exists`,
            );
          created = true;
          throw e;
        }
        created = true;
        if (br0.status === 'rejected') throw br0.reason;
        // Host side, one batch. Two ADDs may race to create the bridge: the loser looks again.
        let br = br0.value;
        let bridgeMac = br?.mac;
        for (let attempt = 0; ; attempt++) {
          const hops = hostOps(cfg, br, veth, addrs);
          const add = hops.find((o) => o.op === 'link-add');
          if (add?.op === 'link-add') bridgeMac = add.mac;
          try {
            await ip.apply(a.host.ns, hops);
            break;
          } catch (e) {
            const lost =
              e instanceof IpBatchError && e.exists && e.line?.startsWith(`link add ${cfg.bridge} `);
            if (!lost || attempt >= 2) throw e;
            br = await ip.link(a.host.ns, cfg.bridge);
            bridgeMac = br?.mac;
          }
        }
        if (cfg.isGateway) {
          if (families.has(4)) await kernel.sysctl.set(a.host.ns, 'net.ipv4.ip_forward', '1');
          if (families.has(6)) await kernel.sysctl.set(a.host.ns, 'net.ipv6.conf.all.forwarding', '1');
        }
        if (cfg.ipMasq) {
          const chain = formatChainName(cfg.name, a.containerId);
          const comment = ruleComment(cfg.name, a.containerId);
          for (const x of addrs)
            await kernel
              .iptables(a.host.ns, x.cidr.ip.kind() === 'ipv4' ? 4 : 6)
              .restore(renderMasqAdd(chain, comment, ipString(x.cidr.ip), cidrString(x.net)), {
                noflush: true,
              });
        }
        const interfaces: CniInterface[] = [
          { name: cfg.bridge, mac: bridgeMac },
          { name: veth, mac: vethMac },
          { name: a.ifname, mac: contMac, sandbox: a.netns },
        ];
        return {
          cniVersion: a.conf.cniVersion,
          interfaces,
          ips: (ipamResult.ips ?? []).map((x, i) => ({
            address: x.address,
            ...(addrs[i].gateway ? { gateway: addrs[i].gateway } : {}),
            interface: 2,
          })),
          routes,
          dns: ipamResult.dns ?? a.conf.dns,
        };
      } catch (e) {
        // Undo in reverse: rules and veth, then the allocation. Errors here must not hide the cause.
        if (created) await teardown(a, cfg, families).catch(() => {});
        else if (cfg.ipMasq) await teardown({ ...a, netns: '' }, cfg, families).catch(() => {});
        await delegate(cfg.ipamType, 'DEL', a.stdin, a).catch(() => {});
        throw kernelError(e, 'bridge ADD');
      }
    },

    async del(a) {
      const cfg = parseBridgeConfig(a.conf);
      await delegate(cfg.ipamType, 'DEL', a.stdin, a);
      let families = new Set<4 | 6>([4]);
      if (a.conf.prevResult !== undefined) {
        try {
          const prev = parseResult(a.conf.prevResult);
          families = new Set((prev.ips ?? []).map((x) => (x.address.includes(':') ? 6 : 4)));
        } catch {
          // a broken prevResult does not stop a DEL
        }
      }
      try {
        await teardown(a, cfg, families);
      } catch (e) {
        throw kernelError(e, 'bridge DEL');
      }
    },

    async check(a) {
      const cfg = parseBridgeConfig(a.conf);
      if (a.conf.prevResult === undefined)
        throw new CniError(CniCode.InvalidConfig, 'CHECK: prevResult is required');
      const prev = parseResult(a.conf.prevResult);
      await ensureNetns(a);
      await delegate(cfg.ipamType, 'CHECK', a.stdin, a);
      const mismatch = (m: string) => new CniError(CniCode.CheckMismatch, `CHECK: ${m}`);
      const ifs = prev.interfaces ?? [];
      const contIdx = ifs.findIndex((i) => i.name === a.ifname && i.sandbox);
      if (contIdx < 0) throw mismatch(`prevResult has no interface ${a.ifname} in a sandbox`);
      const link = await ip.link(a.netns, a.ifname);
      if (!link) throw mismatch(`interface ${a.ifname} is missing in ${a.netns}`);
      const want = ifs[contIdx];
      if (want.mac && want.mac.toLowerCase() !== link.mac.toLowerCase())
        throw mismatch(`interface ${a.ifname} has MAC ${link.mac}, prevResult says ${want.mac}`);
      for (const ipc of prev.ips ?? []) {
        if (ipc.interface !== undefined && ipc.interface !== contIdx) continue;
        const c = parseCidr(ipc.address, 'prevResult address');
        if (!link.addrs.includes(cidrString(c)))
          throw mismatch(`address ${ipc.address} is missing on ${a.ifname}`);
      }
      const routes = await ip.routes(a.netns);
      for (const r of prev.routes ?? []) {
        const dst = cidrString(networkCidr(parseCidr(r.dst, 'prevResult route')));
        const hit = routes.find((x) => x.dst === dst && (!r.gw || x.via === r.gw));
        if (!hit) throw mismatch(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${a.netns}`);
      }
      const br = await ip.link(a.host.ns, cfg.bridge);
      if (br?.kind !== 'bridge') throw mismatch(`bridge ${cfg.bridge} is missing`);
      const hostIf = ifs.find((i, n) => n !== contIdx && !i.sandbox && i.name !== cfg.bridge);
      if (hostIf) {
        const hl = await ip.link(a.host.ns, hostIf.name);
        if (!hl) throw mismatch(`host interface ${hostIf.name} is missing`);
        if (hl.master !== cfg.bridge)
          throw mismatch(`host interface ${hostIf.name} is not attached to ${cfg.bridge}`);
      }
    },

    async status(a) {
      const cfg = parseBridgeConfig(a.conf);
      await delegate(cfg.ipamType, 'STATUS', a.stdin, a);
    },

    async gc(a) {
      const cfg = parseBridgeConfig(a.conf);
      await delegate(cfg.ipamType, 'GC', a.stdin, a);
      if (cfg.ipMasq) {
        const keep = new Set((a.conf['cni.dev/valid-attachments'] ?? []).map((v) => v.containerID));
        for (const f of [4, 6] as const) {
          const ipt = kernel.iptables(a.host.ns, f);
          const saved = await ipt.save('nat').catch(() => '');
          const stale = staleChains(saved, 'nat', cfg.name, keep, /^CNI-[0-9a-f]{24}$/);
          if (stale.size) await removeChains(ipt, 'nat', stale);
        }
      }
    },
  };
}
