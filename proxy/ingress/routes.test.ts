/**
 * Route-table semantics without sockets. Address plan: endpoints are 10.0.0.x:8080 (never dialled).
 * The Prefix/Exact cases are the examples table of the Kubernetes Ingress documentation
 * (kubernetes.io/docs/concepts/services-networking/ingress/#examples).
 */
import { describe, expect, it } from 'vitest';
import type { Ingress, PathType } from '../../src/api/kinds/networking.ts';
import { parseTarget } from './path.ts';
import { buildRouteTable, hostMatches, type RouteInputs, selectIngresses } from './routes.ts';
import { makeIngress, makeIngressClass, makeService, makeSlice, type PathSpec } from './testing.ts';

const NS = 'default';
const cls = makeIngressClass('podnet');

/** Services svc-<n> each with one ready endpoint 10.0.0.<n>. */
function world(ingresses: Ingress[], n = 8): RouteInputs {
  const services = [];
  const endpointSlices = [];
  for (let i = 1; i <= n; i++) {
    services.push(makeService(NS, `svc-${i}`, [['http', 80, 8080]]));
    endpointSlices.push(makeSlice(NS, `svc-${i}`, [[`10.0.0.${i}`, true]], [['http', 8080]]));
  }
  return { ingressClasses: [cls], ingresses, services, endpointSlices, secrets: [] };
}

/** Which svc a request goes to, or 'none'. */
function route(inputs: RouteInputs, host: string, target: string): string {
  const t = buildRouteTable(inputs);
  const m = t.lookup(host, parseTarget(target).path);
  return m.kind === 'route' ? m.backend.service : 'none';
}

describe('Kubernetes docs examples table (Prefix/Exact)', () => {
  // [kind, rule paths, request path, matches?]
  const cases: Array<[PathType | 'Mixed', string[], string, boolean]> = [
    ['Prefix', ['/'], '/anything/at/all', true],
    ['Exact', ['/foo'], '/foo', true],
    ['Exact', ['/foo'], '/bar', false],
    ['Exact', ['/foo'], '/foo/', false],
    ['Exact', ['/foo/'], '/foo', false],
    ['Prefix', ['/foo'], '/foo', true],
    ['Prefix', ['/foo'], '/foo/', true],
    ['Prefix', ['/foo/'], '/foo', true],
    ['Prefix', ['/foo/'], '/foo/', true],
    ['Prefix', ['/aaa/bb'], '/aaa/bbb', false],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbb', true],
    ['Prefix', ['/aaa/bbb/'], '/aaa/bbb', true],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbb/', true],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbb/ccc', true],
    ['Prefix', ['/aaa/bbb'], '/aaa/bbbxyz', false],
    ['Prefix', ['/', '/aaa'], '/aaa/ccc', true],
    ['Prefix', ['/', '/aaa', '/aaa/bbb'], '/aaa/bbb', true],
    ['Prefix', ['/', '/aaa', '/aaa/bbb'], '/ccc', true],
    ['Prefix', ['/aaa'], '/ccc', false],
  ];
  for (const [kind, paths, req, want] of cases) {
    it(`${kind} ${paths.join(',')} vs ${req} → ${want ? 'match' : 'no match'}`, () => {
      const specs: PathSpec[] = paths.map((p, i) => [p, kind as PathType, `svc-${i + 1}`, 80]);
      const w = world([makeIngress(NS, 'ing', { 'a.com': specs })]);
      const got = route(w, 'a.com', req);
      expect(got !== 'none').toBe(want);
      if (want && paths.length > 1) {
        // The longest matching rule wins: find it by hand.
        const longest = paths
          .map((p, i) => ({ p: p.replace(/\/$/, '') || '/', i }))
          .filter(({ p }) => p === '/' || req === p || req.startsWith(`${p}/`))
          .sort((a, b) => b.p.length - a.p.length)[0]!;
        expect(got).toBe(`svc-${longest.i + 1}`);
      }
    });
  }
  it('Mixed /foo (Prefix), /foo (Exact) vs /foo → Exact wins', () => {
    const w = world([
      makeIngress(NS, 'ing', {
        'a.com': [
          ['/foo', 'Prefix', 'svc-1', 80],
          ['/foo', 'Exact', 'svc-2', 80],
        ],
      }),
    ]);
    expect(route(w, 'a.com', '/foo')).toBe('svc-2');
    expect(route(w, 'a.com', '/foo/x')).toBe('svc-1');
  });
  it('ImplementationSpecific behaves as Prefix', () => {
    const w = world([makeIngress(NS, 'ing', { 'a.com': [['/api', 'ImplementationSpecific', 'svc-1', 80]] })]);
    expect(route(w, 'a.com', '/api/v1')).toBe('svc-1');
    expect(route(w, 'a.com', '/apiv1')).toBe('none');
  });
});

