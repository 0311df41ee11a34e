/**
 * The iptables rules of the CNI plugins, in the reference plugins' shape: per-container chains named
 * `CNI-<hash>` (sha512 of network name + container id, cut to 28 characters), tagged with the
 * comment `name: "<net>" id: "<container>"`. Rules are rendered as one iptables-restore payload and
 * applied with --noflush; teardown reads the table back, deletes the jumps into the chain, then
 * flushes and deletes the chain, so it works without remembering anything (DEL may come from
 * another process, or after a restart).
 */
import { createHash } from 'node:crypto';
import { type IptablesRunner, parseIptablesSave, ruleTarget } from '../../src/kernel/iptables.ts';

/** iptables' limit on chain names. */
const MAX_CHAIN = 28;

/** `CNI-` + sha512(name + id) in hex, cut to 28 characters (the reference's FormatChainName). */
export function formatChainName(name: string, id: string, prefix = ''): string {
  return `CNI-${prefix}${createHash('sha512')
    .update(name + id)
    .digest('hex')}`.slice(0, MAX_CHAIN);
}

/** The reference's rule comment. */
export function ruleComment(name: string, id: string): string {
  return `name: ${JSON.stringify(name)} id: ${JSON.stringify(id)}`;
}

/** Quotes a comment for iptables-restore. */
function q(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Payload installing masquerade for `ip` (bare address) leaving `subnet`, in table nat. */
export function renderMasqAdd(chain: string, comment: string, ip: string, subnet: string): string {
  const v6 = ip.includes(':');
  const c = `-m comment --comment ${q(comment)}`;
  return [
    '*nat',
    `:${chain} - [0:0]`,
    `-A ${chain} -d ${subnet} ${c} -j ACCEPT`,
    `-A ${chain} ! -d ${v6 ? 'ff00::/8' : '224.0.0.0/4'} ${c} -j MASQUERADE`,
    `-A POSTROUTING -s ${ip}/${v6 ? 128 : 32} ${c} -j ${chain}`,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Renders the removal of `chains` (and every rule jumping to them) from `saved` (iptables-save output
 * of `table`); empty string when none of them exists.
 */
export function renderChainsRemoval(saved: string, table: string, chains: Set<string>): string {
  const t = parseIptablesSave(saved).get(table);
  if (!t) return '';
  const lines: string[] = [];
  for (const [chain, rules] of t.chains)
    for (const r of rules) {
      const tg = ruleTarget(r);
      if (tg && chains.has(tg) && !chains.has(chain)) lines.push(`-D ${chain} ${r}`);
    }
  const present = [...chains].filter((c) => t.chains.has(c));
  if (!lines.length && !present.length) return '';
  for (const c of present) lines.push(`-F ${c}`);
  for (const c of present) lines.push(`-X ${c}`);
  return [`*${table}`, ...lines, 'COMMIT', ''].join('\n');
}

/** Removes chains and the jumps into them; a missing chain is fine. */
export async function removeChains(ipt: IptablesRunner, table: string, chains: Set<string>): Promise<void> {
  const payload = renderChainsRemoval(await ipt.save(table), table, chains);
  if (payload) await ipt.restore(payload, { noflush: true });
}

/**
 * Chains tagged with network `name` whose container id is not in `keep` (for GC): scans rule
 * comments `name: "<net>" id: "<id>"` of `saved`.
 */
export function staleChains(
  saved: string,
  table: string,
  name: string,
  keep: Set<string>,
  prefix: RegExp,
): Set<string> {
  const out = new Set<string>();
  const t = parseIptablesSave(saved).get(table);
  if (!t) return out;
  const want = `name: ${JSON.stringify(name)} id: `;
  for (const [chain, rules] of t.chains)
    for (const r of rules) {
      const tg = ruleTarget(r);
      const m = /--comment "((?:[^"\\]|\\.)*)"/.exec(r);
      if (!m) continue;
      const comment = m[1].replaceAll('\\"', '"');
      const at = comment.indexOf(want);
      if (at < 0) continue;
      let id: string;
      try {
        id = JSON.parse(comment.slice(at + want.length));
      } catch {
        continue;
      }
      if (keep.has(id)) continue;
      if (tg && prefix.test(tg)) out.add(tg);
      if (prefix.test(chain)) out.add(chain);
    }
  return out;
}
