/**
 * podnet-portmap: host port → container port forwarding, as a chained plugin, in the reference
 * plugin's chain layout (nat table): CNI-HOSTPORT-DNAT (jumped to from PREROUTING and OUTPUT for
 * local destinations) dispatches to one CNI-DN-<hash> chain per container, which DNATs each mapping;
 * CNI-HOSTPORT-SETMARK marks hairpin and localhost traffic, which CNI-HOSTPORT-MASQ (from
 * POSTROUTING) masquerades. Mappings come from runtimeConfig.portMappings (capability
 * "portMappings"); the container addresses from prevResult, which ADD passes on unchanged.
 */
import type { Kernel } from '../../src/kernel/index.ts';
import { parseIptablesSave } from '../../src/kernel/iptables.ts';
import { cidrString, ipString, networkCidr, parseCidr, tryParseIp } from '../ipmath.ts';
import type { CmdArgs, CniPlugin } from '../skel.ts';
import { CniCode, CniError, type CniResult, type PortMapping, parseResult } from '../spec.ts';
import { formatChainName, removeChains, ruleComment, staleChains } from './iptables.ts';

const TOP_DNAT = 'CNI-HOSTPORT-DNAT';
const SETMARK = 'CNI-HOSTPORT-SETMARK';
const MASQ = 'CNI-HOSTPORT-MASQ';

/** A validated mapping. */
export interface Mapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

/** Validates runtimeConfig.portMappings (code 7 naming the entry). */
export function parseMappings(raw: unknown): Mapping[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw))
    throw new CniError(CniCode.InvalidConfig, 'runtimeConfig.portMappings: must be a list');
  return raw.map((m: PortMapping, i) => {
    const f = `runtimeConfig.portMappings[${i}]`;
    const port = (v: unknown, k: string) => {
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535)
        throw new CniError(
          CniCode.InvalidConfig,
          `${f}.${k}: must be a port 1-65535, got ${JSON.stringify(v)}`,
        );
      return v as number;
    };
    const protocol = (m?.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp')
      throw new CniError(
        CniCode.InvalidConfig,
        `${f}.protocol: must be tcp, udp or sctp, got ${JSON.stringify(m.protocol)}`,
      );
    let hostIP: string | undefined;
    if (m.hostIP) {
      const ip = tryParseIp(m.hostIP);
      if (!ip)
        throw new CniError(
          CniCode.InvalidConfig,
          `${f}.hostIP: invalid IP address ${JSON.stringify(m.hostIP)}`,
        );
      hostIP = ipString(ip);
    }
    return {
      hostPort: port(m.hostPort, 'hostPort'),
      containerPort: port(m.containerPort, 'containerPort'),
      protocol,
      hostIP,
    };
  });
}

