/**
 * Reading `conntrack -L` output: each line is one tracked connection with its original tuple (as
 * the first packet arrived) and its reply tuple (as answers will come back). The difference is
 * the NAT the kernel applied: a reply source other than the original destination is a DNAT, a
 * reply destination other than the original source is an SNAT (masquerade).
 */
import type { ConntrackEntry } from './types.ts';

type Tuple = ConntrackEntry['orig'];

/** Parses the lines of `conntrack -L` (the summary line on stderr is not expected here). */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('conntrack v')) continue;
    const words = line.split(/\s+/);
    const proto = words[0]!;
    const tuples: Partial<Tuple>[] = [];
    const flags: string[] = [];
    let state: string | undefined;
    let timeout: number | undefined;
    let cur: Partial<Tuple> | undefined;
    for (let i = 1; i < words.length; i++) {
      const w = words[i]!;
      const eq = w.indexOf('=');
      if (eq > 0) {
        const k = w.slice(0, eq);
        const v = w.slice(eq + 1);
        if (k === 'src') {
          cur = { src: v };
          tuples.push(cur);
        } else if (cur && k === 'dst') cur.dst = v;
        else if (cur && k === 'sport') cur.sport = Number(v);
        else if (cur && k === 'dport') cur.dport = Number(v);
        continue;
      }
      if (/^\[.*\]$/.test(w)) flags.push(w.slice(1, -1));
      else if (i === 2 && /^\d+$/.test(w)) timeout = Number(w);
      else if (tuples.length === 0 && /^[A-Z_]+$/.test(w)) state = w;
    }
    if (tuples.length < 2 || !tuples[0]!.dst || !tuples[1]!.dst) continue;
    out.push({
      proto,
      state,
      timeout,
      orig: tuples[0] as Tuple,
      reply: tuples[1] as Tuple,
      flags,
      text: line,
    });
  }
  return out;
}

/** The NAT an entry records: where the connection really goes and where replies go back to. */
export function conntrackNat(e: ConntrackEntry): { dnat?: string; snat?: string } {
  const r: { dnat?: string; snat?: string } = {};
  if (e.reply.src !== e.orig.dst || e.reply.sport !== e.orig.dport)
    r.dnat = `${e.reply.src}${e.reply.sport !== undefined ? `:${e.reply.sport}` : ''}`;
  if (e.reply.dst !== e.orig.src || e.reply.dport !== e.orig.sport)
    r.snat = `${e.reply.dst}${e.reply.dport !== undefined ? `:${e.reply.dport}` : ''}`;
  return r;
}

/** Entries whose original tuple matches the given fields (undefined fields match anything). */
export function matchConntrack(
  entries: ConntrackEntry[],
  want: Partial<Tuple> & { proto?: string },
): ConntrackEntry[] {
  return entries.filter(
    (e) =>
      (want.proto === undefined || e.proto === want.proto) &&
      (want.src === undefined || e.orig.src === want.src) &&
      (want.dst === undefined || e.orig.dst === want.dst) &&
      (want.sport === undefined || e.orig.sport === want.sport) &&
      (want.dport === undefined || e.orig.dport === want.dport),
  );
}
