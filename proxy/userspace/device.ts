/**
 * The userspace proxy's service device: `kube-svc0`, a bridge with no ports in the node's network
 * namespace that holds every ClusterIP, externalIP and LoadBalancer IP the proxy serves as a /32,
 * so those addresses are local and the proxy's listeners can bind them directly (the same job as
 * IPVS mode's kube-ipvs0 dummy; a bridge because this kernel has no dummy links). Traffic from
 * pods, the LAN and the node itself then reaches the listeners by plain local delivery, with no
 * nat rule. Strict ARP (`arp_ignore=1`, `arp_announce=2`) keeps the node from answering ARP for
 * these addresses on its LAN link: the L2 LoadBalancer announcer stays the only one that does.
 * Every command goes through an Exec, so unit tests can use a fake one.
 */
import type { Exec } from '../../src/kernel/exec.ts';

/** The device's name (kube-proxy IPVS mode calls its dummy kube-ipvs0). */
export const SERVICE_DEVICE = 'kube-svc0';

/** The sysctls the node namespace needs so it never answers ARP for the service addresses. */
export const STRICT_ARP_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.conf.all.arp_ignore': '1',
  'net.ipv4.conf.all.arp_announce': '2',
};

/** What one reconciliation changed. */
export interface AddressChanges {
  added: string[];
  removed: string[];
}

/** Parses `ip -j addr show dev DEV` output into the IPv4 addresses it holds. */
export function parseDeviceAddresses(json: string): string[] {
  const text = json.trim();
  if (!text) return [];
  const links = JSON.parse(text) as { addr_info?: { family?: string; local?: string }[] }[];
  const out: string[] = [];
  for (const l of links)
    for (const a of l.addr_info ?? []) if (a.family === 'inet' && a.local) out.push(a.local);
  return out;
}

/**
 * Creates the device when it is missing (a bridge, set up, no ports) and sets strict ARP.
 * Idempotent: an existing device (left by a draining predecessor) is kept with its addresses.
 */
export async function ensureServiceDevice(exec: Exec, dev = SERVICE_DEVICE): Promise<void> {
  const shown = await exec.run('ip', ['-j', 'link', 'show', 'dev', dev], { allowFail: true });
  if (shown.code !== 0) await exec.run('ip', ['link', 'add', dev, 'type', 'bridge']);
  await exec.run('ip', ['link', 'set', dev, 'up']);
  await exec.run('sysctl', ['-q', '-w', ...Object.entries(STRICT_ARP_SYSCTLS).map(([k, v]) => `${k}=${v}`)]);
}

/**
 * Makes the device hold exactly `wanted` (IPv4 addresses, each as a /32): reads what it holds,
 * adds what is missing and deletes what is stale, in one `ip -batch -` when there are several
 * changes. Runs nothing but the read when nothing changed.
 */
export async function reconcileServiceAddresses(
  exec: Exec,
  wanted: Iterable<string>,
  dev = SERVICE_DEVICE,
): Promise<AddressChanges> {
  const want = new Set(wanted);
  const have = new Set(
    parseDeviceAddresses((await exec.run('ip', ['-j', 'addr', 'show', 'dev', dev])).stdout),
  );
  const added = [...want].filter((a) => !have.has(a)).sort();
  const removed = [...have].filter((a) => !want.has(a)).sort();
  const cmds = [
    ...removed.map((a) => ['addr', 'del', `${a}/32`, 'dev', dev]),
    ...added.map((a) => ['addr', 'add', `${a}/32`, 'dev', dev]),
  ];
  if (cmds.length === 1) await exec.run('ip', cmds[0]!);
  else if (cmds.length > 1)
    await exec.run('ip', ['-batch', '-'], { input: `${cmds.map((c) => c.join(' ')).join('\n')}\n` });
  return { added, removed };
}

/** Deletes the device (its addresses go with it); nothing when it is already gone. */
export async function deleteServiceDevice(exec: Exec, dev = SERVICE_DEVICE): Promise<boolean> {
  const r = await exec.run('ip', ['link', 'del', dev], { allowFail: true });
  return r.code === 0;
}
