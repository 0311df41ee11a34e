/**
 * The iptables proxier: informer handlers record changes in the trackers; `sync()` folds them
 * into the state, renders, and applies one iptables-restore payload. A full sync (the first one,
 * after a failure, or when asked) reads the live ruleset first to add missing hooks and delete
 * stale chains (one `iptables-save`, running while this process renders); otherwise only changed
 * services' chains are rewritten. Each service's text is cached until it changes, so no sync
 * renders an unchanged service again. A failed apply sets needFullSync so the next attempt
 * starts from scratch (the changes were already consumed).
 */
import type { ProxyBackend } from '../conformance/backend.ts';
import { type ConntrackRunner, cleanConntrack } from '../model/conntrack.ts';
import {
  EndpointsChangeTracker,
  ProxyState,
  ServiceChangeTracker,
  type UpdateResult,
} from '../model/tracker.ts';
import type { EndpointSliceObject, ServiceObject } from '../model/types.ts';
import { IptablesRuleset, parseRule, tokenize } from '../trace/iptables-ruleset.ts';
import { traceIptables } from '../trace/iptables-trace.ts';
import type { Packet, TraceOptions, TraceResult } from '../trace/types.ts';
import {
  type IptablesRender,
  IptablesRenderCache,
  type IptablesRenderOptions,
  JUMP_RULES,
  type JumpRule,
  renderIptables,
} from './render.ts';
import { chainsInSave, type IptablesRunner } from './runner.ts';

/** Options for IptablesProxier. */
export interface IptablesProxierOptions
  extends Pick<
    IptablesRenderOptions,
    'clusterCIDR' | 'masqueradeAll' | 'masqueradeMark' | 'randomFully' | 'localhostNodePorts'
  > {
  runner: IptablesRunner;
  nodeName: string;
  /** Flushes stale UDP conntrack entries after each successful sync (upstream does); optional. */
  conntrack?: ConntrackRunner;
  /** Called with conntrack cleanup errors (they do not fail the sync). */
  onConntrackError?: (e: unknown) => void;
  /** The node's own addresses (used by `trace`, standing in for addrtype LOCAL). */
  nodeIPs?: string[];
}

/** Where one sync's time went (milliseconds), for benches and debugging. */
export interface SyncTimings {
  /** Folding the recorded changes into the state. */
  fold: number;
  /** Rendering: services whose text was missing or stale, then joining the payload. */
  render: number;
  /**
   * The live-ruleset read (full syncs): starting `iptables-save`, then waiting for it after the
   * render, which it runs alongside — only the part of its run time the render did not cover.
   */
  readWait: number;
  /** Finding hooks and stale chains in the saved ruleset. */
  parse: number;
  /** The `iptables-restore` call. */
  apply: number;
  /** Conntrack cleanup after the apply. */
  conntrack: number;
}

/** Result of one sync. */
export interface SyncResult {
  fullSync: boolean;
  render: IptablesRender;
  timings: SyncTimings;
}

/** Whether a saved rule (words after -A CHAIN) is the given hook. */
function isJump(words: string[], j: JumpRule): boolean {
  try {
    const r = parseRule(words);
    return (
      r.target === j.target &&
      r.matches.some((m) => m.kind === 'comment' && m.opts['--comment'] === j.comment)
    );
  } catch {
    return false;
  }
}

/** The built-in chains our hooks live in: only their rules need parsing. */
const HOOK_CHAINS = new Set(JUMP_RULES.map((j) => j.chain));

/** Hooks in JUMP_RULES that are not present in iptables-save output. */
export function missingJumps(save: string): JumpRule[] {
  const present: { table: string; chain: string; words: string[] }[] = [];
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith('-A ')) {
      // Tokenizing every rule of a large ruleset costs more than the rest of a sync: look at
      // the chain name first and parse only rules of the built-in chains.
      const end = line.indexOf(' ', 3);
      if (!HOOK_CHAINS.has(end < 0 ? line.slice(3) : line.slice(3, end))) continue;
      const w = tokenize(line);
      present.push({ table, chain: w[1]!, words: w.slice(2) });
    }
  }
  return JUMP_RULES.filter(
    (j) => !present.some((p) => p.table === j.table && p.chain === j.chain && isJump(p.words, j)),
  );
}

