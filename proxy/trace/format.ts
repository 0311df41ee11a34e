/**
 * Human-readable trace output (for the CLI and for test failure messages): one block per path,
 * its probability and fate, then the rules it hit in order.
 */
import type { Packet, TraceResult } from './types.ts';

/** Formats trace results, e.g.
 *
 *   tcp 10.244.1.100 -> 10.96.0.10:80: 2 paths
 *   path 1 (p=0.500): ACCEPT, DNAT to 10.244.1.5:8080, no masquerade
 *     nat PREROUTING         -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
 *     ...
 */
export function formatTrace(pkt: Packet, results: TraceResult[], opts: { hits?: boolean } = {}): string {
  const lines = [
    `${pkt.proto} ${pkt.src} -> ${pkt.dst}:${pkt.dport}: ${results.length} path${results.length === 1 ? '' : 's'}`,
  ];
  results.forEach((r, i) => {
    const fate = [
      r.verdict,
      r.dnat ? `DNAT to ${r.dnat}` : 'no DNAT',
      r.masquerade ? 'masquerade' : 'no masquerade',
    ];
    lines.push(`path ${i + 1} (p=${r.probability.toFixed(3)}): ${fate.join(', ')}`);
    if (opts.hits !== false)
      for (const h of r.hits) lines.push(`  ${`${h.table} ${h.chain}`.padEnd(36)} ${h.rule}`);
  });
  return lines.join('\n') + '\n';
}
