/**
 * Traces a packet through an iptables ruleset the way the kernel walks the nat and filter hooks
 * for the first packet of a connection: PREROUTING (or OUTPUT for a locally generated packet),
 * then filter INPUT/FORWARD/OUTPUT, then POSTROUTING. Random balancing (`-m statistic`) either
 * forks (every branch reported with its probability) or takes one branch from a given random
 * source; `-m recent` reads and (single-branch mode) updates an affinity state.
 */
import { type Chain, IptablesRuleset, type Match, type Rule } from './iptables-ruleset.ts';
import {
  inCidr,
  isLocalAddress,
  type Packet,
  type RecentState,
  type TraceHit,
  type TraceOptions,
  type TraceResult,
} from './types.ts';

interface Ctx {
  pkt: Packet;
  mark: number;
  dnat?: string;
  masquerade: boolean;
  prob: number;
  hits: TraceHit[];
  recent: RecentState;
  /** Affinity writes made on this path, applied to the caller's state at the end (single mode). */
  recentSets: [string, string][];
}

type End = 'return' | 'fell' | 'ACCEPT' | 'DROP' | 'REJECT';

function fork(c: Ctx): Ctx {
  return { ...c, pkt: { ...c.pkt }, hits: [...c.hits], recentSets: [...c.recentSets] };
}

function parseMark(v: string): [number, number] {
  const [val, mask] = v.split('/');
  return [Number(val), mask === undefined ? 0xffffffff : Number(mask)];
}

