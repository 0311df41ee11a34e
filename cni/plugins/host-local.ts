/**
 * podnet-host-local: the host-local IPAM plugin. ADD allocates one address from each range set and
 * returns them with the configured routes and DNS; DEL releases by container id + ifname (nothing
 * allocated is success); CHECK verifies the prevResult's addresses are still recorded for this
 * container; GC releases every allocation not in `cni.dev/valid-attachments`; STATUS reports 50
 * when the state directory is unusable or a range set has no free address.
 */
import { readFile } from 'node:fs/promises';
import { allocate, garbageCollect, hasFree, rangeFor, releaseByOwner } from '../ipam/allocator.ts';
import { type HostLocalConfig, parseHostLocalConfig, rangeSetString } from '../ipam/config.ts';
import { DiskStore, type IpamStore } from '../ipam/store.ts';
import { ipString, parseIp, tryParseCidr } from '../ipmath.ts';
import type { CmdArgs, CniPlugin } from '../skel.ts';
import { CniCode, type CniDns, CniError, type CniIpConfig, type CniResult, parseResult } from '../spec.ts';

/** Parses a resolv.conf into the Result's DNS section. */
export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [key, ...vals] = line.split(/\s+/);
    if (key === 'nameserver' && vals[0]) dns.nameservers = [...(dns.nameservers ?? []), vals[0]];
    else if (key === 'domain' && vals[0]) dns.domain = vals[0];
    else if (key === 'search') dns.search = vals;
    else if (key === 'options') dns.options = [...(dns.options ?? []), ...vals];
  }
  return dns;
}

/** Options: how to open the store of a network (tests pass a MemoryStore). */
export interface HostLocalOptions {
  store?: (cfg: HostLocalConfig) => IpamStore;
}

/** Builds the host-local plugin. */
export function hostLocalPlugin(opts: HostLocalOptions = {}): CniPlugin {
  const storeOf = opts.store ?? ((cfg: HostLocalConfig) => new DiskStore(cfg.dataDir, cfg.name));

  return {
    name: 'podnet-host-local',

    async add(a: CmdArgs): Promise<CniResult> {
      const cfg = parseHostLocalConfig(a.conf);
      const requested = a.argsMap.IP ? parseIpList(a.argsMap.IP) : [];
      let dns: CniDns | undefined;
      if (cfg.resolvConf) {
        try {
          dns = parseResolvConf(await readFile(cfg.resolvConf, 'utf8'));
        } catch (e) {
          throw new CniError(
            CniCode.IoFailure,
            `ipam.resolvConf: cannot read ${cfg.resolvConf}`,
            (e as Error).message,
          );
        }
      }
      const store = storeOf(cfg);
      const ips: CniIpConfig[] = await store.withLock(async () => {
        const out: CniIpConfig[] = [];
        try {
          for (let i = 0; i < cfg.rangeSets.length; i++) {
            const set = cfg.rangeSets[i];
            const want = requested.find((ip) => rangeFor(set, ip));
            const got = await allocate(store, set, i, a.containerId, a.ifname, want);
            out.push({
              address: `${ipString(got.ip)}/${got.range.subnet.prefix}`,
              ...(got.range.gateway ? { gateway: ipString(got.range.gateway) } : {}),
            });
          }
          const unused = requested.filter((ip) => !cfg.rangeSets.some((s) => rangeFor(s, ip)));
          if (unused.length)
            throw new CniError(
              CniCode.InvalidConfig,
              `CNI_ARGS IP=${unused.join(',')} is in no configured range`,
            );
        } catch (e) {
          // All or nothing: give back what this call already took.
          for (const ip of out) await store.release(ip.address.split('/')[0]);
          throw e;
        }
        return out;
      });
      return { cniVersion: a.conf.cniVersion, ips, routes: cfg.routes, ...(dns ? { dns } : {}) };
    },

    async del(a: CmdArgs): Promise<void> {
      const cfg = parseHostLocalConfig(a.conf);
      const store = storeOf(cfg);
      await store.withLock(() => releaseByOwner(store, a.containerId, a.ifname));
    },

    async check(a: CmdArgs): Promise<void> {
      const cfg = parseHostLocalConfig(a.conf);
      if (a.conf.prevResult === undefined)
        throw new CniError(CniCode.InvalidConfig, 'CHECK: prevResult is required');
      const prev = parseResult(a.conf.prevResult);
      const store = storeOf(cfg);
      const mine = await store.withLock(() => store.list());
      for (const ipc of prev.ips ?? []) {
        const c = tryParseCidr(ipc.address);
        if (!c || !cfg.rangeSets.some((s) => rangeFor(s, c.ip))) continue;
        const rec = mine.find((m) => m.ip === ipString(c.ip));
        if (!rec || rec.containerId !== a.containerId || rec.ifname !== a.ifname)
          throw new CniError(
            CniCode.CheckMismatch,
            `host-local: ${ipString(c.ip)} is not allocated to container ${a.containerId} interface ${a.ifname}`,
          );
      }
    },

    async status(a: CmdArgs): Promise<void> {
      const cfg = parseHostLocalConfig(a.conf);
      const store = storeOf(cfg);
      try {
        await store.withLock(async () => {
          for (const set of cfg.rangeSets)
            if (!(await hasFree(store, set)))
              throw new CniError(
                CniCode.PluginNotAvailable,
                `no free addresses in range set ${rangeSetString(set)}`,
              );
        });
      } catch (e) {
        if (e instanceof CniError && e.code === CniCode.PluginNotAvailable) throw e;
        throw new CniError(
          CniCode.PluginNotAvailable,
          `host-local: state directory unusable: ${(e as Error).message}`,
        );
      }
    },

    async gc(a: CmdArgs): Promise<void> {
      const cfg = parseHostLocalConfig(a.conf);
      const valid = a.conf['cni.dev/valid-attachments'] ?? [];
      if (!Array.isArray(valid))
        throw new CniError(CniCode.InvalidConfig, 'cni.dev/valid-attachments: must be a list');
      const store = storeOf(cfg);
      await store.withLock(() => garbageCollect(store, valid));
    },
  };
}

function parseIpList(s: string) {
  return s.split(',').map((x) => parseIp(x.trim(), 'CNI_ARGS IP'));
}
