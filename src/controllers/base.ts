/**
 * The shared frame of every controller: the options each one takes (API client, shared informer
 * factory, clock, log), the resources they touch, a worker loop over a WorkQueue, and an event
 * recorder. Controllers follow DESIGN.md's level-triggered pattern: informer handlers only queue
 * `namespace/name` keys; `reconcile(key)` reads the informer cache, computes the wanted state,
 * diffs and writes through the API. A restart re-lists and converges.
 */

import type { Event } from '../api/kinds/core.ts';
import { findResource, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject, OwnerReference } from '../api/types.ts';
import { type Clock, type InformerFactory, realClock, runWorkers, WorkQueue } from '../client/index.ts';
import type { ApiClient } from '../client/rest.ts';
import { type Disposable, toDisposable } from '../util/disposable.ts';

function res(group: string, plural: string): ResourceInfo {
  const r = findResource(group, 'v1', plural);
  if (!r) throw new Error(`resource ${plural}.${group} is not registered`);
  return r;
}

/** The resources the controllers and the scheduler read and write. */
export const R = {
  pods: res('', 'pods'),
  services: res('', 'services'),
  endpoints: res('', 'endpoints'),
  nodes: res('', 'nodes'),
  events: res('', 'events'),
  endpointSlices: res('discovery.k8s.io', 'endpointslices'),
  deployments: res('apps', 'deployments'),
  replicaSets: res('apps', 'replicasets'),
} as const;

/** What every controller is built with. */
export interface ControllerOptions {
  /** Writes go through this client (the API server does uid, generation, GC). */
  client: ApiClient;
  /** Shared informers; the controller adds its handlers and starts the factory. */
  informers: InformerFactory;
  /** Time source for availability, heartbeats and delays (tests may pass a FakeClock). */
  clock?: Clock;
  /** Concurrent reconciles (default 2). */
  workers?: number;
  /** Diagnostic lines (default: silent). */
  log?: (line: string) => void;
}

/** A controller: `start` registers handlers, waits for the caches, runs workers until disposed. */
export interface Controller {
  readonly name: string;
  start(): Promise<Disposable>;
}

/** The RFC 3339 timestamp (second precision, like the API) of a clock reading. */
export function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** The controller owner reference of `obj`, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** An owner reference with controller=true and blockOwnerDeletion=true pointing at `owner`. */
export function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** `namespace/name` of an object. */
export function keyOf(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name!;
}

/** Splits a key into namespace (undefined for cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * Runs `workers` reconcile loops over `queue` until disposed. Failures are logged and retried with
 * the queue's per-key backoff; disposing shuts the queue down and waits for in-flight reconciles.
 */
export function runQueue(
  name: string,
  queue: WorkQueue<string>,
  reconcile: (key: string) => Promise<void>,
  opts: { workers?: number; log?: (line: string) => void },
): Disposable {
  const log = opts.log ?? (() => {});
  const done = runWorkers(queue, opts.workers ?? 2, reconcile, {
    onError: (key, e) => log(`${name}: reconcile ${key}: ${(e as Error)?.message ?? e}`),
  });
  return toDisposable(async () => {
    queue.shutDown();
    await done;
  });
}

/** A work queue with a short retry backoff (10 ms doubling to 5 s), suited to an emulator. */
export function newQueue(name: string, clock: Clock = realClock): WorkQueue<string> {
  return new WorkQueue<string>({
    name,
    clock,
    rateLimiter: new (class {
      private n = new Map<string, number>();
      when(k: string) {
        const c = this.n.get(k) ?? 0;
        this.n.set(k, c + 1);
        return Math.min(10 * 2 ** c, 5000);
      }
      numRequeues(k: string) {
        return this.n.get(k) ?? 0;
      }
      forget(k: string) {
        this.n.delete(k);
      }
    })(),
  });
}

/** Event writes in flight at once per API client (see `recordEvent`). */
export const EVENT_WRITES_IN_FLIGHT = 4;
/** Events waiting beyond which new ones are dropped (upstream's broadcaster drops too). */
export const EVENT_QUEUE_LIMIT = 1000;

/**
 * Per-client gate for event writes. Controllers fire events without awaiting them; a burst (one
 * SuccessfulCreate per pod of a 100-replica ReplicaSet, one Scheduled per bind) used to open up
 * to 200 concurrent requests, each a new TLS connection, ahead of the pod creations, binds and
 * status writes a pod waits for. A few at a time keep events off that critical path.
 */
class EventGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  /** Runs `fn` once a slot is free; resolves false when the queue was full and `fn` never ran. */
  async run(fn: () => Promise<void>): Promise<boolean> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= EVENT_QUEUE_LIMIT) return false;
      await new Promise<void>((r) => this.waiting.push(r));
    } else this.running++;
    try {
      await fn();
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
    return true;
  }
}
const eventGates = new WeakMap<ApiClient, EventGate>();

/**
 * Writes a core/v1 Event about `obj` (what `kubectl describe` and `kubectl get events` show).
 * Failures are swallowed: an event is a courtesy, never a reason to fail a reconcile. Writes of
 * one client go out `EVENT_WRITES_IN_FLIGHT` at a time, in order; the promise resolves once this
 * one was written (or dropped).
 */
export async function recordEvent(
  client: ApiClient,
  obj: KubeObject,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
  clock: Clock = realClock,
): Promise<void> {
  const now = clock.now();
  const ts = rfc3339(now);
  const ev: Event = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${obj.metadata.name}.${(now * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`,
      namespace: obj.metadata.namespace ?? 'default',
    },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
    },
    reason,
    message,
    type,
    source: { component },
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
    reportingComponent: component,
    reportingInstance: component,
  };
  let gate = eventGates.get(client);
  if (!gate) {
    gate = new EventGate(EVENT_WRITES_IN_FLIGHT);
    eventGates.set(client, gate);
  }
  await gate.run(async () => {
    try {
      await client.create(R.events, ev);
    } catch {
      // Events are best effort.
    }
  });
}

/** Deep copy of plain JSON data (informer cache objects must not be mutated). */
export function clone<T>(v: T): T {
  return structuredClone(v);
}
