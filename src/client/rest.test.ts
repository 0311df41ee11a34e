// REST client against a scripted local HTTP server on 127.0.0.1:<random port> (no TLS here; the
// HTTPS path is covered by test/integration/client against the real API server).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, isApiError } from '../api/errors.ts';
import { findResource } from '../api/resources.ts';
import { loadKubeconfig } from './kubeconfig.ts';
import { ApiClient, isExpired, resourcePath } from './rest.ts';
import { makePod } from './testutil.ts';

const pods = findResource('', 'v1', 'pods')!;
const deployments = findResource('apps', 'v1', 'deployments')!;
const nodes = findResource('', 'v1', 'nodes')!;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler;
const seen: Seen[] = [];
const openResponses = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      openResponses.add(res);
      res.on('close', () => openResponses.delete(res));
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

let client: ApiClient;
afterEach(async () => {
  seen.length = 0;
  await client?.dispose();
});
function newClient() {
  client = new ApiClient({ server: base, token: 'sekret', userAgent: 'test-agent' });
  return client;
}
function json(res: ServerResponse, code: number, body: unknown) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('resourcePath', () => {
  it('builds core, group, namespaced, cluster-scoped and subresource paths', () => {
    expect(resourcePath(pods, 'a')).toBe('/api/v1/namespaces/a/pods');
    expect(resourcePath(pods)).toBe('/api/v1/pods');
    expect(resourcePath(pods, 'a', 'p', 'binding')).toBe('/api/v1/namespaces/a/pods/p/binding');
    expect(resourcePath(deployments, 'a', 'd', 'scale')).toBe(
      '/apis/apps/v1/namespaces/a/deployments/d/scale',
    );
    expect(resourcePath(nodes, 'ignored', 'n1')).toBe('/api/v1/nodes/n1');
  });
});