function q(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Renders the per-container chain and its dispatch rules for one family. */
export function renderPortmap(
  chain: string,
  comment: string,
  maps: Mapping[],
  ip: string,
  subnet: string,
  snat: boolean,
): string[] {
  const v6 = ip.includes(':');
  const lines = [`:${chain} - [0:0]`];
  const byProto = new Map<string, number[]>();
  for (const m of maps) {
    if (m.hostIP && m.hostIP.includes(':') !== v6) continue;
    const d = m.hostIP ? ` -d ${m.hostIP}` : '';
    if (snat) {
      lines.push(
        `-A ${chain} -s ${subnet}${d} -p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort} -j ${SETMARK}`,
      );
      if (!v6)
        lines.push(
          `-A ${chain} -s 127.0.0.1/32${d} -p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort} -j ${SETMARK}`,
        );
    }
    const to = v6 ? `[${ip}]:${m.containerPort}` : `${ip}:${m.containerPort}`;
    lines.push(
      `-A ${chain}${d} -p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort} -j DNAT --to-destination ${to}`,
    );
    byProto.set(m.protocol, [...(byProto.get(m.protocol) ?? []), m.hostPort]);
  }
  for (const [proto, ports] of byProto)
    lines.push(
      `-A ${TOP_DNAT} -p ${proto} -m comment --comment ${q(`dnat ${comment}`)} -m multiport --dports ${[...new Set(ports)].join(',')} -j ${chain}`,
    );
  return lines;
}

/** The shared chains and their jumps, for those missing in `saved`. */
export function renderTopChains(saved: string): string[] {
  const t = parseIptablesSave(saved).get('nat');
  const has = (c: string) => t?.chains.has(c) ?? false;
  const lines: string[] = [];
  if (!has(SETMARK))
    lines.push(
      `-N ${SETMARK}`,
      `-A ${SETMARK} -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
    );
  if (!has(MASQ))
    lines.push(
      `-N ${MASQ}`,
      `-A ${MASQ} -m mark --mark 0x2000/0x2000 -j MASQUERADE`,
      `-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j ${MASQ}`,
    );
  if (!has(TOP_DNAT))
    lines.push(
      `-N ${TOP_DNAT}`,
      `-A PREROUTING -m addrtype --dst-type LOCAL -j ${TOP_DNAT}`,
      `-A OUTPUT -m addrtype --dst-type LOCAL -j ${TOP_DNAT}`,
    );
  return lines;
}

/** Builds the portmap plugin. */
export function portmapPlugin({ kernel }: { kernel: Kernel }): CniPlugin {
  const chainOf = (a: CmdArgs) => formatChainName(a.conf.name, a.containerId, 'DN-');
  const snatOf = (a: CmdArgs) => (a.conf.snat === undefined ? true : a.conf.snat !== false);

  function containerIps(prev: CniResult): Array<{ ip: string; subnet: string }> {
    return (prev.ips ?? []).map((x) => {
      const c = parseCidr(x.address, 'prevResult address');
      return { ip: ipString(c.ip), subnet: cidrString(networkCidr(c)) };
    });
  }

  return {
    name: 'podnet-portmap',

    async add(a) {
      if (a.conf.prevResult === undefined)
        throw new CniError(
          CniCode.InvalidConfig,
          'portmap must be called as a chained plugin (prevResult is missing)',
        );
      const prev = parseResult(a.conf.prevResult);
      const maps = parseMappings(a.conf.runtimeConfig?.portMappings);
      if (!maps.length) return { ...prev, cniVersion: a.conf.cniVersion };
      const chain = chainOf(a);
      const comment = ruleComment(a.conf.name, a.containerId);
      const done: Array<4 | 6> = [];
      try {
        for (const fam of [4, 6] as const) {
          const addrs = containerIps(prev).filter((x) => x.ip.includes(':') === (fam === 6));
          if (!addrs.length) continue;
          const ipt = kernel.iptables(a.host.ns, fam);
          const top = renderTopChains(await ipt.save('nat'));
          if (top.length) {
            // Another ADD may create them at the same moment: then ours fails and theirs stands.
            await ipt.restore(['*nat', ...top, 'COMMIT', ''].join('\n'), { noflush: true }).catch(() => {});
          }
          done.push(fam);
          const body = renderPortmap(chain, comment, maps, addrs[0].ip, addrs[0].subnet, snatOf(a));
          await ipt.restore(['*nat', ...body, 'COMMIT', ''].join('\n'), { noflush: true });
        }
      } catch (e) {
        for (const fam of done)
          await removeChains(kernel.iptables(a.host.ns, fam), 'nat', new Set([chain])).catch(() => {});
        throw new CniError(CniCode.KernelFailure, `portmap ADD: ${(e as Error).message}`);
      }
      return { ...prev, cniVersion: a.conf.cniVersion };
    },

    async del(a) {
      const chain = chainOf(a);
      for (const fam of [4, 6] as const) {
        const ipt = kernel.iptables(a.host.ns, fam);
        try {
          await removeChains(ipt, 'nat', new Set([chain]));
        } catch (e) {
          if (fam === 4) throw new CniError(CniCode.KernelFailure, `portmap DEL: ${(e as Error).message}`);
        }
      }
    },

    async check(a) {
      if (a.conf.prevResult === undefined)
        throw new CniError(CniCode.InvalidConfig, 'CHECK: prevResult is required');
      const prev = parseResult(a.conf.prevResult);
      const maps = parseMappings(a.conf.runtimeConfig?.portMappings);
      if (!maps.length) return;
      const chain = chainOf(a);
      for (const fam of [4, 6] as const) {
        const addrs = containerIps(prev).filter((x) => x.ip.includes(':') === (fam === 6));
        if (!addrs.length) continue;
        const t = parseIptablesSave(await kernel.iptables(a.host.ns, fam).save('nat')).get('nat');
        const rules = t?.chains.get(chain);
        if (!rules) throw new CniError(CniCode.CheckMismatch, `CHECK: chain ${chain} is missing`);
        for (const m of maps) {
          if (m.hostIP && m.hostIP.includes(':') !== (fam === 6)) continue;
          if (!rules.some((r) => r.includes(`--dport ${m.hostPort} `) && r.includes('-j DNAT')))
            throw new CniError(
              CniCode.CheckMismatch,
              `CHECK: no DNAT rule for host port ${m.hostPort}/${m.protocol}`,
            );
        }
      }
    },

    async status() {},

    async gc(a) {
      const keep = new Set((a.conf['cni.dev/valid-attachments'] ?? []).map((v) => v.containerID));
      for (const fam of [4, 6] as const) {
        const ipt = kernel.iptables(a.host.ns, fam);
        const saved = await ipt.save('nat').catch(() => '');
        const stale = staleChains(saved, 'nat', a.conf.name, keep, /^CNI-DN-[0-9a-f]{21}$/);
        if (stale.size) await removeChains(ipt, 'nat', stale);
      }
    },
  };
}
