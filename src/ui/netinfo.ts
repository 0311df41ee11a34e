/**
 * A pod's network as the page shows it when a pod is clicked: its interfaces (from `ip -j addr`)
 * and its routes (from `ip -j route`), read inside the pod's sandbox namespace (or a node's
 * namespace, for a node). Parsing and the
 * route wording (`default via 10.244.1.1 dev eth0`, as `ip route` prints it) are pure; reading
 * goes through the injected `Exec`, so tests can hand in recorded output.
 */
import type { Exec } from '../kernel/exec.ts';

/** One address of an interface. */
export interface UiAddress {
  family: 'inet' | 'inet6';
  /** `10.244.1.5/24`. */
  cidr: string;
  scope?: string;
}

/** One interface of the pod's namespace. */
export interface UiInterface {
  name: string;
  /** UP, DOWN, UNKNOWN (loopback). */
  state: string;
  mtu?: number;
  mac?: string;
  /** For a veth: the index of its peer link in the other namespace (the node side on cni0). */
  peerIndex?: number;
  addresses: UiAddress[];
}

/** One route, in `ip route`'s words and as fields. */
export interface UiRoute {
  dst: string;
  via?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  src?: string;
  text: string;
}

/** What the page shows for a clicked pod or node: the network of its namespace. */
export interface NetworkDetails {
  kind: 'pod' | 'node';
  /** `namespace/name` of a pod, or the node's name. */
  name: string;
  /** The node it runs on (a node: itself). */
  nodeName?: string;
  /** The pod IP, or the node's LAN address. */
  ip?: string;
  netns: string;
  interfaces: UiInterface[];
  routes: UiRoute[];
}

function asArray(json: string, what: string): Array<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(json.trim() || '[]');
  } catch (e) {
    throw new Error(`${what}: output is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON array`);
  return v as Array<Record<string, unknown>>;
}

/** Parses `ip -j addr show` output. */
export function parseIpAddr(json: string): UiInterface[] {
  return asArray(json, 'ip -j addr').map((l) => {
    const infos = Array.isArray(l.addr_info) ? (l.addr_info as Array<Record<string, unknown>>) : [];
    return {
      name: String(l.ifname ?? ''),
      state: String(l.operstate ?? 'UNKNOWN'),
      mtu: typeof l.mtu === 'number' ? l.mtu : undefined,
      mac: typeof l.address === 'string' && l.link_type !== 'loopback' ? l.address : undefined,
      peerIndex: typeof l.link_index === 'number' ? l.link_index : undefined,
      addresses: infos
        .filter((a) => a.family === 'inet' || a.family === 'inet6')
        .map((a) => ({
          family: a.family as 'inet' | 'inet6',
          cidr: `${a.local}/${a.prefixlen}`,
          scope: typeof a.scope === 'string' ? a.scope : undefined,
        })),
    };
  });
}

/** Parses `ip -j route show` output, wording each route as `ip route` does. */
export function parseIpRoute(json: string): UiRoute[] {
  return asArray(json, 'ip -j route').map((r) => {
    const s = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
    const route: UiRoute = {
      dst: s('dst') ?? 'default',
      via: s('gateway'),
      dev: s('dev'),
      protocol: s('protocol'),
      scope: s('scope'),
      src: s('prefsrc'),
      text: '',
    };
    const words = [route.dst];
    if (route.via) words.push('via', route.via);
    if (route.dev) words.push('dev', route.dev);
    if (route.protocol) words.push('proto', route.protocol);
    if (route.scope) words.push('scope', route.scope);
    if (route.src) words.push('src', route.src);
    const flags = Array.isArray(r.flags) ? (r.flags as string[]) : [];
    words.push(...flags);
    route.text = words.join(' ');
    return route;
  });
}

/** Reads the interfaces and routes of network namespace `netns` (needs root). */
export async function readNetns(
  exec: Exec,
  netns: string,
): Promise<{ interfaces: UiInterface[]; routes: UiRoute[] }> {
  const [addr, route] = await Promise.all([
    exec.run('ip', ['-j', '-n', netns, 'addr', 'show'], { timeoutMs: 5000 }),
    exec.run('ip', ['-j', '-n', netns, 'route', 'show'], { timeoutMs: 5000 }),
  ]);
  return { interfaces: parseIpAddr(addr.stdout), routes: parseIpRoute(route.stdout) };
}
