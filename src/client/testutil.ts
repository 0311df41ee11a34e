/**
 * Small helpers shared by the client's tests (not exported from index.ts).
 */
import type { KubeObject } from '../api/types.ts';

/** Polls `cond` (on macrotask turns) until true; fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Lets pending promise callbacks and I/O run. */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A minimal Pod object. */
export function makePod(ns: string, name: string, edit?: (p: KubeObject) => void): KubeObject {
  const p: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name }, spec: {} };
  edit?.(p);
  return p;
}
