/**
 * Shared vocabulary of the rule tracers: the packet we send in, the options that stand in for the
 * kernel's view of the node (its local addresses, the recent-list state, randomness), and what
 * comes out — one TraceResult per possible path (with its probability) or the single path taken.
 */

/** A first packet of a connection (conntrack state NEW). */
export interface Packet {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'sctp';
  dport: number;
  sport?: number;
  /** Interface it arrived on (ignored by our rules; kept for `-i` matches). */
  inInterface?: string;
}

/** ClientIP-affinity state (`-m recent` lists / nft dynamic sets): list name → source IP → last seen (s). */
export type RecentState = Map<string, Map<string, number>>;

/** How the tracer stands in for the kernel. */
export interface TraceOptions {
  /** Addresses that are local to the node (addrtype LOCAL / fib daddr type local); 127/8 always is. */
  localAddresses: string[];
  /**
   * 'all' (default): follow every branch of random balancing, each result carrying its probability.
   * A function: take one branch using it as the random source in [0, 1) (e.g. a seeded PRNG).
   */
  random?: 'all' | (() => number);
  /** Affinity lists; updated only in single-branch mode so repeated traces see earlier ones. */
  recent?: RecentState;
  /** Current time in seconds for affinity timeouts (default 0). */
  now?: number;
}

/** One rule that a packet matched. */
export interface TraceHit {
  table: string;
  chain: string;
  /** The rule's text (iptables args after `-A CHAIN`, or the nft statement line). */
  rule: string;
}

/** Final fate of a packet along one path. */
export interface TraceResult {
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** `ip:port` chosen by DNAT, if any. */
  dnat?: string;
  /** Source NAT to the node's address (MASQUERADE) happened. */
  masquerade: boolean;
  /** Probability of this path (1 when a single path was taken). */
  probability: number;
  hits: TraceHit[];
  /** The packet mark at the end. */
  mark: number;
}

/** Packet-level summary of many paths: what a test usually wants. */
export interface FlowSummary {
  verdicts: Set<TraceResult['verdict']>;
  /** Sorted unique DNAT destinations. */
  endpoints: string[];
  /** true/false when all paths agree, 'mixed' otherwise. */
  masquerade: boolean | 'mixed';
}

/** Summarizes the results of one trace. */
export function summarize(results: TraceResult[]): FlowSummary {
  const masq = new Set(results.map((r) => r.masquerade));
  return {
    verdicts: new Set(results.map((r) => r.verdict)),
    endpoints: [...new Set(results.flatMap((r) => (r.dnat ? [r.dnat] : [])))].sort(),
    masquerade: masq.size > 1 ? 'mixed' : masq.has(true),
  };
}

/** Parses `a.b.c.d` to a number. */
export function ipNum(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  return p.reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Whether `ip` lies in `cidr` (`a.b.c.d/n` or a bare address). */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsStr] = cidr.split('/');
  const bits = bitsStr === undefined ? 32 : Number(bitsStr);
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  return (ipNum(ip) & mask) >>> 0 === (ipNum(base!) & mask) >>> 0;
}

/** Whether `ip` is a local address of the node (incl. loopback). */
export function isLocalAddress(ip: string, opts: Pick<TraceOptions, 'localAddresses'>): boolean {
  return inCidr(ip, '127.0.0.0/8') || opts.localAddresses.includes(ip);
}

/** A small deterministic PRNG (mulberry32) for seeded single-path traces. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
