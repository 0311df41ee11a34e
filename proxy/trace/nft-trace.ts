/**
 * Traces a packet through an nftables table the way the kernel runs base chains: for each hook
 * on the packet's path (prerouting → input | forward → postrouting, or output → postrouting for
 * local sources) the table's base chains run in priority order; `accept` ends one base chain,
 * `drop`/`reject` end the packet, NAT statements end the chain after rewriting. `numgen random`
 * forks into every arm (with probability 1/n each) or takes one from the random source;
 * dynamic-set lookups and `update @set` implement ClientIP affinity.
 */
import { commitRecent } from './iptables-trace.ts';
import { type NftRule, NftRuleset, type NftTable } from './nft-ruleset.ts';
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
  recentSets: [string, string][];
}

type End =
  | { kind: 'next'; ran?: boolean }
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'return' | 'accept' | 'drop' | 'reject' | 'nat' };

function fork(c: Ctx): Ctx {
  return { ...c, pkt: { ...c.pkt }, hits: [...c.hits], recentSets: [...c.recentSets] };
}

/** Options for traceNftables. */
export interface NftTraceOptions extends TraceOptions {
  /** Table to trace (family ip); default `kube-proxy`. */
  table?: string;
}

/** Traces through our nftables table (script text, `nft list` output, or a parsed ruleset). */
export function traceNftables(rules: string | NftRuleset, pkt: Packet, opts: NftTraceOptions): TraceResult[] {
  const rs = typeof rules === 'string' ? NftRuleset.parse(rules) : rules;
  const table = rs.table('ip', opts.table ?? 'kube-proxy');
  if (!table) throw new Error(`table ip ${opts.table ?? 'kube-proxy'} not found`);
  const t: NftTable = table;
  const random = opts.random ?? 'all';
  const now = opts.now ?? 0;
  const recent: RecentState = opts.recent ?? new Map();

  type Val = string | number;
  /** Reads one selector at tokens[i]; returns [value per branch, next index] or undefined. */
  function selector(
    toks: string[],
    i: number,
    c: Ctx,
  ): { vals: [Ctx, Val][]; next: number; requiresProto?: string } | undefined {
    const a = toks[i];
    const b = toks[i + 1];
    const p = c.pkt;
    if (a === 'ip' && (b === 'saddr' || b === 'daddr'))
      return { vals: [[c, b === 'saddr' ? p.src : p.dst]], next: i + 2 };
    if (a === 'meta' && b === 'l4proto') return { vals: [[c, p.proto]], next: i + 2 };
    if ((a === 'meta' && b === 'mark') || a === 'mark') {
      let next = a === 'mark' ? i + 1 : i + 2;
      let v = c.mark;
      if (toks[next] === '&' || toks[next] === 'and') {
        v = (v & Number(toks[next + 1])) >>> 0;
        next += 2;
      }
      return { vals: [[c, v]], next };
    }
    if (['tcp', 'udp', 'sctp', 'th'].includes(a!) && (b === 'dport' || b === 'sport'))
      return {
        vals: [[c, b === 'dport' ? p.dport : (p.sport ?? 0)]],
        next: i + 2,
        requiresProto: a === 'th' ? undefined : a,
      };
    if (a === 'fib' && (b === 'daddr' || b === 'saddr') && toks[i + 2] === 'type')
      return {
        vals: [[c, isLocalAddress(b === 'daddr' ? p.dst : p.src, opts) ? 'local' : 'unicast']],
        next: i + 3,
      };
    if (a === 'ct' && b === 'state') return { vals: [[c, 'new']], next: i + 2 };
    if (a === 'numgen' && b === 'random' && toks[i + 2] === 'mod') {
      const n = Number(toks[i + 3]);
      let next = i + 4;
      let offset = 0;
      if (toks[next] === 'offset') {
        offset = Number(toks[next + 1]);
        next += 2;
      }
      if (random !== 'all') return { vals: [[c, Math.floor(random() * n) + offset]], next };
      return {
        vals: Array.from({ length: n }, (_, k) => {
          const f = fork(c);
          f.prob *= 1 / n;
          return [f, k + offset] as [Ctx, Val];
        }),
        next,
      };
    }
    return undefined;
  }

  function eq(v: Val, lit: string): boolean {
    if (typeof v === 'number') return v === Number(lit);
    if (/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(lit) && /^\d+\.\d+\.\d+\.\d+$/.test(v)) return inCidr(v, lit);
    return v === lit;
  }

  function inSet(name: string, key: Val[], c: Ctx): boolean {
    const s = t.sets.get(name);
    if (!s) throw new Error(`set ${name} not found`);
    if (s.flags.includes('dynamic')) {
      const ip = String(key[0]);
      if (c.recentSets.some(([n, x]) => n === name && x === ip)) return true;
      const last = recent.get(name)?.get(ip);
      return last !== undefined && (s.timeout === 0 || now - last <= s.timeout);
    }
    return lookup(s.elements, key) !== undefined;
  }

  function lookup(elements: Map<string, string[]>, key: Val[]): string[] | undefined {
    for (const [k, v] of elements) {
      const parts = k.split(' . ');
      if (parts.length === key.length && parts.every((p, idx) => eq(key[idx]!, p))) return v;
    }
    return undefined;
  }

  function anonElements(toks: string[], open: number): [Map<string, string[]>, number] {
    let depth = 0;
    let end = open;
    for (; end < toks.length; end++) {
      if (toks[end] === '{') depth++;
      if (toks[end] === '}' && --depth === 0) break;
    }
    const inner = toks.slice(open + 1, end);
    const m = new Map<string, string[]>();
    let cur: string[] = [];
    const flush = () => {
      if (!cur.length) return;
      const colon = cur.indexOf(':');
      const key = (colon < 0 ? cur : cur.slice(0, colon)).filter((x) => x !== '.').join(' . ');
      m.set(key, colon < 0 ? [] : cur.slice(colon + 1));
      cur = [];
    };
    for (const x of inner) {
      if (x === ',') flush();
      else cur.push(x);
    }
    flush();
    return [m, end + 1];
  }

  function verdictOf(v: string[]): End {
    if (v[0] === 'jump' || v[0] === 'goto') return { kind: v[0], chain: v[1]! };
    if (v[0] === 'accept' || v[0] === 'drop' || v[0] === 'return') return { kind: v[0] };
    throw new Error(`unsupported verdict "${v.join(' ')}"`);
  }

  /** Evaluates a rule; returns branches with how each ends. */
  function evalRule(rule: NftRule, c0: Ctx): [Ctx, End][] {
    const toks = rule.tokens;
    const out: [Ctx, End][] = [];
    const work: { i: number; c: Ctx }[] = [{ i: 0, c: c0 }];
    while (work.length) {
      const { i, c } = work.shift()!;
      if (i >= toks.length) {
        out.push([c, { kind: 'next', ran: true }]);
        continue;
      }
      const w = toks[i]!;
      if (w === 'counter') {
        let j = i + 1;
        while (toks[j] === 'packets' || toks[j] === 'bytes') j += 2;
        work.push({ i: j, c });
        continue;
      }
      if (w === 'comment') {
        work.push({ i: i + 2, c });
        continue;
      }
      if (w === 'jump' || w === 'goto') {
        out.push([c, { kind: w, chain: toks[i + 1]! }]);
        continue;
      }
      if (w === 'return' || w === 'accept' || w === 'drop' || w === 'reject') {
        out.push([c, { kind: w }]);
        continue;
      }
      if (w === 'dnat') {
        let j = i + 1;
        if (toks[j] === 'ip') j++;
        if (toks[j] === 'to') j++;
        const to = toks[j]!;
        const [ip, port] = to.split(':');
        c.dnat = port ? to : `${ip}:${c.pkt.dport}`;
        c.pkt.dst = ip!;
        if (port) c.pkt.dport = Number(port);
        out.push([c, { kind: 'nat' }]);
        continue;
      }
      if (w === 'masquerade' || w === 'snat') {
        c.masquerade = true;
        out.push([c, { kind: 'nat' }]);
        continue;
      }
      if ((w === 'update' || w === 'add') && toks[i + 1]?.startsWith('@')) {
        const name = toks[i + 1]!.slice(1);
        const [, after] = anonElements(toks, i + 2);
        c.recentSets.push([name, c.pkt.src]);
        work.push({ i: after, c });
        continue;
      }
      // `meta mark set meta mark | X` / `mark set mark or X`
      const markSet =
        (w === 'meta' && toks[i + 1] === 'mark' && toks[i + 2] === 'set') ||
        (w === 'mark' && toks[i + 1] === 'set');
      if (markSet) {
        let j = i + (w === 'meta' ? 3 : 2);
        if (toks[j] === 'meta') j++;
        if (toks[j] === 'mark') j++;
        const op = toks[j];
        const val = Number(toks[j + 1]);
        if (op === '|' || op === 'or') c.mark = (c.mark | val) >>> 0;
        else if (op === '^' || op === 'xor') c.mark = (c.mark ^ val) >>> 0;
        else if (op === '&' || op === 'and') c.mark = (c.mark & val) >>> 0;
        else {
          c.mark = Number(op) >>> 0;
          j--;
        }
        work.push({ i: j + 2, c });
        continue;
      }
      // An expression: selector [. selector]* then vmap / comparison.
      let branches: { c: Ctx; key: Val[] }[] = [{ c, key: [] }];
      let j = i;
      let protoOk = true;
      for (;;) {
        const next: { c: Ctx; key: Val[] }[] = [];
        let nj = j;
        for (const b of branches) {
          const s = selector(toks, j, b.c);
          if (!s)
            throw new Error(
              `nft tracer: cannot evaluate "${toks.slice(j).join(' ')}" in rule "${rule.text}"`,
            );
          if (s.requiresProto && s.requiresProto !== b.c.pkt.proto) protoOk = false;
          for (const [bc, v] of s.vals) next.push({ c: bc, key: [...b.key, v] });
          nj = s.next;
        }
        branches = next;
        j = nj;
        if (toks[j] === '.') {
          j++;
          continue;
        }
        break;
      }
      if (!protoOk) {
        for (const b of branches) out.push([b.c, { kind: 'next' }]);
        continue;
      }
      if (toks[j] === 'vmap') {
        // A verdict map ends the rule either way: a hit gives the verdict, a miss means no match.
        let elements: Map<string, string[]>;
        if (toks[j + 1]?.startsWith('@')) {
          const s = t.sets.get(toks[j + 1]!.slice(1));
          if (!s) throw new Error(`map ${toks[j + 1]} not found`);
          elements = s.elements;
        } else [elements] = anonElements(toks, j + 1);
        for (const b of branches) {
          const v = lookup(elements, b.key);
          if (!v) out.push([b.c, { kind: 'next' }]);
          else out.push([b.c, verdictOf(v)]);
        }
        continue;
      }
      let negate = false;
      if (toks[j] === '!=') {
        negate = true;
        j++;
      } else if (toks[j] === '==') j++;
      let matcher: (key: Val[], bc: Ctx) => boolean;
      let after: number;
      if (toks[j]?.startsWith('@')) {
        const name = toks[j]!.slice(1);
        matcher = (key, bc) => inSet(name, key, bc);
        after = j + 1;
      } else if (toks[j] === '{') {
        const [m, a] = anonElements(toks, j);
        matcher = (key) => lookup(m, key) !== undefined;
        after = a;
      } else {
        const lit = toks[j]!;
        const list = lit.split(',');
        matcher = (key) => list.some((l) => eq(key[0]!, l));
        after = j + 1;
      }
      for (const b of branches) {
        const ok = matcher(b.key, b.c) !== negate;
        if (ok) work.push({ i: after, c: b.c });
        else out.push([b.c, { kind: 'next' }]);
      }
    }
    return out;
  }

  type Out = { c: Ctx; end: 'fell' | 'return' | 'accept' | 'drop' | 'reject' | 'nat' };
  function runChain(name: string, c0: Ctx, depth: number): Out[] {
    if (depth > 64) throw new Error(`chain recursion too deep at ${name}`);
    const chain = t.chains.get(name);
    if (!chain) throw new Error(`jump to missing chain ${name}`);
    const out: Out[] = [];
    const work: { i: number; c: Ctx }[] = [{ i: 0, c: c0 }];
    while (work.length) {
      const { i, c } = work.shift()!;
      if (i >= chain.rules.length) {
        out.push({ c, end: 'fell' });
        continue;
      }
      const rule = chain.rules[i]!;
      for (const [bc, end] of evalRule(rule, c)) {
        if (end.kind !== 'next' || end.ran)
          bc.hits.push({ table: `ip ${t.name}`, chain: name, rule: rule.text });
        if (end.kind === 'next') {
          // No match, or a rule whose statements all ran (e.g. a mark set): go on.
          work.push({ i: i + 1, c: bc });
          continue;
        }
        if (end.kind === 'jump' || end.kind === 'goto') {
          for (const sub of runChain(end.chain, bc, depth + 1)) {
            if (sub.end === 'fell' || sub.end === 'return') {
              if (end.kind === 'goto') out.push({ c: sub.c, end: 'return' });
              else work.push({ i: i + 1, c: sub.c });
            } else out.push(sub);
          }
        } else out.push({ c: bc, end: end.kind });
      }
    }
    return out;
  }

  function hook(name: string, ctxs: Ctx[]): { c: Ctx; verdict: TraceResult['verdict'] }[] {
    const bases = [...t.chains.values()]
      .filter((c) => c.hook?.hook === name)
      .sort((a, b) => a.hook!.priority - b.hook!.priority);
    let cur: { c: Ctx; verdict: TraceResult['verdict'] }[] = ctxs.map((c) => ({ c, verdict: 'ACCEPT' }));
    for (const base of bases) {
      const next: { c: Ctx; verdict: TraceResult['verdict'] }[] = [];
      for (const x of cur) {
        if (x.verdict !== 'ACCEPT') {
          next.push(x);
          continue;
        }
        // NAT base chains see only the first packet of a connection — which is what we trace.
        for (const r of runChain(base.name, x.c, 0)) {
          const v =
            r.end === 'drop' ||
            (r.end !== 'reject' && r.end !== 'accept' && r.end !== 'nat' && base.hook!.policy === 'drop')
              ? 'DROP'
              : r.end === 'reject'
                ? 'REJECT'
                : 'ACCEPT';
          next.push({ c: r.c, verdict: v });
        }
      }
      cur = next;
    }
    return cur;
  }

  const start: Ctx = { pkt: { ...pkt }, mark: 0, masquerade: false, prob: 1, hits: [], recentSets: [] };
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
    if (random !== 'all') commitRecent(recent, c.recentSets, now);
  };
  for (const pre of hook(localSource ? 'output' : 'prerouting', [start])) {
    if (pre.verdict !== 'ACCEPT') {
      finish(pre.c, pre.verdict);
      continue;
    }
    const toLocal = isLocalAddress(pre.c.pkt.dst, opts);
    if (!localSource && toLocal) {
      for (const x of hook('input', [pre.c])) finish(x.c, x.verdict);
      continue;
    }
    const mid = localSource ? [pre] : hook('forward', [pre.c]);
    for (const m of mid) {
      if (m.verdict !== 'ACCEPT') {
        finish(m.c, m.verdict);
        continue;
      }
      for (const post of hook('postrouting', [m.c])) finish(post.c, post.verdict);
    }
  }
  return results;
}
