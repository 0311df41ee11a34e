/**
 * The human-readable form of a trace report: a header saying what was traced and how, then one
 * numbered block per namespace (the packet on arrival, netfilter's rules and NAT, conntrack, the
 * route and the interface it leaves by, what it crosses to the next hop), then the backend.
 */
import type {
  AddressOwner,
  NetfilterView,
  TraceHop,
  TraceReport,
  TraceSource,
  TraceTarget,
} from './types.ts';

function describeSource(s: TraceSource): string {
  if (s.kind === 'lan') return `an outside client on the LAN (${s.ip})`;
  if (s.kind === 'node') return `node ${s.name} (${s.ip})`;
  return `pod ${s.name} (${s.ip}, on ${s.node})`;
}

function describeTarget(t: TraceTarget): string {
  const at = `${t.ip}:${t.port}`;
  switch (t.kind) {
    case 'service':
      return `service ${t.name} ${at}${t.servicePort ? ` (${t.servicePort})` : ''}`;
    case 'nodeport':
      return `NodePort ${at} on ${t.name}${t.servicePort ? ` (${t.servicePort})` : ''}`;
    case 'loadbalancer':
      return `LoadBalancer IP ${at}${t.servicePort ? ` (${t.servicePort})` : ''}`;
    case 'externalip':
      return `external IP ${at}${t.servicePort ? ` (${t.servicePort})` : ''}`;
    case 'pod':
      return `pod ${t.name} ${at}`;
    case 'node':
      return `node ${t.name} ${at}`;
    default:
      return at;
  }
}

/** `pod default/web-1 on node-2`, `node node-1`, … */
export function describeOwner(o: AddressOwner): string {
  switch (o.kind) {
    case 'pod':
      return `pod ${o.name}${o.node ? ` on ${o.node}` : ''}`;
    case 'node':
      return `node ${o.name}`;
    case 'service':
      return `service ${o.name} (ClusterIP)`;
    case 'loadbalancer':
      return `service ${o.name} (LoadBalancer IP)`;
    case 'externalip':
      return `service ${o.name} (external IP)`;
    case 'lan-gateway':
      return 'the LAN gateway';
    default:
      return 'an address outside the cluster';
  }
}

const hp = (ip: string, port?: number) => (port === undefined ? ip : `${ip}:${port}`);

function netfilterLines(nf: NetfilterView, ind: string): string[] {
  const out: string[] = [];
  out.push(
    `${ind}netfilter (${nf.source === 'kernel' ? "the kernel's trace of the probe" : 'rule interpreter'}):`,
  );
  if (nf.error) out.push(`${ind}  ruleset not readable: ${nf.error}`);
  const width = Math.min(36, Math.max(0, ...nf.hits.map((h) => h.table.length + h.chain.length + 1)));
  for (const h of nf.hits) out.push(`${ind}  ${`${h.table} ${h.chain}`.padEnd(width)}  ${h.rule}`);
  if (nf.hits.length === 0 && !nf.error) out.push(`${ind}  no rule matched`);
  const fate: string[] = [nf.verdict];
  if (nf.dnat) fate.push(`DNAT to ${nf.dnat}${nf.backendChain ? ` (${nf.backendChain})` : ''}`);
  else fate.push('no DNAT');
  fate.push(nf.masquerade ? `masquerade${nf.snat ? ` to ${nf.snat}` : ''}` : 'no SNAT');
  out.push(`${ind}  => ${fate.join(', ')}`);
  const alts = nf.alternatives ?? [];
  if (alts.length > 1 || (nf.source === 'kernel' && alts.length > 0)) {
    const list = alts
      .map(
        (a) =>
          `${a.dnat ?? a.verdict} p=${a.probability.toFixed(2)}${a.backendChain ? ` ${a.backendChain}` : ''}`,
      )
      .join('; ');
    const follows =
      nf.source === 'interpreter' ? ' (this trace follows the most likely, first among equals)' : '';
    out.push(
      `${ind}  interpreter: ${alts.length} possible path${alts.length === 1 ? '' : 's'}${follows}: ${list}`,
    );
  }
  return out;
}

function hopLines(h: TraceHop): string[] {
  const ind = '    ';
  const title =
    h.kind === 'pod'
      ? `pod ${h.name}`
      : h.kind === 'bridge'
        ? `bridge ${h.name}`
        : h.kind === 'lan'
          ? 'LAN'
          : `node ${h.name}`;
  const out = [`${String(h.index).padStart(2)}. ${title}  [netns ${h.netns}]${h.in ? `  in: ${h.in}` : ''}`];
  const p = h.packet;
  out.push(`${ind}packet   ${hp(p.src, p.sport)} -> ${hp(p.dst, p.dport)} ${p.proto}`);
  if (h.netfilter) out.push(...netfilterLines(h.netfilter, ind));
  for (const c of h.conntrack ?? []) out.push(`${ind}conntrack ${c.text}`);
  if (h.delivered)
    out.push(`${ind}delivered to a local socket (the destination is an address of this namespace)`);
  else if (h.route) {
    const r = h.route;
    out.push(
      `${ind}route    ip ${r.query} => ${r.error ? `error: ${r.error}` : `${r.type !== 'unicast' ? `${r.type} ` : ''}${r.gateway ? `via ${r.gateway} ` : ''}dev ${r.dev}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`}`,
    );
  }
  if (h.out)
    out.push(
      `${ind}out      ${h.out.dev} (${h.out.kind})${h.out.nextHop ? `, next hop ${h.out.nextHop}` : ''}`,
    );
  for (const c of h.crosses ?? []) out.push(`${ind}crosses  ${c}`);
  for (const n of h.notes ?? []) out.push(`${ind}note     ${n}`);
  return out;
}

/** Formats a report for people. */
export function formatReport(r: TraceReport): string {
  const lines: string[] = [];
  lines.push(`trace ${r.to.proto} from ${describeSource(r.from)} to ${describeTarget(r.to)}`);
  const how =
    r.method === 'kernel'
      ? `kernel trace of one probe (source port ${r.probe?.sport}: ${r.probe?.result}${r.probe?.detail ? `, ${r.probe.detail}` : ''})`
      : 'rule interpreter over the dumped rules (no packet sent)';
  lines.push(`cluster ${r.cluster} (proxy ${r.proxyMode}, ${r.overlay}); method: ${how}`);
  lines.push('');
  for (const h of r.hops) lines.push(...hopLines(h));
  lines.push('');
  if (r.backend)
    lines.push(`reached: ${describeOwner(r.backend.owner)} at ${r.backend.ip}:${r.backend.port}`);
  else lines.push('reached: nothing (see the last hop)');
  if (r.agreement)
    lines.push(
      `check: kernel chose ${r.agreement.kernel ?? '?'} on ${r.agreement.node}; the interpreter's path to the same backend is ${r.agreement.interpreter ?? '?'}: ${r.agreement.agree ? 'they agree' : 'THEY DISAGREE'}`,
    );
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
