/**
 * The deterministic order in which renders visit service ports (sorted by key), remembered
 * between syncs: at 10,000 services sorting them again costs more than the rest of a partial
 * sync, and the set of ports rarely changes between two syncs.
 */
import type { ProxyState } from '../model/tracker.ts';
import type { ServicePortInfo } from '../model/types.ts';

/** Service ports of `state` sorted by key. */
export function sortedServices(state: ProxyState): ServicePortInfo[] {
  return [...state.services.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Remembers the sorted key order of the last state it saw. */
export class ServiceOrder {
  private keys: string[] = [];
  /** Times the order had to be computed afresh (for tests). */
  sorts = 0;

  /** Service ports of `state` sorted by key; reuses the last order while the key set is the same. */
  sorted(state: ProxyState): ServicePortInfo[] {
    const m = state.services;
    if (this.keys.length === m.size) {
      // Same size and every remembered key present: the same set, so the same order.
      const out: ServicePortInfo[] = new Array(m.size);
      let i = 0;
      for (; i < this.keys.length; i++) {
        const s = m.get(this.keys[i]!);
        if (!s) break;
        out[i] = s;
      }
      if (i === this.keys.length) return out;
    }
    this.sorts++;
    const out = sortedServices(state);
    this.keys = out.map((s) => s.key);
    return out;
  }
}
