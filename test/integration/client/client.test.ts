// The client against the real API server: HTTPS on 127.0.0.1:<random port> with a generated CA and
// bearer token, memory store keeping 5 revisions (+ the store's compaction slack of 16). No root.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isApiError } from '../../../src/api/errors.ts';
import { findResource } from '../../../src/api/resources.ts';
import type { KubeObject } from '../../../src/api/types.ts';
import { type RunningApiServer, runApiServer } from '../../../src/apiserver/index.ts';
import {
  ApiClient,
  DeletedFinalStateUnknown,
  isExpired,
  type ListerWatcher,
  SharedInformer,
  type WatchStream,
} from '../../../src/client/index.ts';

const configmaps = findResource('', 'v1', 'configmaps')!;
const pods = findResource('', 'v1', 'pods')!;
const deployments = findResource('apps', 'v1', 'deployments')!;

let dir: string;
let api: RunningApiServer;
let client: ApiClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pn-client-it-'));
  api = await runApiServer({ stateDir: dir, store: { backend: 'memory', historyRevisions: 5 }, port: 0 });
  client = new ApiClient(api.kubeconfigPath);
});
afterAll(async () => {
  await client?.dispose();
  await api?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const cm = (
  name: string,
  data: Record<string, string> = {},
  labels?: Record<string, string>,
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) },
  data,
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ApiClient over HTTPS', () => {
  it('connects with the kubeconfig CA and token; a wrong token is Unauthorized', async () => {
    const ns = await client.get(findResource('', 'v1', 'namespaces')!, undefined, 'default');
    expect(ns.metadata.name).toBe('default');
    const bad = new ApiClient({ ...client.config, token: 'wrong' });
    try {
      const e = await bad.get(configmaps, 'default', 'x').catch((x) => x);
      expect(isApiError(e, 'Unauthorized')).toBe(true);
      expect(e.code).toBe(401);
    } finally {
      await bad.dispose();
    }
    // The server certificate is checked against the kubeconfig's CA, not the system roots.
    const noCa = new ApiClient({ ...client.config, caPem: undefined });
    try {
      const e = await noCa.get(configmaps, 'default', 'x').catch((x) => x);
      expect(String(e?.message ?? e)).toMatch(/certificate|self[- ]signed|verify/i);
    } finally {
      await noCa.dispose();
    }
  });

  it('create, get, list with selector and paging, update (with conflict), patch three ways, delete', async () => {
    const created = await client.create(configmaps, cm('crud', { a: '1' }, { app: 'crud' }));
    expect(created.metadata.uid).toBeTruthy();
    expect((await client.get(configmaps, 'default', 'crud')).data).toEqual({ a: '1' });
    const dup = await client.create(configmaps, cm('crud')).catch((e) => e);
    expect(isApiError(dup, 'AlreadyExists')).toBe(true);

    for (let i = 0; i < 3; i++) await client.create(configmaps, cm(`page-${i}`, {}, { app: 'paged' }));
    const sel = await client.list(configmaps, 'default', { labelSelector: 'app=crud' });
    expect(sel.items.map((x) => x.metadata.name)).toEqual(['crud']);
    const p1 = await client.list(configmaps, 'default', { labelSelector: 'app=paged', limit: 2 });
    expect(p1.items).toHaveLength(2);
    expect(p1.metadata.continue).toBeTruthy();
    const all = await client.listAll(configmaps, 'default', { labelSelector: 'app=paged', limit: 2 });
    expect(all.items.map((x) => x.metadata.name).sort()).toEqual(['page-0', 'page-1', 'page-2']);

    const upd = await client.update(configmaps, { ...created, data: { a: '2' } });
    expect(upd.data).toEqual({ a: '2' });
    const stale = await client.update(configmaps, { ...created, data: { a: '3' } }).catch((e) => e);
    expect(isApiError(stale, 'Conflict')).toBe(true);

    const m = await client.patch(configmaps, 'default', 'crud', { data: { b: 'x' } }, 'merge');
    expect(m.data).toEqual({ a: '2', b: 'x' });
    const s = await client.patch(
      configmaps,
      'default',
      'crud',
      { metadata: { labels: { tier: 't' } } },
      'strategic',
    );
    expect(s.metadata.labels).toEqual({ app: 'crud', tier: 't' });
    await client.delete(configmaps, 'default', 'crud', { propagationPolicy: 'Background' });
    const gone = await client.get(configmaps, 'default', 'crud').catch((e) => e);
    expect(isApiError(gone, 'NotFound')).toBe(true);
  });

  it('binds a pod, writes its status, and scales a deployment through the subresources', async () => {
    await client.create(pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bindme', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    await client.bind(pods, 'default', 'bindme', 'node-1');
    const bound = await client.get(pods, 'default', 'bindme');
    expect(bound.spec.nodeName).toBe('node-1');
    const st = await client.updateStatus(pods, {
      ...bound,
      status: { phase: 'Running', podIP: '10.244.1.5' },
    });
    expect(st.status.podIP).toBe('10.244.1.5');

    await client.create(deployments, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    });
    expect((await client.getScale(deployments, 'default', 'web')).spec.replicas).toBe(1);
    await client.setScale(deployments, 'default', 'web', 3);
    expect((await client.get(deployments, 'default', 'web')).spec.replicas).toBe(3);
  });

  it('sends JSON patches', async () => {
    await client.create(configmaps, cm('jp', { a: '1', b: '2' }));
    const j = await client.patch(configmaps, 'default', 'jp', [{ op: 'remove', path: '/data/a' }], 'json');
    expect(j.data).toEqual({ b: '2' });
  });

  it('watches changes in order from a resourceVersion, and a compacted one surfaces as Expired', async () => {
    const start = await client.list(configmaps, 'default');
    const w = await client.watch(configmaps, 'default', { resourceVersion: start.metadata.resourceVersion });
    const got: string[] = [];
    const loop = (async () => {
      for await (const ev of w) {
        got.push(`${ev.type} ${ev.object.metadata.name}`);
        if (got.length === 3) break;
      }
    })();
    const x = await client.create(configmaps, cm('w1'));
    await client.update(configmaps, { ...x, data: { k: 'v' } });
    await client.delete(configmaps, 'default', 'w1');
    await loop;
    expect(got).toEqual(['ADDED w1', 'MODIFIED w1', 'DELETED w1']);

    for (let i = 0; i < 30; i++) await client.create(configmaps, cm(`filler-${i}`));
    let err: unknown;
    try {
      const old = await client.watch(configmaps, 'default', {
        resourceVersion: start.metadata.resourceVersion,
      });
      for await (const _ of old) {
        // A compacted resourceVersion yields no events, only the ERROR.
      }
    } catch (e) {
      err = e;
    }
    expect(isExpired(err)).toBe(true);
  });

  it('an informer over HTTP sees add/update/delete in order and recovers after compaction (410)', async () => {
    // A wrapper that lets the test cut the watch and hold the re-watch while history is compacted.
    const lw = client.listerWatcher(configmaps, { namespace: 'default', labelSelector: 'inf=yes' });
    let open: WatchStream[] = [];
    let gate: Promise<void> | undefined;
    let release = () => {};
    const gated: ListerWatcher = {
      list: (o) => lw.list(o),
      async watch(o) {
        if (gate) await gate;
        const w = await lw.watch(o);
        open.push(w);
        return w;
      },
    };
    const expiredSeen: unknown[] = [];
    const inf = new SharedInformer(gated, {
      reflector: { name: 'configmaps', initialBackoffMs: 10, onError: (e) => expiredSeen.push(e) },
    });
    const events: string[] = [];
    inf.addEventHandler({
      onAdd: (o, init) => events.push(`add ${o.metadata.name}${init ? ' init' : ''}`),
      onUpdate: (a, b) =>
        events.push(
          `update ${b.metadata.name} ${JSON.stringify(a.data ?? {})}->${JSON.stringify(b.data ?? {})}`,
        ),
      onDelete: (o) =>
        events.push(
          o instanceof DeletedFinalStateUnknown
            ? `delete? ${o.obj.metadata.name}`
            : `delete ${o.metadata.name}`,
        ),
    });
    try {
      await client.create(configmaps, cm('pre', {}, { inf: 'yes' }));
      inf.run();
      await inf.waitForSync({ timeoutMs: 5000 });
      await until(() => open.length === 1, 'watch open');
      const a = await client.create(configmaps, cm('i1', {}, { inf: 'yes' }));
      await client.update(configmaps, { ...a, data: { v: '1' } });
      await client.delete(configmaps, 'default', 'i1');
      await until(() => events.length === 4, 'informer events');
      expect(events).toEqual(['add pre init', 'add i1', 'update i1 {}->{"v":"1"}', 'delete i1']);

      gate = new Promise((r) => (release = r));
      for (const w of open) w.dispose();
      open = [];
      await client.delete(configmaps, 'default', 'pre');
      await client.create(configmaps, cm('during', {}, { inf: 'yes' }));
      for (let i = 0; i < 30; i++) await client.create(configmaps, cm(`pad-${i}`));
      const lists = inf.listCount;
      release();
      gate = undefined;
      await until(() => inf.listCount === lists + 1, 'relist after 410');
      expect(events.slice(4).sort()).toEqual(['add during', 'delete? pre']);
      expect(inf.list().map((o) => o.metadata.name)).toEqual(['during']);
      // Whether or not the new watch is open yet, it starts at the relist's version: nothing is missed.
      await client.patch(configmaps, 'default', 'during', { data: { after: 'yes' } });
      await until(() => events.length === 7, 'event after recovery');
      expect(events[6]).toBe('update during {}->{"after":"yes"}');
      expect(expiredSeen).toEqual([]); // 410 is handled by relisting, not reported as a failure
    } finally {
      await inf.dispose();
    }
  });
});