describe('ApiClient', () => {
  it('sends the bearer token and decodes objects; lists with selectors and paging', async () => {
    handler = (req, res) => {
      const u = new URL(req.url, base);
      if (u.pathname === '/api/v1/namespaces/a/pods/p1') return json(res, 200, makePod('a', 'p1'));
      const cont = u.searchParams.get('continue');
      json(res, 200, {
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: '7', ...(cont ? {} : { continue: 'tok' }) },
        items: [makePod('a', cont ? 'p2' : 'p1')],
      });
    };
    const c = newClient();
    const p = await c.get(pods, 'a', 'p1');
    expect(p.metadata.name).toBe('p1');
    expect(seen[0]!.headers.authorization).toBe('Bearer sekret');
    expect(seen[0]!.headers['user-agent']).toBe('test-agent');

    const all = await c.listAll(pods, 'a', {
      labelSelector: 'app=web',
      fieldSelector: 'spec.nodeName=n1',
      limit: 1,
    });
    expect(all.items.map((x) => x.metadata.name)).toEqual(['p1', 'p2']);
    expect(all.metadata.resourceVersion).toBe('7');
    const q1 = new URL(seen[1]!.url, base).searchParams;
    expect(q1.get('labelSelector')).toBe('app=web');
    expect(q1.get('fieldSelector')).toBe('spec.nodeName=n1');
    expect(q1.get('limit')).toBe('1');
    expect(new URL(seen[2]!.url, base).searchParams.get('continue')).toBe('tok');
  });

  it('creates into the object namespace, updates, updates status, and fills apiVersion/kind', async () => {
    handler = (req, res) => json(res, req.method === 'POST' ? 201 : 200, JSON.parse(req.body));
    const c = newClient();
    await c.create(pods, { metadata: { name: 'p', namespace: 'b' } } as any, {
      dryRun: true,
      fieldManager: 'me',
    });
    await c.update(pods, makePod('b', 'p'));
    await c.updateStatus(
      pods,
      makePod('b', 'p', (x) => (x.status = { phase: 'Running' })),
    );
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /api/v1/namespaces/b/pods?dryRun=All&fieldManager=me',
      'PUT /api/v1/namespaces/b/pods/p',
      'PUT /api/v1/namespaces/b/pods/p/status',
    ]);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ apiVersion: 'v1', kind: 'Pod' });
    expect(seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('uses the default namespace when a namespaced call names none', async () => {
    handler = (_req, res) => json(res, 200, makePod('default', 'p'));
    const c = newClient();
    await c.get(pods, undefined, 'p');
    expect(seen[0]!.url).toBe('/api/v1/namespaces/default/pods/p');
  });

  it('sends each patch type with its content type', async () => {
    handler = (_req, res) => json(res, 200, makePod('a', 'p'));
    const c = newClient();
    await c.patch(pods, 'a', 'p', { metadata: { labels: { x: '1' } } }, 'merge');
    await c.patch(pods, 'a', 'p', { spec: {} }, 'strategic');
    await c.patch(pods, 'a', 'p', [{ op: 'add', path: '/metadata/labels/y', value: '2' }], 'json');
    await c.patch(pods, 'a', 'p', { status: { phase: 'Running' } }, 'merge', { subresource: 'status' });
    expect(seen.map((s) => s.headers['content-type'])).toEqual([
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/json-patch+json',
      'application/merge-patch+json',
    ]);
    expect(seen[3]!.url).toBe('/api/v1/namespaces/a/pods/p/status');
    expect(JSON.parse(seen[2]!.body)[0].op).toBe('add');
  });

  it('deletes with DeleteOptions (propagationPolicy, preconditions)', async () => {
    handler = (_req, res) =>
      json(res, 200, { apiVersion: 'v1', kind: 'Status', status: 'Success', code: 200 });
    const c = newClient();
    const r = await c.delete(deployments, 'a', 'd', {
      propagationPolicy: 'Foreground',
      preconditions: { uid: 'u1' },
    });
    expect(r.kind).toBe('Status');
    expect(seen[0]!.method).toBe('DELETE');
    expect(seen[0]!.url).toBe('/apis/apps/v1/namespaces/a/deployments/d');
    expect(JSON.parse(seen[0]!.body)).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Foreground',
      preconditions: { uid: 'u1' },
    });
  });

  it('posts a Binding and reads/writes the scale subresource', async () => {
    handler = (req, res) =>
      json(
        res,
        req.method === 'POST' ? 201 : 200,
        req.body ? JSON.parse(req.body) : { spec: { replicas: 2 } },
      );
    const c = newClient();
    await c.bind(pods, 'a', 'p', 'node-1');
    expect(seen[0]!.url).toBe('/api/v1/namespaces/a/pods/p/binding');
    expect(JSON.parse(seen[0]!.body)).toMatchObject({
      kind: 'Binding',
      target: { kind: 'Node', name: 'node-1' },
    });
    expect((await c.getScale(deployments, 'a', 'd')).spec.replicas).toBe(2);
    const s = await c.setScale(deployments, 'a', 'd', 5);
    expect(s.spec.replicas).toBe(5);
    expect(seen[2]!.method).toBe('PUT');
    expect(seen[2]!.url).toBe('/apis/apps/v1/namespaces/a/deployments/d/scale');
  });

  it('turns a Status body into ApiError and a plain-text failure into a synthetic Status', async () => {
    handler = (req, res) => {
      if (req.url.endsWith('/missing')) {
        return json(res, 404, {
          apiVersion: 'v1',
          kind: 'Status',
          status: 'Failure',
          reason: 'NotFound',
          message: 'pods "missing" not found',
          code: 404,
        });
      }
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream down');
    };
    const c = newClient();
    const e1 = await c.get(pods, 'a', 'missing').catch((e) => e);
    expect(isApiError(e1, 'NotFound')).toBe(true);
    expect(e1.message).toBe('pods "missing" not found');
    const e2: ApiError = await c.get(pods, 'a', 'other').catch((e) => e);
    expect(e2).toBeInstanceOf(ApiError);
    expect(e2.code).toBe(503);
    expect(e2.reason).toBe('ServiceUnavailable');
    expect(e2.message).toMatch(/upstream down/);
  });

  it('streams watch events split across chunks, then ends with Expired on an ERROR 410 event', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const ev1 = JSON.stringify({ type: 'ADDED', object: makePod('a', 'p1') });
      const ev2 = JSON.stringify({ type: 'MODIFIED', object: makePod('a', 'p1') });
      res.write(ev1.slice(0, 10));
      setTimeout(() => {
        res.write(`${ev1.slice(10)}\n${ev2}`);
        setTimeout(() => {
          res.write('\n{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}}\n');
          res.end(
            `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Gone', message: 'too old' } })}\n`,
          );
        }, 5);
      }, 5);
      void req;
    };
    const c = newClient();
    const w = await c.watch(pods, 'a', {
      resourceVersion: '3',
      allowWatchBookmarks: true,
      timeoutSeconds: 30,
    });
    const q = new URL(seen[0]!.url, base).searchParams;
    expect(q.get('watch')).toBe('true');
    expect(q.get('resourceVersion')).toBe('3');
    expect(q.get('allowWatchBookmarks')).toBe('true');
    expect(q.get('timeoutSeconds')).toBe('30');
    const types: string[] = [];
    let err: unknown;
    try {
      for await (const ev of w) types.push(ev.type);
    } catch (e) {
      err = e;
    }
    expect(types).toEqual(['ADDED', 'MODIFIED', 'BOOKMARK']);
    expect(isExpired(err)).toBe(true);
    expect((err as ApiError).reason).toBe('Expired');
    expect((err as ApiError).message).toBe('too old');
  });

  it('rejects a watch the server refuses with HTTP 410, and ends normally when the server closes', async () => {
    handler = (req, res) => {
      if (req.url.includes('resourceVersion=1&') || req.url.endsWith('resourceVersion=1')) {
        return json(res, 410, {
          kind: 'Status',
          status: 'Failure',
          reason: 'Expired',
          code: 410,
          message: 'old',
        });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ADDED', object: makePod('a', 'p') })}\n`);
    };
    const c = newClient();
    const e = await c.watch(pods, undefined, { resourceVersion: '1' }).catch((x) => x);
    expect(isExpired(e)).toBe(true);
    const w = await c.watch(pods, undefined, { resourceVersion: '2' });
    const got: string[] = [];
    for await (const ev of w) got.push(ev.object.metadata.name!);
    expect(got).toEqual(['p']);
  });

  it('dispose of a watch (or of the client) closes the HTTP stream', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: makePod('a', 'p') })}\n`);
    };
    const c = newClient();
    const w = await c.watch(pods, 'a');
    const it1 = w[Symbol.asyncIterator]();
    expect((await it1.next()).value?.type).toBe('ADDED');
    expect(openResponses.size).toBe(1);
    w.dispose();
    expect((await it1.next()).done).toBe(true);
    const deadline = Date.now() + 2000;
    while (openResponses.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(openResponses.size).toBe(0);

    // A second watch ended by disposing the whole client.
    const w2 = await c.watch(pods, 'a');
    const events: string[] = [];
    const loop = (async () => {
      for await (const ev of w2) events.push(ev.type);
    })();
    while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await c.dispose();
    await loop;
    expect(events).toEqual(['ADDED']);
    await expect(c.get(pods, 'a', 'p')).rejects.toThrow(/disposed/);
  });

  it('retries a 429 with Retry-After, and surfaces it after the retry budget', async () => {
    let n = 0;
    handler = (_req, res) => {
      if (n++ < 1) {
        res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'TooManyRequests', code: 429 }),
        );
      }
      json(res, 200, makePod('a', 'p'));
    };
    const c = newClient();
    expect((await c.get(pods, 'a', 'p')).metadata.name).toBe('p');
    expect(seen).toHaveLength(2);
    handler = (_req, res) => {
      res.writeHead(429, { 'retry-after': '0' });
      res.end('slow down');
    };
    seen.length = 0;
    const e = await c.get(pods, 'a', 'p').catch((x) => x);
    expect(isApiError(e, 'TooManyRequests')).toBe(true);
    expect(seen).toHaveLength(4); // first try + 3 retries
  });

  it('request returns plain-text bodies as text', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    };
    const c = newClient();
    expect(await c.request('GET', '/healthz')).toBe('ok');
  });

  it('request sends a caller-chosen Accept header (e.g. server-side Tables)', async () => {
    handler = (req, res) => json(res, 200, { kind: 'Table', accept: req.headers.accept });
    const c = newClient();
    const table = 'application/json;as=Table;v=v1;g=meta.k8s.io';
    expect((await c.request('GET', '/api/v1/pods', { accept: table })).accept).toBe(table);
    expect((await c.request('GET', '/api/v1/pods')).accept).toBe('application/json');
  });

  it('watchEach delivers events to a callback and settles done at the end', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'DELETED', object: makePod('a', 'p') })}\n`);
    };
    const c = newClient();
    const got: string[] = [];
    const h = c.watchEach(pods, 'a', {}, (ev) => got.push(ev.type));
    await h.done;
    expect(got).toEqual(['DELETED']);
  });
});

