/**
 * Removing everything the iptables backend installed (upstream CleanupLeftovers): the hook rules
 * in the built-in chains, then every KUBE-* chain we own in nat and filter. Needed when a node
 * switches proxy mode (iptables → nftables or the in-process balancer) without being recreated.
 */
import { parseRule, tokenize } from '../trace/iptables-ruleset.ts';
import { USERSPACE_CHAINS } from '../userspace/rules.ts';
import {
  isServiceChainName,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from './render.ts';
import type { IptablesRunner } from './runner.ts';

const TOP_LEVEL = new Set([
  KUBE_SERVICES,
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_MARK_MASQ,
  KUBE_FORWARD,
  KUBE_PROXY_FIREWALL,
]);

/**
 * The nat chains of the userspace mode's old REDIRECT layout (proxy/userspace/rules.ts), removed
 * here too for nodes upgraded from it. The mode's filter chains (KUBE-SERVICES,
 * KUBE-EXTERNAL-SERVICES) share the iptables mode's names and go with TOP_LEVEL.
 */
const USERSPACE = new Set<string>(USERSPACE_CHAINS);

/** Whether a chain is one kube-proxy owns (iptables or userspace mode). */
export function isKubeProxyChain(chain: string): boolean {
  return TOP_LEVEL.has(chain) || USERSPACE.has(chain) || isServiceChainName(chain);
}

/**
 * The iptables-restore payload that removes our rules from iptables-save output: `-D` for each
 * rule elsewhere that jumps into our chains, then flush (chain line) and `-X` for our chains.
 * Returns '' when there is nothing to remove.
 */
export function cleanupPayload(save: string): string {
  const tables = new Map<string, { chains: string[]; deletes: string[] }>();
  let cur: { chains: string[]; deletes: string[] } | undefined;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: [], deletes: [] };
      tables.set(line.slice(1).trim(), cur);
    } else if (cur && line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0]!;
      if (isKubeProxyChain(name)) cur.chains.push(name);
    } else if (cur && line.startsWith('-A ')) {
      const words = tokenize(line);
      const chain = words[1]!;
      if (isKubeProxyChain(chain)) continue;
      const rule = parseRule(words.slice(2));
      if (rule.target && isKubeProxyChain(rule.target)) cur.deletes.push(`-D ${chain} ${rule.text}`);
    }
  }
  let out = '';
  for (const [name, t] of tables) {
    if (t.chains.length === 0 && t.deletes.length === 0) continue;
    out += `*${name}\n`;
    for (const c of t.chains) out += `:${c} - [0:0]\n`;
    for (const d of t.deletes) out += `${d}\n`;
    for (const c of t.chains) out += `-X ${c}\n`;
    out += 'COMMIT\n';
  }
  return out;
}

/** Removes all kube-proxy iptables state through `runner`. Returns the chains deleted. */
export async function cleanupIptables(runner: IptablesRunner): Promise<number> {
  const payload = cleanupPayload(await runner.save(['nat', 'filter']));
  if (!payload) return 0;
  await runner.restore(payload);
  return (payload.match(/^-X /gm) ?? []).length;
}
