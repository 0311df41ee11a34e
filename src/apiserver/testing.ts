/**
 * Test helpers: an API server over an in-memory store on a random port with a throw-away PKI,
 * and a tiny HTTPS client (undici) that trusts its CA. Used by this folder's unit tests and by
 * the real-client tests under test/integration/apiserver.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { openStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { generatePki, newToken, writeKubeconfig } from './pki.ts';
import { type ApiServer, startApiServer } from './server.ts';

/** A response read whole. */
export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON body (undefined when not JSON). */
  body: any;
}

/** A running test server with a client. */
export interface TestServer {
  url: string;
  token: string;
  caPem: string;
  store: ObjectStore;
  server: ApiServer;
  dir: string;
  kubeconfigPath: string;
  agent: Agent;
  /** Sends a request with the bearer token (unless headers.authorization is given, '' to omit). */
  req(
    method: string,
    path: string,
    opts?: { body?: unknown; headers?: Record<string, string>; rawBody?: string | Buffer },
  ): Promise<TestResponse>;
  dispose(): Promise<void>;
}

/** Options for startTestServer. */
export interface TestServerOptions {
  /** History kept by the memory store (small values make compaction testable). */
  historyRevisions?: number;
  /** Watch bookmark period (ms). */
  bookmarkIntervalMs?: number;
  log?: (line: string) => void;
}

/** Starts an API server over a fresh memory store. Dispose it in afterAll/finally. */
export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'pn-apiserver-'));
  const pki = await generatePki(join(dir, 'pki'));
  const token = newToken();
  const store = await openStore({ backend: 'memory', historyRevisions: o.historyRevisions });
  const server = await startApiServer({
    store,
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    token,
    log: o.log,
    bookmarkIntervalMs: o.bookmarkIntervalMs,
  });
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, { server: server.url, caPem: pki.caPem, token, clusterName: 'test' });
  const agent = new Agent({ connect: { ca: pki.caPem } });
  return {
    url: server.url,
    token,
    caPem: pki.caPem,
    store,
    server,
    dir,
    kubeconfigPath,
    agent,
    async req(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (headers.authorization === undefined) headers.authorization = `Bearer ${token}`;
      if (headers.authorization === '') delete headers.authorization;
      let body: string | Buffer | undefined = opts.rawBody;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const r = await request(`${server.url}${path}`, {
        method: method as any,
        headers,
        body,
        dispatcher: agent,
      });
      const text = await r.body.text();
      let parsed: any;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: r.statusCode, headers: r.headers, text, body: parsed };
    },
    async dispose() {
      try {
        await server.dispose();
        await agent.close();
      } finally {
        await store.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A watch stream opened by `openWatch`. */
export interface TestWatch {
  status: number;
  /** Events received so far. */
  events: Array<{ type: string; object: any }>;
  /** Resolves once `n` events have arrived (rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<Array<{ type: string; object: any }>>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens a watch (GET with watch=1 in `path`) and collects its JSON-lines events. */
export async function openWatch(
  ts: TestServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<TestWatch> {
  const ac = new AbortController();
  const r = await request(`${ts.url}${path}`, {
    method: 'GET',
    headers: { authorization: `Bearer ${ts.token}`, ...headers },
    dispatcher: ts.agent,
    signal: ac.signal,
  });
  const events: Array<{ type: string; object: any }> = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  const ended = (async () => {
    try {
      for await (const chunk of r.body) {
        buf += chunk.toString();
        let i = buf.indexOf('\n');
        while (i >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) events.push(JSON.parse(line));
          i = buf.indexOf('\n');
        }
        for (const w of waiters.splice(0)) w();
      }
    } catch {
      // aborted by close()
    }
    for (const w of waiters.splice(0)) w();
  })();
  let done = false;
  void ended.then(() => {
    done = true;
  });
  return {
    status: r.statusCode,
    events,
    ended,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (done) throw new Error(`watch ended after ${events.length} events, wanted ${n}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out with ${events.length} events, wanted ${n}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return events.slice(0, n);
    },
    close() {
      ac.abort();
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