describe('hosts', () => {
  it('wildcard matches exactly one label', () => {
    expect(hostMatches('*.a.com', 'b.a.com')).toBe(true);
    expect(hostMatches('*.a.com', 'a.com')).toBe(false);
    expect(hostMatches('*.a.com', 'c.b.a.com')).toBe(false);
    const w = world([
      makeIngress(NS, 'ing', {
        '*.a.com': [['/', 'Prefix', 'svc-1', 80]],
        'x.a.com': [['/', 'Prefix', 'svc-2', 80]],
      }),
    ]);
    expect(route(w, 'b.a.com', '/')).toBe('svc-1');
    expect(route(w, 'x.a.com', '/')).toBe('svc-2'); // exact host beats wildcard
    expect(route(w, 'a.com', '/')).toBe('none');
    expect(route(w, 'c.b.a.com', '/')).toBe('none');
  });
  it('host-less rules catch other hosts; host buckets do not fall through to them', () => {
    const w = world([
      makeIngress(NS, 'ing', {
        '': [['/', 'Prefix', 'svc-1', 80]],
        'a.com': [['/only', 'Exact', 'svc-2', 80]],
      }),
    ]);
    expect(route(w, 'zzz.example', '/x')).toBe('svc-1');
    expect(route(w, 'a.com', '/only')).toBe('svc-2');
    expect(route(w, 'a.com', '/x')).toBe('none');
  });
  it('host header case and trailing dot are ignored', () => {
    const w = world([makeIngress(NS, 'ing', { 'A.com': [['/', 'Prefix', 'svc-1', 80]] })]);
    expect(route(w, 'a.com', '/')).toBe('svc-1');
  });
});

describe('default backend, merging and conflicts', () => {
  it('defaultBackend answers unmatched paths and hosts', () => {
    const w = world([
      makeIngress(NS, 'ing', { 'a.com': [['/x', 'Prefix', 'svc-1', 80]] }, (i) => {
        i.spec!.defaultBackend = { service: { name: 'svc-3', port: { number: 80 } } };
      }),
    ]);
    expect(route(w, 'a.com', '/x')).toBe('svc-1');
    expect(route(w, 'a.com', '/y')).toBe('svc-3');
    expect(route(w, 'other.com', '/y')).toBe('svc-3');
  });
  it('several Ingresses for one host merge; on conflict the oldest wins', () => {
    const old = makeIngress(NS, 'old', { 'a.com': [['/p', 'Prefix', 'svc-1', 80]] }, (i) => {
      i.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    });
    const young = makeIngress(
      NS,
      'young',
      {
        'a.com': [
          ['/p', 'Prefix', 'svc-2', 80],
          ['/q', 'Prefix', 'svc-3', 80],
        ],
      },
      (i) => {
        i.metadata.creationTimestamp = '2026-02-01T00:00:00Z';
      },
    );
    // Order of input must not matter.
    for (const ings of [
      [old, young],
      [young, old],
    ]) {
      const w = world(ings);
      expect(route(w, 'a.com', '/p')).toBe('svc-1');
      expect(route(w, 'a.com', '/q')).toBe('svc-3');
      expect(buildRouteTable(w).warnings.some((x) => x.message.includes('older wins'))).toBe(true);
    }
  });
});

describe('class selection', () => {
  const other = makeIngressClass('nginx', false, 'k8s.io/ingress-nginx');
  const noClass = makeIngress(NS, 'noclass', { '': [['/', 'Prefix', 'svc-1', 80]] }, (i) => {
    delete i.spec!.ingressClassName;
  });
  const ours = makeIngress(NS, 'ours', {});
  const theirs = makeIngress(NS, 'theirs', {}, (i) => {
    i.spec!.ingressClassName = 'nginx';
  });
  it('serves its class; class-less only when our class is the default', () => {
    const names = (l: Ingress[]) => l.map((i) => i.metadata.name);
    expect(names(selectIngresses([noClass, ours, theirs], [cls, other]))).toEqual(['ours']);
    expect(
      names(selectIngresses([noClass, ours, theirs], [makeIngressClass('podnet', true), other])),
    ).toEqual(['noclass', 'ours']);
    expect(selectIngresses([ours], [cls], 'podnet.dev/ingress', 'another')).toEqual([]);
  });
});

