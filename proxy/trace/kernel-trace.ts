/**
 * Readers of the kernel's own packet trace. When a packet carries the nftrace flag (set by a
 * `meta nftrace set 1` rule, or iptables' `-j TRACE`), netfilter reports every base chain it
 * enters, every rule that matches and the verdicts, over netlink. Two tools print those reports:
 * `nft monitor trace` (nft syntax, any table) and `xtables-monitor --trace` (iptables-save syntax,
 * for rules made by iptables-nft — the same text our rule interpreter shows). Both are parsed here
 * into one event list, and `summarizeKernelTrace` turns the events of one packet into the shape of
 * the interpreter's answer (hits, DNAT, masquerade, verdict), so the two can be compared.
 */
import type { TraceHit, TraceResult } from './types.ts';

/** The packet as the kernel saw it when it entered a base chain. */
export interface KernelPacket {
  iif?: string;
  oif?: string;
  src?: string;
  dst?: string;
  proto?: string;
  sport?: number;
  dport?: number;
}

/** One line of a kernel trace. */
export interface KernelTraceEvent {
  /** The kernel's trace id (it can change between hooks of one packet: do not group by it). */
  id: string;
  table: string;
  chain: string;
  /** `packet`: entered a base chain; `rule`: a rule matched; `policy`: base chain policy; `return`: fell off a user chain. */
  type: 'packet' | 'rule' | 'policy' | 'return';
  /** Rule text (iptables-save arguments after `-A CHAIN`, or the nft statement without counters). */
  rule?: string;
  /** Lower-case verdict: accept, drop, continue, jump, goto, return, queue. */
  verdict?: string;
  /** Chain a jump/goto went to. */
  target?: string;
  packet?: KernelPacket;
}

const RETURN_CODE = '0xfffffffb';

/** Parses `xtables-monitor --trace` output. Lines it does not know are skipped. */
export function parseXtablesMonitorTrace(text: string): KernelTraceEvent[] {
  const events: KernelTraceEvent[] = [];
  // A PACKET line describes the packet for the trace lines that follow it (same id).
  let pending: { id: string; packet: KernelPacket } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^PACKET: \d+ ([0-9a-f]+) (.*)$/.exec(line);
    if (m) {
      pending = { id: m[1]!, packet: parseXtablesPacket(m[2]!) };
      continue;
    }
    m = /^TRACE: \d+ ([0-9a-f]+) (\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) continue;
    const id = m[1]!;
    const head = m[2]!;
    const ruleText = m[3];
    const at = /:(rule|return|policy):/.exec(head);
    if (!at) continue;
    const tc = head.slice(0, at.index);
    const colon = tc.indexOf(':');
    if (colon < 0) continue;
    const table = tc.slice(0, colon);
    const chain = tc.slice(colon + 1);
    const kind = at[1] as 'rule' | 'return' | 'policy';
    const tail = head.slice(at.index + at[0].length);
    if (pending && pending.id === id) {
      events.push({ id, table, chain, type: 'packet', packet: pending.packet });
      pending = undefined;
    }
    if (kind === 'return') {
      events.push({ id, table, chain, type: 'return', verdict: 'return' });
    } else if (kind === 'policy') {
      events.push({ id, table, chain, type: 'policy', verdict: tail.toLowerCase() });
    } else {
      // tail = 0x<handle>:<VERDICT>[:<target>]
      const parts = tail.split(':');
      const code = parts[1] ?? '';
      const verdict = code === RETURN_CODE ? 'return' : code.toLowerCase();
      const ev: KernelTraceEvent = { id, table, chain, type: 'rule', verdict };
      if ((verdict === 'jump' || verdict === 'goto') && parts[2]) ev.target = parts[2];
      if (ruleText) ev.rule = stripIptablesPrefix(ruleText, chain);
      events.push(ev);
    }
  }
  return events;
}

/** `-4 -t nat -A KUBE-SERVICES -d … -j X` → `-d … -j X` (the interpreter's rule text). */
function stripIptablesPrefix(text: string, chain: string): string {
  const m = /^(?:-4\s+|-6\s+)?(?:-t\s+\S+\s+)?-A\s+(\S+)\s*(.*)$/.exec(text.trim());
  if (m && m[1] === chain) return m[2]!.trim();
  return text.trim();
}

function parseXtablesPacket(s: string): KernelPacket {
  const kv = new Map<string, string>();
  for (const w of s.split(/\s+/)) {
    const i = w.indexOf('=');
    if (i > 0) kv.set(w.slice(0, i), w.slice(i + 1));
  }
  const p: KernelPacket = {};
  if (kv.get('IN')) p.iif = kv.get('IN');
  if (kv.get('OUT')) p.oif = kv.get('OUT');
  if (kv.get('SRC')) p.src = kv.get('SRC');
  if (kv.get('DST')) p.dst = kv.get('DST');
  if (kv.get('PROTO')) p.proto = kv.get('PROTO')!.toLowerCase();
  if (kv.get('SPORT')) p.sport = Number(kv.get('SPORT'));
  if (kv.get('DPORT')) p.dport = Number(kv.get('DPORT'));
  return p;
}

