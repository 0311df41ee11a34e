/**
 * The ingress router end to end on loopback, against a real API server over a memory store.
 * Needs no root: everything is on 127.0.0.0/8.
 *
 * Address plan:
 *   127.0.0.1:<ephemeral>   the router (HTTP and HTTPS listeners) and the API server
 *   127.0.0.2, .3  :P       web-a1, web-a2   (Service "web", two ready endpoints)
 *   127.0.0.4      :P       api              (Service "api")
 *   127.0.0.5      :P       bee              (Service "bee")
 *   127.0.0.6      :P       fallback         (Service "fallback", the default backend)
 *   127.0.0.7      :P       ws               (Service "ws", WebSocket echo)
 *   127.0.0.8      :P       (unready)        (Service "empty": no ready endpoint → 503)
 *   127.0.0.9      :P       nothing listens  (Service "flaky" = .9 + .4: connect failures retried)
 */

import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../../proxy/ingress/certs.ts';
import { type IngressController, startIngressController } from '../../../proxy/ingress/controller.ts';
import {
  makeIngress,
  makeIngressClass,
  makeService,
  makeSlice,
  makeTlsSecret,
} from '../../../proxy/ingress/testing.ts';
import type { Ingress } from '../../../src/api/kinds/networking.ts';
import { findResource } from '../../../src/api/resources.ts';
import { startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';
import { ApiClient } from '../../../src/client/rest.ts';
import { type Backend, get, rawRequest, startBackend, statuses, wsConnect } from './helpers.ts';

const R = {
  ing: findResource('networking.k8s.io', 'v1', 'ingresses')!,
  cls: findResource('networking.k8s.io', 'v1', 'ingressclasses')!,
  svc: findResource('', 'v1', 'services')!,
  slice: findResource('discovery.k8s.io', 'v1', 'endpointslices')!,
  secret: findResource('', 'v1', 'secrets')!,
};
const NS = 'default';

let api: TestServer;
let client: ApiClient;
let ctl: IngressController;
const backends: Backend[] = [];
let P = 0;
let certSecure: { certPem: string; keyPem: string };
let certOther: { certPem: string; keyPem: string };
const routerPort = () => Number(new URL(ctl.httpUrl).port);

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  const first = await startBackend('web-a1', '127.0.0.2');
  P = first.port;
  backends.push(first);
  for (const [name, ip] of [
    ['web-a2', '127.0.0.3'],
    ['api', '127.0.0.4'],
    ['bee', '127.0.0.5'],
    ['fallback', '127.0.0.6'],
    ['ws', '127.0.0.7'],
  ] as const) {
    backends.push(await startBackend(name, ip, P));
  }
  [certSecure, certOther] = await Promise.all([
    // One RSA and one EC secret: the SNI switch must serve either kind (the default is RSA).
    selfSignedCert('secure.test', ['secure.test'], 'rsa'),
    selfSignedCert('other.test', ['other.test', '*.other.test'], 'ec'),
  ]);
  api = await startTestServer();
  client = new ApiClient(api.kubeconfigPath);
  await client.create(R.cls, makeIngressClass('podnet', true));
  const svc = async (name: string, ips: Array<[string, boolean]>) => {
    await client.create(R.svc, makeService(NS, name, [['http', 80, 'http']]));
    // Straight into the store: API validation (rightly) refuses loopback endpoint addresses.
    await api.store.create(R.slice, makeSlice(NS, name, ips, [['http', P]]));
  };
  await svc('web', [
    ['127.0.0.2', true],
    ['127.0.0.3', true],
  ]);
  await svc('api', [['127.0.0.4', true]]);
  await svc('bee', [['127.0.0.5', true]]);
  await svc('fallback', [['127.0.0.6', true]]);
  await svc('ws', [['127.0.0.7', true]]);
  await svc('empty', [['127.0.0.8', false]]);
  await svc('flaky', [
    ['127.0.0.9', true],
    ['127.0.0.4', true],
  ]);
  await client.create(R.secret, makeTlsSecret(NS, 'secure-tls', certSecure.certPem, certSecure.keyPem));
  await client.create(R.secret, makeTlsSecret(NS, 'other-tls', certOther.certPem, certOther.keyPem));
  await client.create(
    R.ing,
    makeIngress(
      NS,
      'main',
      {
        'a.test': [
          ['/', 'Prefix', 'web', 80],
          ['/api', 'Prefix', 'api', 80],
          ['/api/exact', 'Exact', 'bee', 80],
          ['/admin', 'Prefix', 'bee', 'http'],
          ['/ws', 'Prefix', 'ws', 80],
          ['/empty', 'Prefix', 'empty', 80],
          ['/flaky', 'Prefix', 'flaky', 80],
        ],
        'b.test': [['/', 'Prefix', 'bee', 80]],
        '*.wild.test': [['/', 'Prefix', 'api', 80]],
      },
      (i) => {
        delete i.spec!.ingressClassName; // served because our class is the default
        i.spec!.defaultBackend = { service: { name: 'fallback', port: { number: 80 } } };
      },
    ),
  );
  await client.create(
    R.ing,
    makeIngress(
      NS,
      'secure',
      { 'secure.test': [['/', 'Prefix', 'bee', 80]], 'x.other.test': [['/', 'Prefix', 'api', 80]] },
      (i) => {
        i.spec!.tls = [
          { hosts: ['secure.test'], secretName: 'secure-tls' },
          { hosts: ['x.other.test'], secretName: 'other-tls' },
        ];
      },
    ),
  );
  await client.create(
    R.ing,
    makeIngress(NS, 'noredirect', { 'plain.other.test': [['/', 'Prefix', 'api', 80]] }, (i) => {
      i.spec!.tls = [{ hosts: ['plain.other.test'], secretName: 'other-tls' }];
      i.metadata.annotations = { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' };
    }),
  );
  ctl = await startIngressController({
    client,
    listen: { host: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    log: () => {},
    connectTimeoutMs: 1000,
  });
});

afterAll(async () => {
  await ctl?.dispose();
  client?.dispose();
  await api?.dispose();
  await Promise.all(backends.map((b) => b.close()));
});

describe('routing', () => {
  it('two hosts and several paths land on the right backend', async () => {
    const who = async (host: string, path: string) => {
      const r = await get(ctl.httpUrl + path, host);
      return r.status === 200 ? JSON.parse(r.body).who : r.status;
    };
    expect(await who('a.test', '/api')).toBe('api');
    expect(await who('a.test', '/api/v1/things')).toBe('api');
    expect(await who('a.test', '/api/exact')).toBe('bee');
    expect(await who('a.test', '/api/exact/more')).toBe('api');
    expect(await who('a.test', '/apis')).toMatch(/web-a[12]/);
    expect(await who('A.TEST:80', '/admin')).toBe('bee');
    expect(await who('b.test', '/anything')).toBe('bee');
    expect(await who('x.wild.test', '/')).toBe('api');
    expect(await who('wild.test', '/')).toBe('fallback');
    expect(await who('y.x.wild.test', '/')).toBe('fallback');
    expect(await who('unknown.test', '/')).toBe('fallback');
  });

  it('round robin over ready endpoints', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(JSON.parse((await get(`${ctl.httpUrl}/`, 'a.test')).body).who);
    expect(seen.filter((s) => s === 'web-a1').length).toBe(3);
    expect(seen.filter((s) => s === 'web-a2').length).toBe(3);
  });

  it('no ready endpoint → 503; connect failure is retried on another endpoint', async () => {
    expect((await get(`${ctl.httpUrl}/empty`, 'a.test')).status).toBe(503);
    for (let i = 0; i < 6; i++) {
      const r = await get(`${ctl.httpUrl}/flaky`, 'a.test');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).who).toBe('api');
    }
  });

  it('writes status.loadBalancer.ingress to the Ingresses it serves', async () => {
    await waitFor('status', async () => {
      const ing = await client.get<Ingress>(R.ing, NS, 'main');
      return ing.status?.loadBalancer?.ingress?.[0]?.ip === '127.0.0.1';
    });
  });

  it('takes its address back off an Ingress it stops serving, and leaves other addresses alone', async () => {
    const addresses = async (name: string) =>
      (await client.get<Ingress>(R.ing, NS, name)).status?.loadBalancer?.ingress?.map((i) => i.ip) ?? [];
    const moveClass = (name: string, cls: string) =>
      client.patch(R.ing, NS, name, { spec: { ingressClassName: cls } }, 'merge');
    await client.create(R.ing, makeIngress(NS, 'leaving', { 'leaving.test': [['/', 'Prefix', 'bee', 80]] }));
    await client.create(R.ing, makeIngress(NS, 'handed', { 'handed.test': [['/', 'Prefix', 'bee', 80]] }));
    await waitFor('both served', async () => (await addresses('leaving'))[0] === '127.0.0.1');
    await waitFor('both served', async () => (await addresses('handed'))[0] === '127.0.0.1');
    // Hosts nobody serves fall to the default backend of "main".
    const who = async (host: string) => JSON.parse((await get(`${ctl.httpUrl}/`, host)).body).who;
    expect(await who('leaving.test')).toBe('bee');

    // Another controller's class: not ours any more, so neither the route nor the address stays.
    await moveClass('leaving', 'someone-else');
    await waitFor('route gone', async () => (await who('leaving.test')) === 'fallback');
    await waitFor('address gone', async () => (await addresses('leaving')).length === 0);

    // The other controller wrote its own address first: that one is not ours to take away.
    await client.patch(
      R.ing,
      NS,
      'handed',
      { status: { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } } },
      'merge',
      { subresource: 'status' },
    );
    await moveClass('handed', 'someone-else');
    await waitFor('route gone', async () => (await who('handed.test')) === 'fallback');
    await new Promise((r) => setTimeout(r, 200));
    expect(await addresses('handed')).toEqual(['192.0.2.7']);

    // Back to our class: served again, our address again.
    await moveClass('leaving', 'podnet');
    await waitFor('served again', async () => (await addresses('leaving'))[0] === '127.0.0.1');
    for (const name of ['leaving', 'handed']) await client.delete(R.ing, NS, name);
  });
});

