/**
 * Conntrack cleanup for UDP services (upstream conntrack.CleanStaleEntries). UDP has no
 * connection teardown, so a flow's conntrack entry keeps DNATing to an endpoint that is gone, or
 * keeps a service IP un-NATed after it was rejected for lack of endpoints. After a successful
 * sync the proxy deletes exactly those entries with `conntrack -D`.
 */
import type { Exec } from '../../src/kernel/exec.ts';
import { realExec } from '../../src/kernel/exec.ts';
import type { UpdateResult } from './tracker.ts';

/** Deletes conntrack entries. */
export interface ConntrackRunner {
  /** `conntrack -D <filter>`; deleting nothing is not an error. */
  delete(filter: string[]): Promise<void>;
}

/** The `conntrack` tool, optionally in a named netns. */
export class ExecConntrackRunner implements ConntrackRunner {
  constructor(private readonly opts: { exec?: Exec; netns?: string } = {}) {}

  async delete(filter: string[]): Promise<void> {
    const r = await (this.opts.exec ?? realExec).run('conntrack', ['-D', ...filter], {
      netns: this.opts.netns,
      allowFail: true,
      timeoutMs: 10_000,
    });
    // Exit 1 with "0 flow entries have been deleted" just means nothing matched.
    if (r.code !== 0 && !/0 flow entries/.test(r.stderr))
      throw new Error(`conntrack -D ${filter.join(' ')}: ${r.stderr.trim()}`);
  }
}

/** Records deletions (tests). */
export class FakeConntrackRunner implements ConntrackRunner {
  readonly deleted: string[][] = [];
  async delete(filter: string[]): Promise<void> {
    this.deleted.push(filter);
  }
}

/** The `conntrack -D` filters a sync's result calls for. */
export function conntrackCleanupFilters(
  result: Pick<UpdateResult, 'staleUdpEndpoints' | 'newlyActiveUdpServices'>,
): string[][] {
  const out: string[][] = [];
  const seen = new Set<string>();
  const add = (f: string[]) => {
    const k = f.join(' ');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(f);
    }
  };
  for (const { service: s, ip } of result.staleUdpEndpoints) {
    for (const vip of [s.clusterIP, ...s.externalIPs, ...s.loadBalancerVIPs])
      add(['-p', 'udp', '--orig-dst', vip, '--dst-nat', ip]);
    if (s.nodePort) add(['-p', 'udp', '--orig-port-dst', String(s.nodePort), '--dst-nat', ip]);
  }
  for (const s of result.newlyActiveUdpServices) {
    for (const vip of [s.clusterIP, ...s.externalIPs, ...s.loadBalancerVIPs])
      add(['-p', 'udp', '--orig-dst', vip]);
    if (s.nodePort) add(['-p', 'udp', '--dport', String(s.nodePort)]);
  }
  return out;
}

/** Runs the cleanup; returns the filters applied. Errors are collected, not thrown, as upstream logs them. */
export async function cleanConntrack(
  runner: ConntrackRunner,
  result: Pick<UpdateResult, 'staleUdpEndpoints' | 'newlyActiveUdpServices'>,
  onError?: (e: unknown) => void,
): Promise<string[][]> {
  const filters = conntrackCleanupFilters(result);
  for (const f of filters) {
    try {
      await runner.delete(f);
    } catch (e) {
      onError?.(e);
    }
  }
  return filters;
}