/** kube-proxy's iptables mode. */
export class IptablesProxier implements ProxyBackend {
  readonly name = 'iptables';
  readonly state = new ProxyState();
  private readonly services = new ServiceChangeTracker();
  private readonly endpoints: EndpointsChangeTracker;
  private needFullSync = true;
  /** Rendered text of every service, reused until the service or its endpoints change. */
  private readonly cache = new IptablesRenderCache();
  private pendingUpdated = new Set<string>();
  private pendingConntrack: Pick<UpdateResult, 'staleUdpEndpoints' | 'newlyActiveUdpServices'> = {
    staleUdpEndpoints: [],
    newlyActiveUdpServices: [],
  };

  constructor(private readonly opts: IptablesProxierOptions) {
    this.endpoints = new EndpointsChangeTracker(opts.nodeName);
  }

  /** Informer handler: a Service was added (prev undefined), updated, or deleted (cur undefined). */
  onServiceUpdate(prev: ServiceObject | undefined, cur: ServiceObject | undefined): boolean {
    return this.services.update(prev, cur);
  }

  /** Informer handler: an EndpointSlice was added/updated (removed false) or deleted. */
  onEndpointSliceUpdate(slice: EndpointSliceObject, removed: boolean): boolean {
    return this.endpoints.endpointSliceUpdate(slice, removed);
  }

  /** Forces the next sync to be full (e.g. the rules were flushed behind our back). */
  requestFullSync(): void {
    this.needFullSync = true;
  }

  /**
   * Folds pending changes in, renders, applies. Throws if the apply fails (retry later).
   * A full sync reads the live ruleset (hooks already present, stale chains to delete); the
   * read is started before rendering so that `iptables-save` runs while this process renders.
   */
  async sync(): Promise<SyncResult> {
    const timings: SyncTimings = { fold: 0, render: 0, readWait: 0, parse: 0, apply: 0, conntrack: 0 };
    let t = performance.now();
    const lap = () => {
      const now = performance.now();
      const d = now - t;
      t = now;
      return d;
    };
    const fullSync = this.needFullSync;
    // The read goes first: iptables-save runs while this process folds and renders.
    const reading = fullSync ? this.opts.runner.save(['nat', 'filter']) : undefined;
    // Awaited below; until then a failed read must not count as an unhandled rejection.
    reading?.catch(() => {});
    timings.readWait = lap();
    const { updatedServices, staleUdpEndpoints, newlyActiveUdpServices } = this.state.apply(
      this.services,
      this.endpoints,
    );
    for (const s of updatedServices) this.pendingUpdated.add(s);
    this.pendingConntrack.staleUdpEndpoints.push(...staleUdpEndpoints);
    this.pendingConntrack.newlyActiveUdpServices.push(...newlyActiveUdpServices);
    let existing: string[] | undefined;
    let jumps: JumpRule[] = [];
    timings.fold = lap();
    try {
      const renderedBefore = this.cache.rendered;
      this.cache.prepare(this.state, this.opts);
      timings.render = lap();
      if (reading) {
        const saved = await reading;
        timings.readWait += lap();
        existing = chainsInSave(saved, 'nat');
        jumps = missingJumps(saved);
        timings.parse = lap();
      }
      const render = renderIptables(this.state, {
        ...this.opts,
        fullSync,
        updatedServices: this.pendingUpdated,
        existingNatChains: existing,
        jumps,
        cache: this.cache,
      });
      // Most rendering happened in prepare(): count it with this sync.
      render.stats.rendered = this.cache.rendered - renderedBefore;
      timings.render += lap();
      await this.opts.runner.restore(render.payload);
      timings.apply = lap();
      this.needFullSync = false;
      this.pendingUpdated.clear();
      await this.cleanConntrack();
      timings.conntrack = lap();
      return { fullSync, render, timings };
    } catch (e) {
      this.needFullSync = true;
      throw e;
    }
  }

  /** Traces a packet through the live ruleset (as read back with save()). */
  async trace(pkt: Packet, opts: Partial<TraceOptions> = {}): Promise<TraceResult[]> {
    const saved = await this.opts.runner.save(['nat', 'filter']);
    return traceIptables(IptablesRuleset.parse(saved), pkt, {
      localAddresses: this.opts.nodeIPs ?? [],
      ...opts,
    });
  }

  /** After a successful apply: flush conntrack entries the change made stale (UDP only). */
  private async cleanConntrack(): Promise<void> {
    const pending = this.pendingConntrack;
    this.pendingConntrack = { staleUdpEndpoints: [], newlyActiveUdpServices: [] };
    if (this.opts.conntrack) await cleanConntrack(this.opts.conntrack, pending, this.opts.onConntrackError);
  }

  dispose(): void {}
}
