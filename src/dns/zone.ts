/**
 * The cluster zone as data, and the pure resolver over it. `buildSnapshot` turns Services,
 * EndpointSlices and Pods into the record sets of the Kubernetes DNS specification (service
 * A/AAAA, headless endpoint sets and per-endpoint names, SRV for named ports, ExternalName
 * CNAMEs, pod names, PTRs, SOA/NS); `resolve(question, snapshot)` answers one question the way an
 * authoritative server must (NXDOMAIN vs NODATA, empty non-terminals, CNAME chasing in zone,
 * SOA in the authority section of negative answers). No sockets here: the server and the tests
 * share this code, so most behaviour is tested without the network.
 */
import type { Answer, SoaData, SrvData } from 'dns-packet';
import ipaddr from 'ipaddr.js';
import type { Pod, Service } from '../api/kinds/core.ts';
import { type EndpointSlice, LABEL_SERVICE_NAME } from '../api/kinds/discovery.ts';

/** Default cluster domain, as kubelet's `--cluster-domain`. */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Default record TTL in seconds (CoreDNS kubernetes plugin's default). */
export const DEFAULT_TTL = 5;
/** The reverse zones served beside the cluster domain. */
export const REVERSE_ZONES = ['in-addr.arpa', 'ip6.arpa'] as const;
/** Version of the Kubernetes DNS specification implemented (answered at `dns-version.<zone>` TXT). */
export const DNS_SCHEMA_VERSION = '1.1.0';

/**
 * How pod names `a-b-c-d.<ns>.pod.<zone>` are answered (CoreDNS's `pods` option):
 * `verified` only for a pod of that namespace holding that IP, `insecure` for any well-formed
 * name (what kubeadm configures), `disabled` never.
 */
export type PodRecordMode = 'verified' | 'insecure' | 'disabled';

/** The objects the zone is built from (e.g. the informer caches). */
export interface ClusterState {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  pods?: readonly Pod[];
}

/** Options of the zone. */
export interface ZoneOptions {
  /** Cluster domain (default `cluster.local`); case and a trailing dot are ignored. */
  clusterDomain?: string;
  /** TTL of every record, also the SOA minimum (negative caching), seconds (default 5). */
  ttl?: number;
  /** Pod records (default `verified`). */
  pods?: PodRecordMode;
  /**
   * Addresses of `ns.dns.<zone>`, the zone's NS target (default: the ClusterIPs of Service
   * kube-system/kube-dns, when present).
   */
  nameservers?: string[];
  /** SOA serial (default 1); the server bumps it on every change. */
  serial?: number;
}

/** One record without owner (the map key is the owner). */
type Rec =
  | { type: 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS'; data: string }
  | { type: 'SRV'; data: SrvData }
  | { type: 'TXT'; data: string }
  | { type: 'SOA'; data: SoaData };

/** An immutable view of the zone, built once per change and read by every query. */
export interface DnsSnapshot {
  readonly zone: string;
  readonly ttl: number;
  readonly podMode: PodRecordMode;
  readonly serial: number;
  /** Records by lower-case owner name (no trailing dot). */
  readonly records: ReadonlyMap<string, readonly Rec[]>;
  /** Every name that exists: owners and their ancestors up to the zone apex (empty non-terminals). */
  readonly names: ReadonlySet<string>;
  /** Pod IPs by namespace (normalized IP strings), for verified pod names. */
  readonly podIPs: ReadonlyMap<string, ReadonlySet<string>>;
}

/** A DNS question (dns-packet's shape). `class` defaults to IN. */
export interface DnsQuestion {
  name: string;
  type: string;
  class?: string;
}

/** Response codes the resolver can produce. */
export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'SERVFAIL' | 'NOTIMP' | 'FORMERR';

/** The answer to one question, ready to encode. */
export interface Resolution {
  rcode: Rcode;
  /** True when the name is in a zone we serve (sets the AA bit). */
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /**
   * Another server may know better: the name is outside our zones, or an unknown reverse name.
   * The server forwards these when an upstream is configured.
   */
  forward?: boolean;
  /** The answer ends in a CNAME to this name outside the cluster zone (an upstream may chase it). */
  externalTarget?: string;
}

/** Lower-cases and drops one trailing dot; '' for the root. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** The reverse-lookup name of an IP (`5.1.244.10.in-addr.arpa`, nibbles under `ip6.arpa`). */
export function reverseName(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return `${a.toByteArray().reverse().join('.')}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const b of a.toByteArray()) nibbles.push((b >> 4).toString(16), (b & 15).toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

/** The IP a reverse name stands for, or undefined when it is not a full address. */
export function ipFromReverseName(name: string): string | undefined {
  const n = normalizeName(name);
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) < 256))
      return undefined;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const parts = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return undefined;
    const hex = parts.reverse().join('');
    return ipaddr.parse(hex.match(/.{4}/g)!.join(':')).toString();
  }
  return undefined;
}

/** An IP as a DNS label: dots (v4) or colons (v6, compressed form) become dashes. */
export function ipLabel(ip: string): string {
  return ipaddr.parse(ip).toString().replace(/[.:]/g, '-');
}

/** Parses a dashed pod label back to a normalized IP, or undefined. */
function ipFromLabel(label: string): string | undefined {
  const v4 = label.replace(/-/g, '.');
  if (ipaddr.IPv4.isValidFourPartDecimal(v4)) return ipaddr.parse(v4).toString();
  const v6 = label.replace(/-/g, ':');
  if (v6.includes(':') && ipaddr.IPv6.isValid(v6)) return ipaddr.parse(v6).toString();
  return undefined;
}

function normIP(ip: string): string | undefined {
  try {
    return ipaddr.parse(ip).toString();
  } catch {
    return undefined;
  }
}

function familyType(ip: string): 'A' | 'AAAA' {
  return ip.includes(':') ? 'AAAA' : 'A';
}

function serviceIPs(svc: Service): string[] {
  const s = svc.spec ?? {};
  const list = s.clusterIPs?.length ? s.clusterIPs : s.clusterIP ? [s.clusterIP] : [];
  return list.filter((ip) => ip && ip !== 'None').flatMap((ip) => normIP(ip) ?? []);
}

function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIP === 'None';
}

function podIPList(pod: Pod): string[] {
  const st = pod.status ?? {};
  const list = st.podIPs?.length ? st.podIPs.map((p) => p.ip) : st.podIP ? [st.podIP] : [];
  return list.flatMap((ip) => normIP(ip) ?? []);
}

/** Builds the zone from the cluster's objects. Pure; cost is linear in the objects. */
export function buildSnapshot(state: ClusterState, opts: ZoneOptions = {}): DnsSnapshot {
  const zone = normalizeName(opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN);
  if (!zone || zone.split('.').some((l) => !l))
    throw new Error(`clusterDomain: invalid domain "${opts.clusterDomain}"`);
  const ttl = opts.ttl ?? DEFAULT_TTL;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647)
    throw new Error(`ttl: must be a whole number of seconds in 0..2147483647, got ${ttl}`);
  const podMode = opts.pods ?? 'verified';
  const serial = opts.serial ?? 1;
  const records = new Map<string, Rec[]>();
  const have = new Set<string>();
  const add = (owner: string, r: Rec) => {
    // The same address may appear in several slices; each record is kept once.
    const key = `${owner} ${r.type} ${typeof r.data === 'string' ? r.data : JSON.stringify(r.data)}`;
    if (have.has(key)) return;
    have.add(key);
    const list = records.get(owner);
    if (list) list.push(r);
    else records.set(owner, [r]);
  };
  // PTR candidates in order of precedence: a ClusterIP names its Service, else a headless
  // endpoint its endpoint name, else a pod its pod name. Only the best tier is answered.
  const ptr = new Map<string, { tier: number; targets: string[] }>();
  const addPtr = (ip: string, target: string, tier: number) => {
    const rev = reverseName(ip);
    const cur = ptr.get(rev);
    if (!cur || tier < cur.tier) ptr.set(rev, { tier, targets: [target] });
    else if (tier === cur.tier && !cur.targets.includes(target)) cur.targets.push(target);
  };

  // Slices by namespace/service.
  const slices = new Map<string, EndpointSlice[]>();
  for (const s of state.endpointSlices) {
    const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
    if (!svc || (s.addressType !== 'IPv4' && s.addressType !== 'IPv6')) continue;
    const k = `${s.metadata.namespace}/${svc}`;
    const list = slices.get(k);
    if (list) list.push(s);
    else slices.set(k, [s]);
  }

  const existing = new Set<string>();
  for (const svc of state.services) {
    const ns = svc.metadata.namespace ?? 'default';
    const base = `${svc.metadata.name}.${ns}.svc.${zone}`.toLowerCase();
    existing.add(base);
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      if (spec.externalName) add(base, { type: 'CNAME', data: normalizeName(spec.externalName) });
      continue;
    }
    if (!isHeadless(svc)) {
      for (const ip of serviceIPs(svc)) {
        add(base, { type: familyType(ip), data: ip });
        addPtr(ip, base, 0);
      }
      for (const p of spec.ports ?? []) {
        if (!p.name) continue;
        const owner = `_${p.name}._${(p.protocol ?? 'TCP').toLowerCase()}.${base}`;
        add(owner, { type: 'SRV', data: { priority: 0, weight: 100, port: p.port, target: base } });
      }
      continue;
    }
    // Headless: the ready endpoints themselves (all of them with publishNotReadyAddresses).
    const srv = new Map<string, Map<string, SrvData>>();
    for (const s of slices.get(`${ns}/${svc.metadata.name}`) ?? []) {
      for (const ep of s.endpoints ?? []) {
        const ready = ep.conditions?.ready !== false;
        if (!ready && !spec.publishNotReadyAddresses) continue;
        for (const raw of ep.addresses ?? []) {
          const ip = normIP(raw);
          if (!ip) continue;
          const epName = `${(ep.hostname || ipLabel(ip)).toLowerCase()}.${base}`;
          add(base, { type: familyType(ip), data: ip });
          add(epName, { type: familyType(ip), data: ip });
          addPtr(ip, epName, 1);
          for (const p of s.ports ?? []) {
            if (!p.name || p.port == null) continue;
            const owner = `_${p.name}._${(p.protocol ?? 'TCP').toLowerCase()}.${base}`;
            const byTarget = srv.get(owner) ?? new Map<string, SrvData>();
            byTarget.set(`${epName} ${p.port}`, { priority: 0, weight: 0, port: p.port, target: epName });
            srv.set(owner, byTarget);
          }
        }
      }
    }
    // Equal-priority targets share a weight of 100 (RFC 2782 picks among them by weight).
    for (const [owner, byTarget] of srv) {
      const w = Math.max(1, Math.floor(100 / byTarget.size));
      for (const d of byTarget.values()) add(owner, { type: 'SRV', data: { ...d, weight: w } });
    }
  }

  const podIPs = new Map<string, Set<string>>();
  if (podMode !== 'disabled') {
    for (const pod of state.pods ?? []) {
      if (pod.spec?.hostNetwork) continue; // its IP is the node's
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      const ns = pod.metadata.namespace ?? 'default';
      for (const ip of podIPList(pod)) {
        const set = podIPs.get(ns) ?? new Set<string>();
        podIPs.set(ns, set);
        set.add(ip);
        addPtr(ip, `${ipLabel(ip)}.${ns}.pod.${zone}`, 2);
      }
    }
  }
  for (const [rev, { targets }] of ptr) for (const t of targets) add(rev, { type: 'PTR', data: t });

  // Apex records of the cluster zone and the reverse zones.
  const nsName = `ns.dns.${zone}`;
  let nsAddrs = opts.nameservers;
  if (!nsAddrs) {
    const kubeDns = state.services.find(
      (s) => s.metadata.namespace === 'kube-system' && s.metadata.name === 'kube-dns',
    );
    nsAddrs = kubeDns ? serviceIPs(kubeDns) : [];
  }
  for (const ip of nsAddrs) {
    const n = normIP(ip);
    if (!n) throw new Error(`nameservers: "${ip}" is not an IP address`);
    add(nsName, { type: familyType(n), data: n });
  }
  add(`dns-version.${zone}`, { type: 'TXT', data: DNS_SCHEMA_VERSION });
  for (const apex of [zone, ...REVERSE_ZONES]) {
    add(apex, { type: 'SOA', data: soaData(zone, serial, ttl) });
    add(apex, { type: 'NS', data: nsName });
  }

  // Every owner and its ancestors up to its zone apex exist.
  const names = new Set<string>([`svc.${zone}`, `pod.${zone}`]);
  for (const owner of [...records.keys(), ...existing]) {
    const apex = zoneOf(owner, zone);
    if (!apex) continue;
    let n = owner;
    while (true) {
      names.add(n);
      if (n === apex) break;
      n = n.slice(n.indexOf('.') + 1);
    }
  }
  return { zone, ttl, podMode, serial, records, names, podIPs };
}

function soaData(zone: string, serial: number, ttl: number): SoaData {
  return {
    mname: `ns.dns.${zone}`,
    rname: `hostmaster.${zone}`,
    serial,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: ttl,
  };
}

/** The apex of the zone `name` falls in (cluster domain or a reverse zone), if any. */
function zoneOf(name: string, zone: string): string | undefined {
  for (const z of [zone, ...REVERSE_ZONES]) if (name === z || name.endsWith(`.${z}`)) return z;
  return undefined;
}

/** The records at a name, including synthesized pod names. */
function lookup(snap: DnsSnapshot, name: string): { exists: boolean; recs: readonly Rec[] } {
  const recs = snap.records.get(name);
  if (recs) return { exists: true, recs };
  if (snap.names.has(name)) return { exists: true, recs: [] };
  // <ip-label>.<ns>.pod.<zone> and the namespace level <ns>.pod.<zone>.
  const podSuffix = `.pod.${snap.zone}`;
  if (snap.podMode !== 'disabled' && name.endsWith(podSuffix)) {
    const labels = name.slice(0, -podSuffix.length).split('.');
    if (labels.length === 1) {
      const exists = snap.podMode === 'insecure' ? labels[0] !== '' : snap.podIPs.has(labels[0]!);
      return { exists, recs: [] };
    }
    if (labels.length === 2) {
      const [label, ns] = labels as [string, string];
      const ip = ipFromLabel(label);
      if (ip && (snap.podMode === 'insecure' || snap.podIPs.get(ns)?.has(ip)))
        return { exists: true, recs: [{ type: familyType(ip), data: ip }] };
    }
  }
  return { exists: false, recs: [] };
}

function toAnswer(owner: string, r: Rec, ttl: number): Answer {
  return { name: owner, type: r.type, class: 'IN', ttl, data: r.data } as Answer;
}

function soaAnswer(snap: DnsSnapshot, apex: string): Answer {
  const soa = snap.records.get(apex)!.find((r) => r.type === 'SOA')!;
  // RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA minimum).
  return toAnswer(apex, soa, Math.min(snap.ttl, (soa.data as SoaData).minimum!));
}

const MAX_CNAME_HOPS = 8;

/**
 * Answers one question from a snapshot. Names are matched case-insensitively with or without a
 * trailing dot; answer owners keep the question's spelling (resolvers using 0x20 case
 * randomization compare it).
 */
export function resolve(question: DnsQuestion, snap: DnsSnapshot): Resolution {
  const res: Resolution = {
    rcode: 'NOERROR',
    authoritative: false,
    answers: [],
    authorities: [],
    additionals: [],
  };
  const qtype = question.type.toUpperCase();
  if ((question.class ?? 'IN').toUpperCase() !== 'IN') return { ...res, rcode: 'REFUSED' };
  let name = normalizeName(question.name);
  const apex = zoneOf(name, snap.zone);
  if (!apex) return { ...res, rcode: 'REFUSED', forward: true };
  res.authoritative = true;
  if (qtype === 'AXFR' || qtype === 'IXFR') return { ...res, rcode: 'REFUSED' };
  let owner = question.name.endsWith('.') ? question.name.slice(0, -1) : question.name;

  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const { exists, recs } = lookup(snap, name);
    const zoneNow = zoneOf(name, snap.zone)!;
    if (!exists) {
      res.rcode = 'NXDOMAIN';
      res.authorities.push(soaAnswer(snap, zoneNow));
      // An unknown reverse name may belong to someone else's network (the host's, say).
      if (hop === 0 && zoneNow !== snap.zone) res.forward = true;
      return res;
    }
    const cname = recs.find((r) => r.type === 'CNAME');
    if (cname && qtype !== 'CNAME' && qtype !== 'ANY') {
      res.answers.push(toAnswer(owner, cname, snap.ttl));
      const target = cname.data as string;
      if (zoneOf(target, snap.zone) !== snap.zone) {
        res.externalTarget = target;
        return res;
      }
      name = target;
      owner = target;
      continue;
    }
    const matched = recs.filter((r) => qtype === 'ANY' || r.type === qtype);
    for (const r of matched) res.answers.push(toAnswer(owner, r, snap.ttl));
    if (matched.length === 0) {
      // NODATA: the name exists without records of this type.
      res.authorities.push(soaAnswer(snap, zoneNow));
      return res;
    }
    // Glue the SRV targets' addresses, as CoreDNS does, so clients need no second query.
    for (const r of matched) {
      if (r.type !== 'SRV') continue;
      const target = (r.data as SrvData).target;
      for (const a of lookup(snap, target).recs)
        if (a.type === 'A' || a.type === 'AAAA') res.additionals.push(toAnswer(target, a, snap.ttl));
    }
    if (matched.some((r) => r.type === 'NS'))
      for (const a of lookup(snap, `ns.dns.${snap.zone}`).recs)
        res.additionals.push(toAnswer(`ns.dns.${snap.zone}`, a, snap.ttl));
    return res;
  }
  // A CNAME loop inside the zone.
  return { ...res, rcode: 'SERVFAIL' };
}