describe('timeouts', () => {
  it('answers 504 when the backend is slower than responseTimeoutMs', async () => {
    const quick = await startIngressController({
      client,
      listen: { host: '127.0.0.1', httpPort: 0, httpsPort: 0 },
      log: () => {},
      responseTimeoutMs: 80,
    });
    try {
      expect((await get(`${quick.httpUrl}/api/slow`, 'a.test')).status).toBe(504);
      expect((await get(`${quick.httpUrl}/api/fast`, 'a.test')).status).toBe(200);
    } finally {
      await quick.dispose();
    }
  });
});

describe('worker processes', () => {
  it('serves from several processes sharing the listeners', async () => {
    const multi = await startIngressController({
      client,
      listen: { host: '127.0.0.1', httpPort: 0, httpsPort: 0 },
      workers: 2,
      writeStatus: false,
    });
    try {
      const agents = [0, 1, 2, 3].map(() => new http.Agent({ keepAlive: false }));
      const rs = await Promise.all(
        agents.flatMap((agent) => [
          get(`${multi.httpUrl}/api/w`, 'a.test', { agent }),
          get(`${multi.httpUrl}/`, 'b.test', { agent }),
        ]),
      );
      expect(rs.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(JSON.parse(rs[0]!.body).who).toBe('api');
      expect(JSON.parse(rs[1]!.body).who).toBe('bee');
    } finally {
      await multi.dispose();
    }
    // Nobody accepts any more once disposed.
    await expect(get(`${multi.httpUrl}/`, 'b.test')).rejects.toThrow();
  });
});

describe('headers', () => {
  it('adds X-Forwarded-*, appends XFF, strips hop-by-hop both ways', async () => {
    const r = await get(`${ctl.httpUrl}/api/h`, 'a.test', {
      headers: {
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop',
        'proxy-authorization': 'Basic Zm9v',
        te: 'trailers',
      },
    });
    const h = JSON.parse(r.body).headers;
    expect(h['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('a.test');
    expect(h['x-forwarded-port']).toBe(String(routerPort()));
    expect(h['x-real-ip']).toBe('127.0.0.1');
    expect(h.host).toBe('a.test');
    expect(h['x-secret']).toBeUndefined();
    expect(h['proxy-authorization']).toBeUndefined();
    expect(h.te).toBeUndefined();
    expect(r.headers['x-hop']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=5'); // the backend's; ours may be there
    expect(r.headers['x-backend']).toBe('api');
  });
});

describe('TLS', () => {
  const tlsGet = (servername: string, host: string, path = '/') =>
    new Promise<{ status: number; body: string; cn: string }>((resolve, reject) => {
      const u = new URL(ctl.httpsUrl);
      const req = https.request(
        {
          host: u.hostname,
          port: u.port,
          path,
          servername,
          headers: { host },
          rejectUnauthorized: false,
          agent: false,
        },
        (res) => {
          const cn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN);
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode!, body, cn }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('picks the certificate by SNI; default certificate otherwise', async () => {
    const a = await tlsGet('secure.test', 'secure.test');
    expect(a.cn).toBe('secure.test');
    expect(JSON.parse(a.body).who).toBe('bee');
    expect(JSON.parse(a.body).headers['x-forwarded-proto']).toBe('https');
    const b = await tlsGet('x.other.test', 'x.other.test');
    expect(b.cn).toBe('other.test');
    expect(JSON.parse(b.body).who).toBe('api');
    const c = await tlsGet('nobody.test', 'a.test', '/api');
    expect(c.cn).toBe('podnet-ingress-default');
  });

  it('redirects HTTP to HTTPS (308) for TLS hosts unless ssl-redirect is "false"', async () => {
    const r = await get(`${ctl.httpUrl}/p?q=1`, 'secure.test');
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe(`https://secure.test:${new URL(ctl.httpsUrl).port}/p?q=1`);
    const n = await get(`${ctl.httpUrl}/`, 'plain.other.test');
    expect(n.status).toBe(200);
  });
});

describe('upgrade and streaming', () => {
  it('relays a WebSocket echo', async () => {
    const ws = await wsConnect('127.0.0.1', routerPort(), 'a.test', '/ws/chat');
    try {
      expect(ws.status).toBe(101);
      expect(await ws.send('hello')).toBe('ws:hello');
      expect(await ws.send('again')).toBe('ws:again');
    } finally {
      ws.close();
    }
  });

  it('a refused upgrade is not turned into a tunnel', async () => {
    // The api backend answers 400 to a non-websocket Upgrade; what follows must not reach it raw.
    const before = backends.find((b) => b.name === 'api')!.seen.length;
    const raw = await rawRequest(
      '127.0.0.1',
      routerPort(),
      'GET /api/x HTTP/1.1\r\nHost: a.test\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nGET /admin HTTP/1.1\r\nHost: a.test\r\n\r\n',
      800,
    );
    expect(statuses(raw)[0]).toBe(400);
    expect(backends.find((b) => b.name === 'api')!.seen.length).toBe(before);
  });

  it('streams large bodies both ways', async () => {
    const size = 24 * 1024 * 1024;
    const body = Buffer.alloc(size, 0x62);
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${ctl.httpUrl}/api/echo-body`,
        { method: 'POST', headers: { host: 'a.test' } },
        (res) => {
          let n = 0;
          res.on('data', (d: Buffer) => {
            n += d.length;
          });
          res.on('end', () => resolve(n));
        },
      );
      req.on('error', reject);
      // Chunked: written in pieces, never as one buffer on the router.
      for (let off = 0; off < size; off += 1 << 20) req.write(body.subarray(off, off + (1 << 20)));
      req.end();
    });
    expect(got).toBe(size);
    const big = await new Promise<number>((resolve, reject) => {
      http
        .get(`${ctl.httpUrl}/api/big?mb=16`, { headers: { host: 'a.test' } }, (res) => {
          let n = 0;
          res.on('data', (d: Buffer) => {
            n += d.length;
          });
          res.on('end', () => resolve(n));
        })
        .on('error', reject);
    });
    expect(big).toBe(16 * 1024 * 1024);
  });
});

describe('annotations end to end', () => {
  it('canary-by-header and rewrite-target', async () => {
    await client.create(
      R.ing,
      makeIngress(NS, 'bee-canary', { 'b.test': [['/', 'Prefix', 'api', 80]] }, (i) => {
        i.metadata.annotations = {
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary',
        };
      }),
    );
    await client.create(
      R.ing,
      makeIngress(
        NS,
        'rewrite',
        { 'rw.test': [['/app(/|$)(.*)', 'ImplementationSpecific', 'api', 80]] },
        (i) => {
          i.metadata.annotations = { 'nginx.ingress.kubernetes.io/rewrite-target': '/$2' };
        },
      ),
    );
    const who = async (host: string, path: string, headers: Record<string, string> = {}) => {
      const r = await get(ctl.httpUrl + path, host, { headers });
      return r.status === 200 ? `${JSON.parse(r.body).who} ${JSON.parse(r.body).url}` : String(r.status);
    };
    await waitFor('canary and rewrite', async () => (await who('rw.test', '/app/x?y=1')) === 'api /x?y=1');
    await waitFor('canary', async () => (await who('b.test', '/c', { 'x-canary': 'always' })) === 'api /c');
    expect(await who('b.test', '/c')).toBe('bee /c');
    expect(await who('b.test', '/c', { 'x-canary': 'never' })).toBe('bee /c');
    expect(await who('rw.test', '/app')).toBe('api /');
    expect(await who('rw.test', '/other')).toBe('fallback /other'); // the global default backend
  });
});

describe('live changes', () => {
  it('re-routes an edited Ingress within a second with no failed request under load', async () => {
    await client.create(
      R.ing,
      makeIngress(NS, 'moving', { 'move.test': [['/', 'Prefix', 'bee', 80]] }, (i) => {
        i.spec!.ingressClassName = 'podnet';
      }),
    );
    await waitFor('moving served', async () => (await get(`${ctl.httpUrl}/`, 'move.test')).status === 200);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const results: Array<{ t: number; who: string; status: number }> = [];
    let stop = false;
    const loop = async () => {
      while (!stop) {
        try {
          const r = await get(`${ctl.httpUrl}/x`, 'move.test', { agent });
          results.push({
            t: Date.now(),
            who: r.status === 200 ? JSON.parse(r.body).who : '',
            status: r.status,
          });
        } catch (e) {
          results.push({ t: Date.now(), who: `error ${(e as Error).message}`, status: 0 });
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    await new Promise((r) => setTimeout(r, 200));
    const edited = Date.now();
    await client.patch(
      R.ing,
      NS,
      'moving',
      {
        spec: {
          rules: [
            {
              host: 'move.test',
              http: {
                paths: [
                  {
                    path: '/',
                    pathType: 'Prefix',
                    backend: { service: { name: 'api', port: { number: 80 } } },
                  },
                ],
              },
            },
          ],
        },
      },
      'merge',
    );
    await waitFor('re-route', () => results.some((r) => r.who === 'api'), 1000);
    const switched = results.find((r) => r.who === 'api')!.t;
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    expect(switched - edited).toBeLessThan(1000);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.length).toBeGreaterThan(20);
    // After the switch every answer comes from the new backend.
    expect(results.filter((r) => r.t > switched + 50 && r.who !== 'api')).toEqual([]);
  });
});

describe('security (raw sockets)', () => {
  const send = (s: string) => rawRequest('127.0.0.1', routerPort(), s, 800);
  const shapes: Array<[string, string, number]> = [
    [
      'CL + TE',
      'POST /api HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'duplicate differing CL',
      'POST /api HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      400,
    ],
    ['CL list differing', 'POST /api HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5, 6\r\n\r\nhello!', 400],
    ['TE gzip', 'POST /api HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    [
      'TE gzip, chunked',
      'POST /api HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'TE chunked, identity',
      'POST /api HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'TE with space before colon',
      'POST /api HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['obs-fold', 'GET /api HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n b\r\n\r\n', 400],
    ['bare LF in header', 'GET /api HTTP/1.1\r\nHost: a.test\r\nX-A: a\nb\r\n\r\n', 400],
    ['bad escape', 'GET /api/%zz HTTP/1.1\r\nHost: a.test\r\n\r\n', 400],
    ['NUL escape', 'GET /api/%00 HTTP/1.1\r\nHost: a.test\r\n\r\n', 400],
    ['absolute-form foreign host', 'GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n', 400],
    ['CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', 400],
    ['no Host', 'GET /api HTTP/1.1\r\n\r\n', 400],
    ['huge header', `GET /api HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ];
  for (const [name, req, want] of shapes) {
    it(`refuses ${name} with ${want}`, async () => {
      const before = backends.reduce((n, b) => n + b.seen.length, 0);
      const out = await send(req);
      expect(statuses(out)[0]).toBe(want);
      expect(backends.reduce((n, b) => n + b.seen.length, 0)).toBe(before);
    });
  }

  it('normalises the path before matching: /public/../admin and %2e%2e reach /admin, %2F does not', async () => {
    const bee = backends.find((b) => b.name === 'bee')!;
    for (const p of ['/public/../admin/x', '/%2e%2e/admin/x', '/web/./../admin/x', '//admin//x']) {
      const r = await send(`GET ${p} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`);
      expect(statuses(r)[0]).toBe(200);
      expect(r).toContain('"who":"bee"');
      expect(bee.seen.at(-1)!.url).toBe('/admin/x');
    }
    const enc = await send('GET /admin%2Fx HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    expect(enc).toMatch(/"who":"web-a[12]"/);
    expect(enc).toContain('"url":"/admin%2Fx"');
  });

  it('absolute-form for a host we serve is routed by its authority', async () => {
    const r = await send('GET http://b.test/abs HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n');
    expect(statuses(r)[0]).toBe(200);
    expect(r).toContain('"who":"bee"');
  });

  it('keeps client connections alive across requests', async () => {
    const r = await send(
      'GET /api/1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /api/2 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /api/3 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
    );
    expect(statuses(r)).toEqual([200, 200, 200]);
  });
});
