/**
 * The API server over the memory store, on 127.0.0.1 and a random port: auth, limits, discovery,
 * CRUD and the registry's strategy (uid, generation, status split, conflicts, dry run),
 * subresources, watch (incl. 410 Expired), content negotiation and cascading deletion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, openWatch, startTestServer, type TestServer } from './testing.ts';

function makePod(name: string, edit: (p: any) => void = () => {}): any {
  const p = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  };
  edit(p);
  return p;
}

function makeDeployment(name: string, edit: (d: any) => void = () => {}): any {
  const d = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
  edit(d);
  return d;
}

const PODS = '/api/v1/namespaces/default/pods';
const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer({ historyRevisions: 50, bookmarkIntervalMs: 200 });
});
afterAll(async () => {
  await ts?.dispose();
});

describe('authentication and limits', () => {
  it('answers 401 Status without a token or with a wrong one', async () => {
    for (const authorization of ['', 'Bearer nope', `Basic ${ts.token}`]) {
      const r = await ts.req('GET', '/api/v1/namespaces', { headers: { authorization } });
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    }
    expect((await ts.req('GET', '/healthz', { headers: { authorization: '' } })).status).toBe(401);
    expect((await ts.req('GET', '/healthz')).text).toBe('ok');
  });

  it('rejects bodies over 3 MiB with 413 and writes nothing', async () => {
    const big = makePod('big', (p) => {
      p.metadata.annotations = { blob: 'x'.repeat(3 * 1024 * 1024) };
    });
    const r = await ts.req('POST', PODS, { body: big });
    expect(r.status).toBe(413);
    expect(r.body.reason).toBe('RequestEntityTooLarge');
    expect((await ts.req('GET', `${PODS}/big`)).status).toBe(404);
  });

  it('answers 400 for malformed JSON, 405 for a wrong method, 404 for unknown paths', async () => {
    const bad = await ts.req('POST', PODS, {
      rawBody: '{"kind":',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.reason).toBe('BadRequest');
    expect((await ts.req('POST', `${PODS}/x`, { body: makePod('x') })).status).toBe(405);
    expect((await ts.req('GET', '/api/v1/widgets')).status).toBe(404);
    // A namespaced object needs its namespace in the path.
    expect((await ts.req('GET', '/api/v1/pods/x')).status).toBe(404);
    expect((await ts.req('GET', '/api/v1/namespaces/default/pods/x/log')).status).toBe(404);
    expect((await ts.req('GET', '/apis/nope.io/v1')).status).toBe(404);
  });
});

describe('discovery', () => {
  it('serves version, core and group discovery with subresources', async () => {
    expect((await ts.req('GET', '/version')).body.gitVersion).toMatch(/^v1\.\d+\.\d+-podnet$/);
    expect((await ts.req('GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await ts.req('GET', '/apis')).body;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: any) => g.name)).toEqual(
      expect.arrayContaining(['apps', 'networking.k8s.io', 'discovery.k8s.io']),
    );
    const core = (await ts.req('GET', '/api/v1')).body;
    const names = core.resources.map((r: any) => r.name);
    expect(names).toEqual(
      expect.arrayContaining(['pods', 'pods/status', 'pods/binding', 'services', 'namespaces']),
    );
    expect(core.resources.find((r: any) => r.name === 'pods')).toMatchObject({
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      shortNames: ['po'],
      categories: ['all'],
    });
    const apps = (await ts.req('GET', '/apis/apps/v1')).body;
    expect(apps.resources.find((r: any) => r.name === 'deployments/scale')).toMatchObject({
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
    });
  });

  it('answers aggregated-discovery requests with plain JSON so clients fall back', async () => {
    const accept =
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    const r = await ts.req('GET', '/apis', { headers: { accept } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body.kind).toBe('APIGroupList');
  });

  it('serves the OpenAPI v2 document as protobuf or JSON', async () => {
    const proto = await ts.req('GET', '/openapi/v2', {
      headers: { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' },
    });
    expect(proto.status).toBe(200);
    expect(proto.headers['content-type']).toBe('application/octet-stream');
    const json = await ts.req('GET', '/openapi/v2', { headers: { accept: 'application/json' } });
    expect(json.body.swagger).toBe('2.0');
  });

  it('creates the default namespaces', async () => {
    const r = await ts.req('GET', '/api/v1/namespaces');
    expect(r.body.items.map((n: any) => n.metadata.name)).toEqual(
      expect.arrayContaining(['default', 'kube-system', 'kube-public', 'kube-node-lease']),
    );
    const def = r.body.items.find((n: any) => n.metadata.name === 'default');
    expect(def.status.phase).toBe('Active');
    expect(def.metadata.labels['kubernetes.io/metadata.name']).toBe('default');
  });
});

describe('create, read, update', () => {
  it('creates a pod with uid, creationTimestamp, generation and phase Pending', async () => {
    const r = await ts.req('POST', PODS, { body: makePod('p1') });
    expect(r.status).toBe(201);
    const m = r.body.metadata;
    expect(m.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(m.generation).toBe(1);
    expect(m.namespace).toBe('default');
    expect(r.body.status).toEqual({ phase: 'Pending', qosClass: 'BestEffort' });
    const got = await ts.req('GET', `${PODS}/p1`);
    expect(got.body.metadata.uid).toBe(m.uid);
    const dup = await ts.req('POST', PODS, { body: makePod('p1') });
    expect(dup.status).toBe(409);
    expect(dup.body.reason).toBe('AlreadyExists');
  });

  it('generates names from generateName', async () => {
    const r = await ts.req('POST', PODS, {
      body: makePod('', (p) => {
        delete p.metadata.name;
        p.metadata.generateName = 'gen-';
      }),
    });
    expect(r.status).toBe(201);
    expect(r.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it('checks namespace, kind and apiVersion against the URL', async () => {
    const missing = await ts.req('POST', '/api/v1/namespaces/nope/pods', { body: makePod('x') });
    expect(missing.status).toBe(404);
    expect(missing.body.details.kind).toBe('namespaces');
    const wrongNs = await ts.req('POST', PODS, {
      body: makePod('x', (p) => (p.metadata.namespace = 'kube-system')),
    });
    expect(wrongNs.status).toBe(400);
    const wrongKind = await ts.req('POST', PODS, { body: makePod('x', (p) => (p.kind = 'Service')) });
    expect(wrongKind.status).toBe(400);
    const wrongVersion = await ts.req('POST', PODS, {
      body: makePod('x', (p) => (p.apiVersion = 'apps/v1')),
    });
    expect(wrongVersion.status).toBe(400);
    expect((await ts.req('GET', `${PODS}/x`)).status).toBe(404);
  });

  it('answers 422 with causes naming the field, and writes nothing', async () => {
    const r = await ts.req('POST', PODS, { body: makePod('', (p) => delete p.metadata.name) });
    expect(r.status).toBe(422);
    expect(r.body.reason).toBe('Invalid');
    expect(r.body.details.causes.map((c: any) => c.field)).toContain('metadata.name');
  });

  it('names every invalid field of a Service, and refuses changes to immutable fields', async () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'Bad_Name' },
      spec: { selector: { app: 'web' }, ports: [{ port: 70000, targetPort: 80 }] },
    };
    const r = await ts.req('POST', '/api/v1/namespaces/default/services', { body: svc });
    expect(r.status).toBe(422);
    const fields = r.body.details.causes.map((c: any) => c.field);
    expect(fields).toEqual(expect.arrayContaining(['metadata.name', 'spec.ports[0].port']));
    expect((await ts.req('GET', '/api/v1/namespaces/default/services/Bad_Name')).status).toBe(404);
    const d = (await ts.req('POST', DEPLOYS, { body: makeDeployment('immut') })).body;
    d.spec.selector = { matchLabels: { app: 'other' } };
    d.spec.template.metadata.labels = { app: 'other' };
    const upd = await ts.req('PUT', `${DEPLOYS}/immut`, { body: d });
    expect(upd.status).toBe(422);
    expect(upd.body.details.causes.map((c: any) => c.field)).toContain('spec.selector');
  });

  it('folds Secret stringData into data, and keeps a Service clusterIP a PUT leaves out', async () => {
    const sec = await ts.req('POST', '/api/v1/namespaces/default/secrets', {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, stringData: { user: 'admin' } },
    });
    expect(sec.status).toBe(201);
    expect(sec.body.data).toEqual({ user: Buffer.from('admin').toString('base64') });
    expect(sec.body.stringData).toBeUndefined();
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'keepip' },
      spec: { clusterIP: '10.96.0.50', selector: { app: 'web' }, ports: [{ port: 80 }] },
    };
    expect((await ts.req('POST', '/api/v1/namespaces/default/services', { body: svc })).status).toBe(201);
    const replaced = structuredClone(svc) as any;
    delete replaced.spec.clusterIP;
    replaced.spec.ports[0].port = 81;
    const r = await ts.req('PUT', '/api/v1/namespaces/default/services/keepip', { body: replaced });
    expect(r.status).toBe(200);
    expect(r.body.spec.clusterIP).toBe('10.96.0.50');
    expect(r.body.spec.ports[0].port).toBe(81);
  });

  it('dryRun=All validates and returns the object without writing it', async () => {
    const r = await ts.req('POST', `${PODS}?dryRun=All`, { body: makePod('dry') });
    expect(r.status).toBe(201);
    expect(r.body.metadata.name).toBe('dry');
    expect((await ts.req('GET', `${PODS}/dry`)).status).toBe(404);
    expect((await ts.req('POST', `${PODS}?dryRun=Some`, { body: makePod('dry') })).status).toBe(400);
  });

  it('rejects a stale resourceVersion with 409 Conflict', async () => {
    const created = (await ts.req('POST', DEPLOYS, { body: makeDeployment('stale') })).body;
    const first = structuredClone(created);
    first.spec.replicas = 3;
    const ok = await ts.req('PUT', `${DEPLOYS}/stale`, { body: first });
    expect(ok.status).toBe(200);
    const second = structuredClone(created);
    second.spec.replicas = 4;
    const conflict = await ts.req('PUT', `${DEPLOYS}/stale`, { body: second });
    expect(conflict.status).toBe(409);
    expect(conflict.body.reason).toBe('Conflict');
    expect((await ts.req('GET', `${DEPLOYS}/stale`)).body.spec.replicas).toBe(3);
  });

  it('keeps status on main-resource updates, spec on status updates, and bumps generation on spec change', async () => {
    const d = (await ts.req('POST', DEPLOYS, { body: makeDeployment('split') })).body;
    expect(d.metadata.generation).toBe(1);
    const st = structuredClone(d);
    st.status = { replicas: 7, observedGeneration: 1 };
    st.spec.replicas = 9;
    const afterStatus = (await ts.req('PUT', `${DEPLOYS}/split/status`, { body: st })).body;
    expect(afterStatus.status.replicas).toBe(7);
    expect(afterStatus.spec.replicas).toBe(2);
    expect(afterStatus.metadata.generation).toBe(1);
    const main = structuredClone(afterStatus);
    main.status = { replicas: 0 };
    main.spec.replicas = 5;
    main.metadata.uid = afterStatus.metadata.uid;
    main.metadata.creationTimestamp = '2000-01-01T00:00:00Z';
    const afterMain = (await ts.req('PUT', `${DEPLOYS}/split`, { body: main })).body;
    expect(afterMain.status.replicas).toBe(7);
    expect(afterMain.spec.replicas).toBe(5);
    expect(afterMain.metadata.generation).toBe(2);
    expect(afterMain.metadata.creationTimestamp).toBe(d.metadata.creationTimestamp);
    // A label-only change is not a spec change.
    const labelled = (
      await ts.req('PATCH', `${DEPLOYS}/split`, {
        rawBody: JSON.stringify({ metadata: { labels: { tier: 'x' } } }),
        headers: { 'content-type': 'application/merge-patch+json' },
      })
    ).body;
    expect(labelled.metadata.labels.tier).toBe('x');
    expect(labelled.metadata.generation).toBe(2);
  });
});

describe('patch', () => {
  const patch = (path: string, type: string, body: unknown) =>
    ts.req('PATCH', path, { rawBody: JSON.stringify(body), headers: { 'content-type': type } });

  it('applies merge, strategic-merge and JSON patches', async () => {
    await ts.req('POST', PODS, { body: makePod('patched') });
    const merge = await patch(`${PODS}/patched`, 'application/merge-patch+json', {
      metadata: { labels: { a: '1', app: null } },
    });
    expect(merge.status).toBe(200);
    expect(merge.body.metadata.labels).toEqual({ a: '1' });
    const smp = await patch(`${PODS}/patched`, 'application/strategic-merge-patch+json', {
      metadata: { annotations: { note: 'hi' } },
    });
    expect(smp.body.metadata.annotations.note).toBe('hi');
    expect(smp.body.metadata.labels).toEqual({ a: '1' });
    const jp = await patch(`${PODS}/patched`, 'application/json-patch+json', [
      { op: 'add', path: '/metadata/labels/b', value: '2' },
    ]);
    expect(jp.status).toBe(200);
    expect(jp.body.metadata.labels).toEqual({ a: '1', b: '2' });
  });

  it('dryRun=All on PATCH returns the result without storing it', async () => {
    const r = await patch(`${PODS}/patched?dryRun=All`, 'application/merge-patch+json', {
      metadata: { labels: { dry: 'y' } },
    });
    expect(r.status).toBe(200);
    expect(r.body.metadata.labels.dry).toBe('y');
    expect((await ts.req('GET', `${PODS}/patched`)).body.metadata.labels.dry).toBeUndefined();
  });

  it('creates Endpoints on PUT (create-on-update) but not Pods', async () => {
    const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'put-ep' }, subsets: [] };
    const r = await ts.req('PUT', '/api/v1/namespaces/default/endpoints/put-ep', { body: ep });
    expect(r.status).toBe(201);
    expect(r.body.metadata.uid).toBeTruthy();
    expect((await ts.req('PUT', `${PODS}/put-pod`, { body: makePod('put-pod') })).status).toBe(404);
  });

  it('answers 415 for server-side apply and unknown patch types', async () => {
    const ssa = await ts.req('PATCH', `${PODS}/patched`, {
      rawBody: 'metadata: {}',
      headers: { 'content-type': 'application/apply-patch+yaml' },
    });
    expect(ssa.status).toBe(415);
    expect(ssa.body.message).toMatch(/server-side apply/);
    expect((await patch(`${PODS}/patched`, 'text/plain', {})).status).toBe(415);
  });

  it('answers 404 when patching a missing object', async () => {
    expect((await patch(`${PODS}/ghost`, 'application/merge-patch+json', { metadata: {} })).status).toBe(404);
  });
});

describe('subresources', () => {
  it('scale: reads and writes an autoscaling/v1 Scale', async () => {
    await ts.req('POST', DEPLOYS, { body: makeDeployment('sc') });
    const s = (await ts.req('GET', `${DEPLOYS}/sc/scale`)).body;
    expect(s).toMatchObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', spec: { replicas: 2 } });
    expect(s.status.selector).toBe('app=sc');
    const patched = await ts.req('PATCH', `${DEPLOYS}/sc/scale`, {
      rawBody: JSON.stringify({ spec: { replicas: 4 } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.spec.replicas).toBe(4);
    const d = (await ts.req('GET', `${DEPLOYS}/sc`)).body;
    expect(d.spec.replicas).toBe(4);
    expect(d.metadata.generation).toBe(2);
    const put = await ts.req('PUT', `${DEPLOYS}/sc/scale`, {
      body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'sc' }, spec: { replicas: -1 } },
    });
    expect(put.status).toBe(422);
    expect(put.body.details.causes[0].field).toBe('spec.replicas');
  });

  it('binding: assigns a pod to a node once', async () => {
    await ts.req('POST', PODS, { body: makePod('tobind') });
    const binding = {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'tobind' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'node-1' },
    };
    const r = await ts.req('POST', `${PODS}/tobind/binding`, { body: binding });
    expect(r.status).toBe(201);
    expect((await ts.req('GET', `${PODS}/tobind`)).body.spec.nodeName).toBe('node-1');
    const again = await ts.req('POST', `${PODS}/tobind/binding`, {
      body: { ...binding, target: { kind: 'Node', name: 'node-2' } },
    });
    expect(again.status).toBe(409);
    expect((await ts.req('GET', `${PODS}/tobind`)).body.spec.nodeName).toBe('node-1');
  });

  it('status subresource is not served for kinds without it', async () => {
    await ts.req('POST', '/api/v1/namespaces/default/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: 'b' } },
    });
    expect((await ts.req('GET', '/api/v1/namespaces/default/configmaps/cm/status')).status).toBe(404);
  });
});

describe('list and watch', () => {
  it('filters lists by label and field selectors and pages with limit/continue', async () => {
    for (const n of ['l1', 'l2', 'l3']) {
      await ts.req('POST', '/api/v1/namespaces/kube-public/pods', {
        body: makePod(n, (p) => (p.metadata.labels = { tier: n === 'l3' ? 'db' : 'web' })),
      });
    }
    const sel = await ts.req('GET', '/api/v1/namespaces/kube-public/pods?labelSelector=tier%3Dweb');
    expect(sel.body.items.map((p: any) => p.metadata.name).sort()).toEqual(['l1', 'l2']);
    expect(sel.body.kind).toBe('PodList');
    const field = await ts.req('GET', '/api/v1/pods?fieldSelector=metadata.name%3Dl3');
    expect(field.body.items.map((p: any) => p.metadata.namespace)).toEqual(['kube-public']);
    const page1 = await ts.req('GET', '/api/v1/namespaces/kube-public/pods?limit=2');
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.metadata.continue).toBeTruthy();
    const page2 = await ts.req(
      'GET',
      `/api/v1/namespaces/kube-public/pods?limit=2&continue=${encodeURIComponent(page1.body.metadata.continue)}`,
    );
    expect(page2.body.items).toHaveLength(1);
    expect((await ts.req('GET', '/api/v1/pods?labelSelector=%3D%3D')).status).toBe(400);
    expect((await ts.req('GET', '/api/v1/pods?fieldSelector=spec.color%3Dred')).status).toBe(400);
    expect((await ts.req('GET', '/api/v1/pods?limit=-1')).status).toBe(400);
    expect((await ts.req('GET', '/api/v1/pods?resourceVersionMatch=Exact')).status).toBe(400);
    expect((await ts.req('GET', '/api/v1/pods?resourceVersion=abc')).status).toBe(400);
  });

  it('streams ADDED, MODIFIED, DELETED in order, filtered by selectors', async () => {
    const list = await ts.req('GET', '/api/v1/namespaces/kube-system/pods');
    const rv = list.body.metadata.resourceVersion;
    const w = await openWatch(
      ts,
      `/api/v1/namespaces/kube-system/pods?watch=1&resourceVersion=${rv}&labelSelector=app%3Dweb`,
    );
    try {
      expect(w.status).toBe(200);
      await ts.req('POST', '/api/v1/namespaces/kube-system/pods', { body: makePod('w1') });
      await ts.req('POST', '/api/v1/namespaces/kube-system/pods', {
        body: makePod('other', (p) => (p.metadata.labels = { app: 'db' })),
      });
      await ts.req('PATCH', '/api/v1/namespaces/kube-system/pods/w1', {
        rawBody: JSON.stringify({ metadata: { annotations: { x: 'y' } } }),
        headers: { 'content-type': 'application/merge-patch+json' },
      });
      await ts.req('DELETE', '/api/v1/namespaces/kube-system/pods/w1');
      const evs = await w.waitFor(3);
      expect(evs.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual([
        'ADDED w1',
        'MODIFIED w1',
        'DELETED w1',
      ]);
    } finally {
      w.close();
    }
  });

  it('ends the stream after timeoutSeconds and serves the legacy /watch path', async () => {
    const w = await openWatch(ts, '/api/v1/watch/namespaces/default/pods/p1?timeoutSeconds=1');
    const first = await w.waitFor(1);
    expect(first[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'p1' } } });
    await w.ended;
    expect(w.events).toHaveLength(1);
  });

  it('answers a compacted resourceVersion with 200 and one ERROR event (410 Expired)', async () => {
    // More writes than the store keeps history for (50).
    for (let i = 0; i < 60; i++) {
      await ts.req('PATCH', `${PODS}/p1`, {
        rawBody: JSON.stringify({ metadata: { annotations: { i: String(i) } } }),
        headers: { 'content-type': 'application/merge-patch+json' },
      });
    }
    const w = await openWatch(ts, `${PODS}?watch=true&resourceVersion=2`);
    expect(w.status).toBe(200);
    const [ev] = await w.waitFor(1);
    expect(ev!.type).toBe('ERROR');
    expect(ev!.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    await w.ended;
  });

  it('streams the initial state then an initial-events-end bookmark for sendInitialEvents=true', async () => {
    const w = await openWatch(
      ts,
      '/api/v1/namespaces/kube-public/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0&allowWatchBookmarks=true',
    );
    try {
      const evs = await w.waitFor(4);
      expect(
        evs
          .slice(0, 3)
          .map((e) => `${e.type} ${e.object.metadata.name}`)
          .sort(),
      ).toEqual(['ADDED l1', 'ADDED l2', 'ADDED l3']);
      expect(evs[3]!.type).toBe('BOOKMARK');
      expect(evs[3]!.object.metadata.annotations['k8s.io/initial-events-end']).toBe('true');
      await ts.req('DELETE', '/api/v1/namespaces/kube-public/pods/l3');
      // Periodic bookmarks (every 200 ms here) may come in between.
      const del = await eventually(() => w.events.find((e) => e.type === 'DELETED'));
      expect(del!.object.metadata.name).toBe('l3');
      expect(w.events.slice(4).every((e) => e.type === 'BOOKMARK' || e === del)).toBe(true);
    } finally {
      w.close();
    }
  });

  it('sends BOOKMARK events only to watches that allow them', async () => {
    const rv = (await ts.req('GET', PODS)).body.metadata.resourceVersion;
    const w = await openWatch(ts, `${PODS}?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const plain = await openWatch(ts, `${PODS}?watch=1&resourceVersion=${rv}`);
    try {
      const [ev] = await w.waitFor(1, 3000);
      expect(ev!.type).toBe('BOOKMARK');
      expect(ev!.object.kind).toBe('Pod');
      expect(Number(ev!.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
      expect(plain.events).toHaveLength(0);
    } finally {
      w.close();
      plain.close();
    }
  });
});

describe('content negotiation', () => {
  it('serves meta.k8s.io Tables (v1 and v1beta1) and PartialObjectMetadataList', async () => {
    for (const v of ['v1', 'v1beta1']) {
      const r = await ts.req('GET', PODS, {
        headers: { accept: `application/json;as=Table;v=${v};g=meta.k8s.io,application/json` },
      });
      expect(r.status).toBe(200);
      expect(r.body.kind).toBe('Table');
      expect(r.body.columnDefinitions[0].name).toBe('Name');
      expect(r.body.rows.map((row: any) => row.cells[0])).toContain('p1');
    }
    const w = await openWatch(ts, `${PODS}?watch=1&fieldSelector=metadata.name%3Dp1`, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    try {
      const [ev] = await w.waitFor(1);
      expect(ev!.type).toBe('ADDED');
      expect(ev!.object.kind).toBe('Table');
      expect(ev!.object.rows[0].cells[0]).toBe('p1');
    } finally {
      w.close();
    }
    const one = await ts.req('GET', `${PODS}/p1`, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    expect(one.body.rows).toHaveLength(1);
    const meta = await ts.req('GET', PODS, {
      headers: {
        accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json',
      },
    });
    expect(meta.body.kind).toBe('PartialObjectMetadataList');
    expect(meta.body.items[0].kind).toBe('PartialObjectMetadata');
    expect(meta.body.items[0].spec).toBeUndefined();
    expect(
      (await ts.req('GET', PODS, { headers: { accept: 'application/vnd.kubernetes.protobuf' } })).status,
    ).toBe(406);
  });
});

describe('deletion', () => {
  async function ownedChain(prefix: string) {
    const d = (await ts.req('POST', DEPLOYS, { body: makeDeployment(prefix) })).body;
    const ref = (o: any, kind: string, apiVersion: string) => [
      {
        apiVersion,
        kind,
        name: o.metadata.name,
        uid: o.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
    const rs = (
      await ts.req('POST', '/apis/apps/v1/namespaces/default/replicasets', {
        body: {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: { name: `${prefix}-rs`, ownerReferences: ref(d, 'Deployment', 'apps/v1') },
          spec: makeDeployment(prefix).spec,
        },
      })
    ).body;
    const pod = (
      await ts.req('POST', PODS, {
        body: makePod(
          `${prefix}-pod`,
          (p) => (p.metadata.ownerReferences = ref(rs, 'ReplicaSet', 'apps/v1')),
        ),
      })
    ).body;
    return { d, rs, pod };
  }
  const exists = async (path: string) => (await ts.req('GET', path)).status === 200;

  it('Background: deleting a Deployment removes its ReplicaSets and Pods', async () => {
    await ownedChain('bg');
    const r = await ts.req('DELETE', `${DEPLOYS}/bg`, { body: { propagationPolicy: 'Background' } });
    expect(r.status).toBe(200);
    expect(await exists(`${DEPLOYS}/bg`)).toBe(false);
    await eventually(
      async () => !(await exists('/apis/apps/v1/namespaces/default/replicasets/bg-rs')),
      5000,
      'rs gone',
    );
    await eventually(async () => !(await exists(`${PODS}/bg-pod`)), 5000, 'pod gone');
  });

  it('Foreground: the owner waits with foregroundDeletion until its dependents are gone', async () => {
    await ownedChain('fg');
    const r = await ts.req('DELETE', `${DEPLOYS}/fg?propagationPolicy=Foreground`);
    expect(r.status).toBe(200);
    expect(r.body.metadata.finalizers).toContain('foregroundDeletion');
    expect(r.body.metadata.deletionTimestamp).toBeTruthy();
    await eventually(async () => !(await exists(`${DEPLOYS}/fg`)), 5000, 'deployment gone');
    expect(await exists('/apis/apps/v1/namespaces/default/replicasets/fg-rs')).toBe(false);
    expect(await exists(`${PODS}/fg-pod`)).toBe(false);
  });

  it('Orphan: dependents stay and lose their ownerReference', async () => {
    await ownedChain('or');
    const r = await ts.req('DELETE', `${DEPLOYS}/or`, {
      body: { kind: 'DeleteOptions', propagationPolicy: 'Orphan' },
    });
    expect(r.status).toBe(200);
    await eventually(async () => !(await exists(`${DEPLOYS}/or`)), 5000, 'deployment gone');
    const rs = (await ts.req('GET', '/apis/apps/v1/namespaces/default/replicasets/or-rs')).body;
    expect(rs.metadata.ownerReferences).toBeUndefined();
    // The pod still belongs to the surviving ReplicaSet.
    expect((await ts.req('GET', `${PODS}/or-pod`)).body.metadata.ownerReferences[0].name).toBe('or-rs');
  });

  it('deletes an object whose owner never existed', async () => {
    const r = await ts.req('POST', PODS, {
      body: makePod('dangling', (p) => {
        p.metadata.ownerReferences = [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'ghost',
            uid: '00000000-0000-0000-0000-000000000000',
          },
        ];
      }),
    });
    expect(r.status).toBe(201);
    await eventually(async () => !(await exists(`${PODS}/dangling`)), 5000, 'dangling pod gone');
  });

  it('with two owners, losing one only drops that ownerReference', async () => {
    const mk = async (name: string) =>
      (
        await ts.req('POST', '/api/v1/namespaces/default/configmaps', {
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } },
        })
      ).body;
    const a = await mk('owner-a');
    const b = await mk('owner-b');
    const ref = (o: any) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: o.metadata.name,
      uid: o.metadata.uid,
    });
    await ts.req('POST', PODS, {
      body: makePod('two-owners', (p) => (p.metadata.ownerReferences = [ref(a), ref(b)])),
    });
    await ts.req('DELETE', '/api/v1/namespaces/default/configmaps/owner-a');
    const refs = await eventually(async () => {
      const p = (await ts.req('GET', `${PODS}/two-owners`)).body;
      return p.metadata.ownerReferences?.length === 1 ? p.metadata.ownerReferences : undefined;
    });
    expect(refs[0].name).toBe('owner-b');
    await ts.req('DELETE', '/api/v1/namespaces/default/configmaps/owner-b');
    await eventually(async () => !(await exists(`${PODS}/two-owners`)), 5000, 'pod gone with its last owner');
  });

  it('honours preconditions and deletes collections by selector', async () => {
    await ts.req('POST', PODS, { body: makePod('pre') });
    const wrong = await ts.req('DELETE', `${PODS}/pre`, { body: { preconditions: { uid: 'nope' } } });
    expect(wrong.status).toBe(409);
    for (const n of ['dc1', 'dc2']) {
      await ts.req('POST', PODS, { body: makePod(n, (p) => (p.metadata.labels = { batch: 'dc' })) });
    }
    const r = await ts.req('DELETE', `${PODS}?labelSelector=batch%3Ddc`);
    expect(r.status).toBe(200);
    expect(r.body.items).toHaveLength(2);
    expect(await exists(`${PODS}/dc1`)).toBe(false);
    expect(await exists(`${PODS}/pre`)).toBe(true);
    const dry = await ts.req('DELETE', `${PODS}/pre?dryRun=All`);
    expect(dry.status).toBe(200);
    expect(await exists(`${PODS}/pre`)).toBe(true);
  });

  it('a deleted namespace turns Terminating, refuses new content, is emptied, then removed', async () => {
    await ts.req('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gone' } },
    });
    for (const n of ['a', 'b']) await ts.req('POST', '/api/v1/namespaces/gone/pods', { body: makePod(n) });
    // A finalizer of someone else's keeps one pod (and so the namespace) around until removed.
    await ts.req('POST', '/api/v1/namespaces/gone/configmaps', {
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'held', finalizers: ['example.com/hold'] },
      },
    });
    expect((await ts.req('DELETE', '/api/v1/namespaces/default')).status).toBe(403);
    const r = await ts.req('DELETE', '/api/v1/namespaces/gone');
    expect(r.status).toBe(200);
    expect(r.body.status.phase).toBe('Terminating');
    const refused = await ts.req('POST', '/api/v1/namespaces/gone/pods', { body: makePod('c') });
    expect(refused.status).toBe(403);
    await eventually(
      async () => (await ts.req('GET', '/api/v1/namespaces/gone/pods')).body.items.length === 0,
    );
    expect(await exists('/api/v1/namespaces/gone')).toBe(true);
    await ts.req('PATCH', '/api/v1/namespaces/gone/configmaps/held', {
      rawBody: JSON.stringify({ metadata: { finalizers: null } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    await eventually(async () => !(await exists('/api/v1/namespaces/gone')), 5000, 'namespace gone');
  });
});