describe('loadKubeconfig', () => {
  it('reads the current context: server, inline CA, token, namespace; relative file refs resolve', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pn-client-kc-'));
    try {
      writeFileSync(join(dir, 'tok'), 'filetoken\n');
      const kc = `apiVersion: v1
kind: Config
current-context: two
clusters:
- name: c1
  cluster: { server: "https://127.0.0.1:1", certificate-authority-data: ${Buffer.from('CAPEM').toString('base64')} }
- name: c2
  cluster: { server: "https://127.0.0.1:2", insecure-skip-tls-verify: true }
users:
- name: u1
  user: { token: abc }
- name: u2
  user: { tokenFile: tok }
contexts:
- name: one
  context: { cluster: c1, user: u1 }
- name: two
  context: { cluster: c2, user: u2, namespace: team }
`;
      writeFileSync(join(dir, 'kubeconfig'), kc);
      expect(loadKubeconfig(join(dir, 'kubeconfig'))).toEqual({
        server: 'https://127.0.0.1:2',
        insecureSkipTlsVerify: true,
        token: 'filetoken',
        namespace: 'team',
      });
      expect(loadKubeconfig(join(dir, 'kubeconfig'), 'one')).toEqual({
        server: 'https://127.0.0.1:1',
        caPem: 'CAPEM',
        token: 'abc',
      });
      expect(() => loadKubeconfig(join(dir, 'kubeconfig'), 'three')).toThrow(/context "three" not found/);
      expect(() => loadKubeconfig(join(dir, 'nope'))).toThrow(/cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