/** Traces through an iptables ruleset (parsed iptables-save text, or an IptablesRuleset). */
export function traceIptables(
  rules: string | IptablesRuleset,
  pkt: Packet,
  opts: TraceOptions,
): TraceResult[] {
  const rs = typeof rules === 'string' ? IptablesRuleset.parse(rules) : rules;
  const random = opts.random ?? 'all';
  const now = opts.now ?? 0;
  const recent = opts.recent ?? new Map();

  /** Evaluates one match; returns the branches [ctx, matched]. */
  function evalMatch(m: Match, c: Ctx): [Ctx, boolean][] {
    const p = c.pkt;
    const yes = (b: boolean): [Ctx, boolean][] => [[c, m.negate ? !b : b]];
    const neg = (opt: string, b: boolean) => (m.opts[`!${opt}`] ? !b : b);
    switch (m.kind) {
      case 'src':
        return yes(inCidr(p.src, m.opts.value!));
      case 'dst':
        return yes(inCidr(p.dst, m.opts.value!));
      case 'proto':
        return yes(m.opts.value === 'all' || m.opts.value === p.proto);
      case 'in':
        return yes(!!p.inInterface && p.inInterface === m.opts.value);
      case 'out':
        return yes(false);
      case 'comment':
        return yes(true);
      case 'tcp':
      case 'udp':
      case 'sctp': {
        let ok = p.proto === m.kind;
        if (ok && m.opts['--dport'] !== undefined) ok = neg('--dport', String(p.dport) === m.opts['--dport']);
        if (ok && m.opts['--sport'] !== undefined)
          ok = neg('--sport', String(p.sport ?? 0) === m.opts['--sport']);
        return yes(ok);
      }
      case 'addrtype': {
        let ok = true;
        if (m.opts['--dst-type'] !== undefined)
          ok = neg('--dst-type', m.opts['--dst-type'] === 'LOCAL' && isLocalAddress(p.dst, opts));
        if (ok && m.opts['--src-type'] !== undefined)
          ok = neg('--src-type', m.opts['--src-type'] === 'LOCAL' && isLocalAddress(p.src, opts));
        return yes(ok);
      }
      case 'mark': {
        const [v, mask] = parseMark(m.opts['--mark']!);
        return yes(neg('--mark', (c.mark & mask) >>> 0 === (v & mask) >>> 0));
      }
      case 'conntrack': {
        // Only the first packet of a connection is traced: its state is NEW (and DNAT once NATed).
        const states = (m.opts['--ctstate'] ?? '').split(',');
        return yes(neg('--ctstate', states.includes('NEW') || (states.includes('DNAT') && !!c.dnat)));
      }
      case 'statistic': {
        if (m.opts['--mode'] !== 'random')
          throw new Error(`statistic mode ${m.opts['--mode']} not supported`);
        const pr = Number(m.opts['--probability']);
        const flip = !!m.opts['!--probability'];
        if (random !== 'all') return [[c, random() < pr !== flip]];
        const a = fork(c);
        a.prob *= flip ? 1 - pr : pr;
        const b = fork(c);
        b.prob *= flip ? pr : 1 - pr;
        return [
          [a, true],
          [b, false],
        ].filter(([x]) => (x as Ctx).prob > 0) as [Ctx, boolean][];
      }
      case 'recent': {
        const name = m.opts['--name'] ?? 'DEFAULT';
        if (m.opts['--set'] !== undefined) {
          c.recentSets.push([name, p.src]);
          return yes(true);
        }
        if (m.opts['--rcheck'] !== undefined || m.opts['--update'] !== undefined) {
          const last = c.recent.get(name)?.get(p.src);
          const secs = m.opts['--seconds'] ? Number(m.opts['--seconds']) : Number.POSITIVE_INFINITY;
          const pending = c.recentSets.some(([n, ip]) => n === name && ip === p.src);
          return yes(pending || (last !== undefined && now - last <= secs));
        }
        return yes(false);
      }
      default:
        throw new Error(`match module "${m.kind}" not supported by the tracer`);
    }
  }

  function evalRule(r: Rule, c: Ctx): [Ctx, boolean][] {
    let branches: [Ctx, boolean][] = [[c, true]];
    for (const m of r.matches) {
      const next: [Ctx, boolean][] = [];
      for (const [bc, ok] of branches) {
        if (!ok) next.push([bc, false]);
        else next.push(...evalMatch(m, bc));
      }
      branches = next;
    }
    return branches;
  }

  function runChain(
    table: Map<string, Chain>,
    tableName: string,
    chainName: string,
    c0: Ctx,
    depth: number,
  ): { c: Ctx; end: End }[] {
    if (depth > 64) throw new Error(`chain recursion too deep at ${chainName}`);
    const chain = table.get(chainName);
    if (!chain) throw new Error(`jump to missing chain ${tableName}/${chainName}`);
    const out: { c: Ctx; end: End }[] = [];
    const work: { i: number; c: Ctx }[] = [{ i: 0, c: c0 }];
    while (work.length > 0) {
      const { i, c } = work.shift()!;
      if (i >= chain.rules.length) {
        out.push({ c, end: 'fell' });
        continue;
      }
      const rule = chain.rules[i]!;
      for (const [bc, ok] of evalRule(rule, c)) {
        if (!ok) {
          work.push({ i: i + 1, c: bc });
          continue;
        }
        bc.hits.push({ table: tableName, chain: chainName, rule: rule.text });
        const t = rule.target;
        if (!t) {
          work.push({ i: i + 1, c: bc });
          continue;
        }
        switch (t) {
          case 'ACCEPT':
          case 'DROP':
          case 'REJECT':
            out.push({ c: bc, end: t });
            break;
          case 'RETURN':
            out.push({ c: bc, end: 'return' });
            break;
          case 'DNAT': {
            const to = rule.targetOpts['--to-destination'];
            if (!to) throw new Error(`DNAT without --to-destination in ${chainName}`);
            const [ip, port] = to.split(':');
            bc.dnat = port ? to : `${ip}:${bc.pkt.dport}`;
            bc.pkt.dst = ip!;
            if (port) bc.pkt.dport = Number(port);
            out.push({ c: bc, end: 'ACCEPT' });
            break;
          }
          case 'MASQUERADE':
          case 'SNAT':
            bc.masquerade = true;
            out.push({ c: bc, end: 'ACCEPT' });
            break;
          case 'MARK': {
            const o = rule.targetOpts;
            if (o['--or-mark'] !== undefined) bc.mark = (bc.mark | Number(o['--or-mark'])) >>> 0;
            else if (o['--xor-mark'] !== undefined) bc.mark = (bc.mark ^ Number(o['--xor-mark'])) >>> 0;
            else if (o['--and-mark'] !== undefined) bc.mark = (bc.mark & Number(o['--and-mark'])) >>> 0;
            else if (o['--set-xmark'] !== undefined || o['--set-mark'] !== undefined) {
              const [v, mask] = parseMark((o['--set-xmark'] ?? o['--set-mark'])!);
              bc.mark =
                o['--set-xmark'] !== undefined
                  ? ((bc.mark & ~mask) ^ v) >>> 0
                  : ((bc.mark & ~mask) | v) >>> 0;
            }
            work.push({ i: i + 1, c: bc });
            break;
          }
          case 'LOG':
          case 'CT':
          case 'NOTRACK':
            work.push({ i: i + 1, c: bc });
            break;
          default: {
            for (const sub of runChain(table, tableName, t, bc, depth + 1)) {
              if (sub.end === 'return' || sub.end === 'fell') {
                // -j: continue after the jump; -g: return to our caller.
                if (rule.goto) out.push({ c: sub.c, end: 'return' });
                else work.push({ i: i + 1, c: sub.c });
              } else out.push(sub);
            }
          }
        }
      }
    }
    return out;
  }

  /** Runs a built-in chain; falling off or RETURN means the policy. */
  function hook(
    tableName: string,
    chainName: string,
    ctxs: Ctx[],
  ): { c: Ctx; verdict: TraceResult['verdict'] }[] {
    const table = rs.tables.get(tableName);
    const out: { c: Ctx; verdict: TraceResult['verdict'] }[] = [];
    for (const c of ctxs) {
      const chain = table?.get(chainName);
      if (!table || !chain) {
        out.push({ c, verdict: 'ACCEPT' });
        continue;
      }
      for (const r of runChain(table, tableName, chainName, c, 0)) {
        const verdict =
          r.end === 'return' || r.end === 'fell' ? (chain.policy as TraceResult['verdict']) : r.end;
        out.push({ c: r.c, verdict: verdict === 'DROP' || verdict === 'REJECT' ? verdict : 'ACCEPT' });
      }
    }
    return out;
  }

  const start: Ctx = {
    pkt: { ...pkt },
    mark: 0,
    masquerade: false,
    prob: 1,
    hits: [],
    recent,
    recentSets: [],
  };
  const localSource = isLocalAddress(pkt.src, opts);
  const results: TraceResult[] = [];
  const finish = (c: Ctx, verdict: TraceResult['verdict']) => {
    results.push({
      verdict,
      dnat: c.dnat,
      masquerade: c.masquerade,
      probability: c.prob,
      hits: c.hits,
      mark: c.mark,
    });
    // A single path really happened: commit its affinity writes so the next trace sees them.
    if (random !== 'all') commitRecent(recent, c.recentSets, now);
  };

  for (const pre of hook('nat', localSource ? 'OUTPUT' : 'PREROUTING', [start])) {
    if (pre.verdict !== 'ACCEPT') {
      finish(pre.c, pre.verdict);
      continue;
    }
    const toLocal = isLocalAddress(pre.c.pkt.dst, opts);
    const filterChain = localSource ? 'OUTPUT' : toLocal ? 'INPUT' : 'FORWARD';
    for (const f of hook('filter', filterChain, [pre.c])) {
      if (f.verdict !== 'ACCEPT' || (toLocal && !localSource)) {
        finish(f.c, f.verdict);
        continue;
      }
      for (const post of hook('nat', 'POSTROUTING', [f.c])) finish(post.c, post.verdict);
    }
  }
  return results;
}

/** Records affinity writes (`--set` / `update @set`) into a RecentState. */
export function commitRecent(recent: RecentState, sets: [string, string][], now: number): void {
  for (const [name, ip] of sets) {
    let l = recent.get(name);
    if (!l) {
      l = new Map();
      recent.set(name, l);
    }
    l.set(ip, now);
  }
}
