/**
 * A test-only HTTPS server that answers just what `kubectl apply --dry-run=client` asks before it
 * validates, and what `kubectl get` needs: discovery (/api, /apis, /api/v1,
 * /apis/<group>/<version>), the OpenAPI v2 document (protobuf or JSON by Accept header), lists
 * (as Tables when asked) and a 404 Status for anything else. It requires a bearer token, like the
 * real server, and records every request it saw. The real server is src/apiserver; this one keeps
 * these tests independent of it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf, groupVersions, RESOURCES, type ResourceInfo } from '../../../src/api/resources.ts';
import type { KubeObject } from '../../../src/api/types.ts';
import {
  OPENAPI_V2_PROTOBUF_CONTENT_TYPE,
  OPENAPI_V2_PROTOBUF_RESPONSE_TYPE,
  openapiV2,
} from '../../../src/apiserver/openapi/index.ts';
import { renderTable, type Table } from '../../../src/apiserver/tables.ts';

/** A running fake server and a kubeconfig pointing at it. */
export interface FakeApiServer {
  url: string;
  kubeconfig: string;
  dir: string;
  requests: Array<{ method: string; url: string; accept: string; contentType: string; body: string }>;
  /** Every Table the server answered with, in order. */
  tables: Table[];
  close(): Promise<void>;
}

function resourceList(group: string, version: string) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: RESOURCES.filter((r) => r.group === group && r.version === version).map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
    })),
  };
}

function discovery(path: string): object | undefined {
  if (path === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  }
  const groups = groupVersions().filter((gv) => gv.group);
  if (path === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...new Set(groups.map((g) => g.group))].map((name) => {
        const versions = groups
          .filter((g) => g.group === name)
          .map((g) => ({ groupVersion: `${name}/${g.version}`, version: g.version }));
        return { name, versions, preferredVersion: versions[0] };
      }),
    };
  }
  if (path === '/api/v1') return resourceList('', 'v1');
  const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  if (m && groups.some((g) => g.group === m[1] && g.version === m[2])) return resourceList(m[1]!, m[2]!);
  return undefined;
}

/**
 * Starts the server on 127.0.0.1 with a throwaway self-signed certificate made by openssl.
 * `objects` are served at their paths (e.g. `/apis/apps/v1/namespaces/default/deployments/web`);
 * a PATCH to one is recorded and answered with the object unchanged. `lists` are collections served
 * at their paths (e.g. `/api/v1/namespaces/default/pods`), as a Table when the client asks for one.
 */
export async function startFakeApiServer(
  objects: Record<string, object> = {},
  lists: Record<string, { res: ResourceInfo; items: KubeObject[] }> = {},
): Promise<FakeApiServer> {
  const tables: Table[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pn-kubectl-openapi-'));
  const key = join(dir, 'server.key');
  const cert = join(dir, 'server.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'].concat([
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]),
    { stdio: 'ignore' },
  );
  const token = 'podnet-test-token';
  const requests: FakeApiServer['requests'] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://x');
    const accept = String(req.headers.accept ?? '');
    let body = '';
    for await (const chunk of req) body += chunk;
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      accept,
      contentType: String(req.headers['content-type'] ?? ''),
      body,
    });
    const send = (code: number, body: object | Uint8Array, type = 'application/json') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body instanceof Uint8Array ? body : JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
      return;
    }
    if (url.pathname === '/openapi/v2') {
      const doc = openapiV2();
      if (accept.includes(OPENAPI_V2_PROTOBUF_CONTENT_TYPE))
        send(200, doc.protobuf, OPENAPI_V2_PROTOBUF_RESPONSE_TYPE);
      else send(200, doc.json);
      return;
    }
    const stored = objects[url.pathname];
    if (stored && (req.method === 'GET' || req.method === 'PATCH')) {
      send(200, stored);
      return;
    }
    const list = lists[url.pathname];
    if (list && req.method === 'GET') {
      if (accept.includes('as=Table') && accept.includes('g=meta.k8s.io')) {
        const include = url.searchParams.get('includeObject') as 'None' | 'Metadata' | 'Object' | null;
        const table = renderTable(list.res, list.items, {
          listMeta: { resourceVersion: '100' },
          ...(include ? { includeObject: include } : {}),
        });
        tables.push(table);
        send(200, table);
      } else {
        send(200, {
          apiVersion: list.res.group ? `${list.res.group}/${list.res.version}` : list.res.version,
          kind: list.res.listKind,
          metadata: { resourceVersion: '100' },
          items: list.items,
        });
      }
      return;
    }
    const d = discovery(url.pathname);
    if (d) {
      send(200, d);
      return;
    }
    send(404, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `the server could not find the requested resource (${url.pathname})`,
      reason: 'NotFound',
      code: 404,
    });
  };
  const server: Server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    // A handler bug must show up as a 500 in kubectl's output, not as a hung request.
    handle(req, res).catch((e) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e?.stack ?? e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: podnet\n  cluster:\n    server: ${url}\n    certificate-authority: ${cert}`,
      'users:',
      `- name: podnet\n  user:\n    token: ${token}`,
      'contexts:',
      '- name: podnet\n  context:\n    cluster: podnet\n    user: podnet\n    namespace: default',
      'current-context: podnet',
      '',
    ].join('\n'),
  );
  return {
    url,
    kubeconfig,
    dir,
    requests,
    tables,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The served apiVersions (used by tests to build manifests for every kind). */
export const SERVED_API_VERSIONS = [...new Set(RESOURCES.map(apiVersionOf))];