/** Parses `nft monitor trace` output. Lines it does not know are skipped. */
export function parseNftMonitorTrace(text: string): KernelTraceEvent[] {
  const events: KernelTraceEvent[] = [];
  for (const raw of text.split('\n')) {
    const m = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet:|rule|policy|verdict) ?(.*)$/.exec(raw.trim());
    if (!m) continue;
    const [, id, , table, chain, kind, rest] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (kind === 'packet:') {
      events.push({ id, table, chain, type: 'packet', packet: parseNftPacket(rest) });
    } else if (kind === 'policy') {
      events.push({ id, table, chain, type: 'policy', verdict: rest.trim().split(/\s+/)[0] });
    } else if (kind === 'verdict') {
      // `verdict continue` / `verdict return` ends a user chain without a matching rule.
      const v = rest.trim().split(/\s+/)[0] ?? '';
      if (v === 'return' || v === 'continue')
        events.push({ id, table, chain, type: 'return', verdict: 'return' });
    } else {
      const vm = /\(verdict (\S+)(?: (\S+))?\)\s*$/.exec(rest);
      const ruleText = (vm ? rest.slice(0, vm.index) : rest)
        .replace(/\bcounter packets \d+ bytes \d+\s*/g, '')
        .replace(/\s+/g, ' ')
        .trim();
      const ev: KernelTraceEvent = { id, table, chain, type: 'rule', rule: ruleText };
      if (vm) {
        ev.verdict = vm[1]!;
        if ((vm[1] === 'jump' || vm[1] === 'goto') && vm[2]) ev.target = vm[2];
      }
      events.push(ev);
    }
  }
  return events;
}

function parseNftPacket(s: string): KernelPacket {
  const w = s.trim().split(/\s+/);
  const p: KernelPacket = {};
  const unq = (v: string | undefined) => v?.replace(/^"|"$/g, '');
  for (let i = 0; i < w.length; i++) {
    const a = w[i];
    const b = w[i + 1];
    if (a === 'iif' && !p.iif) p.iif = unq(b);
    else if (a === 'oif' && !p.oif) p.oif = unq(b);
    else if (a === 'ip' && b === 'saddr') p.src = w[i + 2];
    else if (a === 'ip' && b === 'daddr') p.dst = w[i + 2];
    else if ((a === 'tcp' || a === 'udp' || a === 'sctp') && (b === 'sport' || b === 'dport')) {
      p.proto = a;
      if (b === 'sport') p.sport = Number(w[i + 2]);
      else p.dport = Number(w[i + 2]);
    }
  }
  return p;
}

/**
 * The events of the first packet only. Our trace rule marks a single packet, but a retransmitted
 * SYN would be marked again: a second `packet` event in `traceTable`'s chains starts a new packet.
 */
export function firstPacketEvents(events: KernelTraceEvent[], traceTable: string): KernelTraceEvent[] {
  const out: KernelTraceEvent[] = [];
  let seen = false;
  for (const e of events) {
    if (e.type === 'packet' && e.table === traceTable) {
      if (seen) break;
      seen = true;
    }
    out.push(e);
  }
  return out;
}

/** What one packet's kernel trace amounts to, in the interpreter's terms. */
export interface KernelTraceSummary {
  /** Matched rules in order (the trace table's own rule left out). */
  hits: TraceHit[];
  verdict: TraceResult['verdict'];
  /** `ip:port` a DNAT rule chose. */
  dnat?: string;
  masquerade: boolean;
  /** Port of a REDIRECT (to the arrival interface's own address). */
  redirect?: number;
  /** The packet at each base chain it entered (table, chain, packet). */
  hooks: { table: string; chain: string; packet: KernelPacket }[];
  /** The last per-endpoint chain entered (`KUBE-SEP-…` / nft `endpoint-…`). */
  backendChain?: string;
}

/** Pattern of per-endpoint chains in both backends. */
export const BACKEND_CHAIN = /^(KUBE-SEP-|endpoint-)/;

/** Sums up the events of one packet; `ignoreTables` are left out (our own trace table). */
export function summarizeKernelTrace(
  events: KernelTraceEvent[],
  ignoreTables: string[] = [],
): KernelTraceSummary {
  const s: KernelTraceSummary = { hits: [], verdict: 'ACCEPT', masquerade: false, hooks: [] };
  for (const e of events) {
    if (ignoreTables.includes(e.table)) continue;
    if (e.type === 'packet') s.hooks.push({ table: e.table, chain: e.chain, packet: e.packet ?? {} });
    if (e.type === 'policy' && e.verdict === 'drop') s.verdict = 'DROP';
    if (e.type !== 'rule') continue;
    const rule = e.rule ?? '';
    s.hits.push({ table: e.table, chain: e.chain, rule });
    if (BACKEND_CHAIN.test(e.chain)) s.backendChain = e.chain;
    if (e.target && BACKEND_CHAIN.test(e.target)) s.backendChain = e.target;
    const d = /(?:--to-destination|\bdnat(?: ip)? to)\s+(\S+)/.exec(rule);
    if (d) s.dnat = d[1];
    const rd = /(?:-j REDIRECT --to-ports|\bredirect to :?)\s*(\d+)/.exec(rule);
    if (rd) s.redirect = Number(rd[1]);
    if (/(-j MASQUERADE|\bmasquerade\b)/.test(rule)) s.masquerade = true;
    if (/(-j REJECT|\breject\b)/.test(rule) && e.verdict !== 'jump' && e.verdict !== 'goto')
      s.verdict = 'REJECT';
    else if (e.verdict === 'drop') s.verdict = 'DROP';
  }
  return s;
}

/** The per-endpoint chain of an interpreter path (the last one it entered). */
export function backendChainOf(result: Pick<TraceResult, 'hits'>): string | undefined {
  let chain: string | undefined;
  for (const h of result.hits) {
    if (BACKEND_CHAIN.test(h.chain)) chain = h.chain;
    const j = /(?:-j|-g|\bjump|\bgoto)\s+(\S+)/.exec(h.rule);
    if (j && BACKEND_CHAIN.test(j[1]!)) chain = j[1];
    // nft numgen/vmap arms: `… : goto endpoint-X` lists several; the entered chain shows as a hit's chain.
  }
  return chain;
}