describe('backends', () => {
  it('resolves service port → slice port by name; no ready endpoint → empty with reason', () => {
    const inputs: RouteInputs = {
      ingressClasses: [cls],
      ingresses: [
        makeIngress(NS, 'ing', {
          'a.com': [
            ['/web', 'Prefix', 'multi', 'web'],
            ['/admin', 'Prefix', 'multi', 9000],
            ['/down', 'Prefix', 'down', 80],
            ['/ghost', 'Prefix', 'ghost', 80],
          ],
        }),
      ],
      services: [
        makeService(NS, 'multi', [
          ['web', 80, 'http'],
          ['admin', 9000, 9443],
        ]),
        makeService(NS, 'down', [['', 80, 8080]]),
      ],
      endpointSlices: [
        makeSlice(
          NS,
          'multi',
          [
            ['10.0.0.1', true],
            ['10.0.0.2', false],
            ['10.0.0.3', true],
          ],
          [
            ['web', 8081],
            ['admin', 9443],
          ],
        ),
        makeSlice(NS, 'down', [['10.0.0.9', false]], [['', 8080]]),
      ],
      secrets: [],
    };
    const t = buildRouteTable(inputs);
    const be = (p: string) => {
      const m = t.lookup('a.com', p);
      if (m.kind !== 'route') throw new Error('no route');
      return m.backend;
    };
    expect(be('/web').endpoints).toEqual([
      { ip: '10.0.0.1', port: 8081 },
      { ip: '10.0.0.3', port: 8081 },
    ]);
    expect(be('/admin').endpoints.map((e) => e.port)).toEqual([9443, 9443]);
    expect(be('/down').endpoints).toEqual([]);
    expect(be('/down').reason).toMatch(/no ready endpoints/);
    expect(be('/ghost').reason).toMatch(/not found/);
  });
});

describe('annotations', () => {
  it('rewrite-target with capture groups', () => {
    const w = world([
      makeIngress(
        NS,
        'ing',
        { 'a.com': [['/something(/|$)(.*)', 'ImplementationSpecific', 'svc-1', 80]] },
        (i) => {
          i.metadata.annotations = { 'nginx.ingress.kubernetes.io/rewrite-target': '/$2' };
        },
      ),
    ]);
    const t = buildRouteTable(w);
    const m = t.lookup('a.com', '/something/new/x');
    expect(m.kind === 'route' && m.upstreamPath).toBe('/new/x');
    const m2 = t.lookup('a.com', '/something');
    expect(m2.kind === 'route' && m2.upstreamPath).toBe('/');
    expect(t.lookup('a.com', '/other').kind).toBe('none');
  });
  it('canary attaches to the main route with weight and header', () => {
    const main = makeIngress(NS, 'main', { 'a.com': [['/', 'Prefix', 'svc-1', 80]] });
    const canary = makeIngress(NS, 'canary', { 'a.com': [['/', 'Prefix', 'svc-2', 80]] }, (i) => {
      i.metadata.creationTimestamp = '2025-01-01T00:00:00Z'; // older, but canaries never win conflicts
      i.metadata.annotations = {
        'nginx.ingress.kubernetes.io/canary': 'true',
        'nginx.ingress.kubernetes.io/canary-weight': '30',
        'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary',
      };
    });
    const t = buildRouteTable(world([main, canary]));
    const m = t.lookup('a.com', '/');
    if (m.kind !== 'route') throw new Error('no route');
    expect(m.backend.service).toBe('svc-1');
    expect(m.route?.canary).toMatchObject({ weight: 30, header: 'x-canary' });
    expect(m.route?.canary?.backend.service).toBe('svc-2');
  });
  it('invalid values warn and fall back', () => {
    const w = world([
      makeIngress(NS, 'ing', { 'a.com': [['/', 'Prefix', 'svc-1', 80]] }, (i) => {
        i.metadata.annotations = { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' };
      }),
    ]);
    const t = buildRouteTable(w);
    expect(t.warnings[0]?.message).toMatch(/backend-protocol/);
  });
});

describe('path normalisation', () => {
  it.each([
    ['/public/../admin', '/admin'],
    ['/a/./b//c', '/a/b/c'],
    ['/%2e%2e/admin', '/admin'],
    ['/a/%2E%2e/b', '/b'],
    ['/../../etc', '/etc'],
    ['/a%2fb', '/a%2Fb'],
    ['/%41%7e', '/A~'],
    ['/a b', '/a%20b'],
    ['/foo/', '/foo/'],
    ['/foo/bar/..', '/foo/'],
  ])('%s → %s', (raw, want) => {
    expect(parseTarget(raw).path).toBe(want);
  });
  it.each(['/a%zz', '/a%00b', '*', 'example.com:443', '/a#frag'])('refuses %s', (raw) => {
    expect(() => parseTarget(raw)).toThrow();
  });
  it('encoded slash is not a path separator for Prefix matching', () => {
    const w = world([makeIngress(NS, 'ing', { 'a.com': [['/admin', 'Prefix', 'svc-1', 80]] })]);
    expect(route(w, 'a.com', '/admin%2Fx')).toBe('none');
    expect(route(w, 'a.com', '/public/../admin/x')).toBe('svc-1');
  });
  it('absolute-form yields the authority host', () => {
    expect(parseTarget('http://A.com:80/x?q=1')).toEqual({
      path: '/x',
      query: '?q=1',
      absoluteHost: 'a.com',
    });
  });
});
