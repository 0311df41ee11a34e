// Address plan: node-1 LAN 172.31.0.11, pods 10.244.1.0/24 (bridge cni0 10.244.1.1); node-2 LAN
// 172.31.0.12, pods 10.244.2.0/24; node-10 has no podCIDR yet. Services in 10.96.0.0/12.
import { describe, expect, it } from 'vitest';
import type { Node, Pod, Service } from '../api/kinds/core.ts';
import type { EndpointSlice } from '../api/kinds/discovery.ts';
import type { Ingress } from '../api/kinds/networking.ts';
import { layoutGraph } from './layout.ts';
import { buildGraph, gatewayOf, type UiObjects } from './model.ts';

function makeNode(name: string, lanIP: string | undefined, podCIDR?: string, ready = true): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
    status: {
      addresses: lanIP ? [{ type: 'InternalIP', address: lanIP }] : [],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}

function makePod(name: string, f: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
    status: { phase: 'Pending' },
  };
  f(p);
  return p;
}

function running(node: string, ip: string, ready = true) {
  return (p: Pod) => {
    p.spec!.nodeName = node;
    p.status = {
      phase: 'Running',
      podIP: ip,
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    };
  };
}

function makeService(name: string, f: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.50',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
    },
  };
  f(s);
  return s;
}

function makeSlice(svc: string, endpoints: EndpointSlice['endpoints'], ns = 'default'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints,
  };
}

const empty: UiObjects = { nodes: [], pods: [], services: [], endpointSlices: [], ingresses: [] };

describe('gatewayOf', () => {
  it('is the first host address of the pod CIDR', () => {
    expect(gatewayOf('10.244.1.0/24')).toBe('10.244.1.1');
    expect(gatewayOf('10.244.16.0/20')).toBe('10.244.16.1');
    // A CIDR written with host bits still gives the network's first address.
    expect(gatewayOf('10.244.3.77/24')).toBe('10.244.3.1');
  });
  it('is undefined for what is not an IPv4 CIDR with room for hosts', () => {
    expect(gatewayOf(undefined)).toBeUndefined();
    expect(gatewayOf('fd00::/64')).toBeUndefined();
    expect(gatewayOf('10.0.0.0/31')).toBeUndefined();
    expect(gatewayOf('300.1.1.0/24')).toBeUndefined();
  });
});

describe('buildGraph', () => {
  it('puts each pod inside its node, with LAN IP, bridge and podCIDR, nodes in natural order', () => {
    const g = buildGraph('h7', {
      ...empty,
      nodes: [
        makeNode('node-10', '172.31.0.20'),
        makeNode('node-2', '172.31.0.12', '10.244.2.0/24', false),
        makeNode('node-1', '172.31.0.11', '10.244.1.0/24'),
      ],
      pods: [
        makePod('web-b', running('node-2', '10.244.2.7')),
        makePod('web-a', running('node-1', '10.244.1.5')),
        makePod('web-c', running('node-1', '10.244.1.6', false)),
      ],
    });
    expect(g.cluster).toBe('h7');
    expect(g.nodes.map((n) => n.name)).toEqual(['node-1', 'node-2', 'node-10']);
    const [n1, n2, n10] = g.nodes;
    expect(n1).toMatchObject({
      lanIP: '172.31.0.11',
      podCIDR: '10.244.1.0/24',
      bridge: { name: 'cni0', ip: '10.244.1.1' },
      ready: true,
    });
    expect(n1!.pods.map((p) => [p.name, p.ip, p.ready])).toEqual([
      ['web-a', '10.244.1.5', true],
      ['web-c', '10.244.1.6', false],
    ]);
    expect(n2!.ready).toBe(false);
    expect(n2!.pods.map((p) => p.id)).toEqual(['default/web-b']);
    expect(n10).toMatchObject({ podCIDR: undefined, bridge: { name: 'cni0', ip: undefined }, pods: [] });
    expect(g.pendingPods).toEqual([]);
  });

  it('keeps unscheduled pods and pods on unknown nodes apart, and marks terminating ones', () => {
    const g = buildGraph('h7', {
      ...empty,
      nodes: [makeNode('node-1', '172.31.0.11', '10.244.1.0/24')],
      pods: [
        makePod('new'),
        makePod('lost', running('node-9', '10.244.9.2')),
        makePod('going', (p) => {
          running('node-1', '10.244.1.9')(p);
          p.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
        }),
      ],
    });
    expect(g.pendingPods.map((p) => [p.name, p.nodeName, p.ip, p.phase])).toEqual([
      ['lost', 'node-9', '10.244.9.2', 'Running'],
      ['new', undefined, undefined, 'Pending'],
    ]);
    expect(g.nodes[0]!.pods[0]).toMatchObject({ name: 'going', terminating: true });
  });

  it('leads endpoints to pods by targetRef, else by pod IP, else by node LAN IP', () => {
    const g = buildGraph('h7', {
      ...empty,
      nodes: [
        makeNode('node-1', '172.31.0.11', '10.244.1.0/24'),
        makeNode('node-2', '172.31.0.12', '10.244.2.0/24'),
      ],
      pods: [
        makePod('web-a', running('node-1', '10.244.1.5')),
        makePod('web-b', running('node-2', '10.244.2.7')),
      ],
      services: [
        makeService('web'),
        makeService('kubernetes', (s) => {
          s.spec!.clusterIP = '10.96.0.1';
          s.spec!.ports = [{ port: 443, protocol: 'TCP', targetPort: 6443 }];
        }),
      ],
      endpointSlices: [
        makeSlice('web', [
          // A stale targetRef name loses to nothing: fall back to the IP.
          {
            addresses: ['10.244.2.7'],
            conditions: { ready: false },
            targetRef: { kind: 'Pod', name: 'gone' },
          },
          { addresses: ['10.244.1.5'], targetRef: { kind: 'Pod', namespace: 'default', name: 'web-a' } },
          { addresses: ['10.244.3.3'], conditions: { ready: true } },
        ]),
        makeSlice('kubernetes', [{ addresses: ['172.31.0.11'] }]),
        // An IPv6 slice and a slice of another namespace's Service do not mix in.
        { ...makeSlice('web', [{ addresses: ['fd00::1'] }]), addressType: 'IPv6' },
        makeSlice('web', [{ addresses: ['10.244.1.99'] }], 'other'),
      ],
    });
    expect(g.services.map((s) => s.id)).toEqual(['default/kubernetes', 'default/web']);
    const web = g.services[1]!;
    expect(web.ports).toEqual(['80/TCP→8080']);
    expect(web.endpoints).toEqual([
      { ip: '10.244.1.5', ready: true, target: { kind: 'pod', id: 'default/web-a' } },
      { ip: '10.244.2.7', ready: false, target: { kind: 'pod', id: 'default/web-b' } },
      { ip: '10.244.3.3', ready: true, target: undefined },
    ]);
    expect(g.services[0]!.endpoints).toEqual([
      { ip: '172.31.0.11', ready: true, target: { kind: 'node', name: 'node-1' } },
    ]);
  });

  it('shows NodePorts and LoadBalancer addresses', () => {
    const g = buildGraph('h7', {
      ...empty,
      services: [
        makeService('lb', (s) => {
          s.spec!.type = 'LoadBalancer';
          s.spec!.ports = [
            { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http', nodePort: 30080 },
            { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
          ];
          s.status = { loadBalancer: { ingress: [{ ip: '172.31.0.200' }] } };
        }),
      ],
    });
    expect(g.services[0]).toMatchObject({
      type: 'LoadBalancer',
      ports: ['80/TCP→http :30080', '53/UDP :30053'],
      externalIPs: ['172.31.0.200'],
      endpoints: [],
    });
  });

  it('flattens Ingress rules into host + path routes to Services', () => {
    const ing: Ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'site', namespace: 'shop' },
      spec: {
        tls: [{ hosts: ['a.example'], secretName: 'tls' }],
        defaultBackend: { service: { name: 'fallback', port: { number: 80 } } },
        rules: [
          {
            host: 'a.example',
            http: {
              paths: [
                {
                  path: '/api',
                  pathType: 'Prefix',
                  backend: { service: { name: 'api', port: { name: 'http' } } },
                },
                { pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 8080 } } } },
              ],
            },
          },
          {
            http: {
              paths: [
                { path: '/x', pathType: 'Exact', backend: { resource: { kind: 'Bucket', name: 'b' } } },
              ],
            },
          },
        ],
      },
    };
    const g = buildGraph('h7', { ...empty, ingresses: [ing] });
    expect(g.routes).toEqual([
      {
        id: 'shop/site#0',
        ingress: 'shop/site',
        host: 'a.example',
        path: '/api',
        pathType: 'Prefix',
        serviceId: 'shop/api',
        port: 'http',
        tls: true,
      },
      {
        id: 'shop/site#1',
        ingress: 'shop/site',
        host: 'a.example',
        path: '/',
        pathType: 'Prefix',
        serviceId: 'shop/web',
        port: '8080',
        tls: true,
      },
      {
        id: 'shop/site#2',
        ingress: 'shop/site',
        host: '*',
        path: '/x',
        pathType: 'Exact',
        serviceId: undefined,
        port: undefined,
        tls: false,
      },
      {
        id: 'shop/site#3',
        ingress: 'shop/site',
        host: '*',
        path: '/',
        pathType: 'default backend',
        serviceId: 'shop/fallback',
        port: '80',
        tls: false,
      },
    ]);
  });

  it('does not lead an endpoint to a hostNetwork pod that shares the node address', () => {
    const g = buildGraph('h7', {
      ...empty,
      nodes: [makeNode('node-1', '172.31.0.11', '10.244.1.0/24')],
      pods: [
        makePod('agent', (p) => {
          running('node-1', '172.31.0.11')(p);
          p.spec!.hostNetwork = true;
        }),
      ],
      services: [makeService('dns')],
      endpointSlices: [makeSlice('dns', [{ addresses: ['172.31.0.11'] }])],
    });
    expect(g.services[0]!.endpoints[0]!.target).toEqual({ kind: 'node', name: 'node-1' });
    expect(g.nodes[0]!.pods[0]!.hostNetwork).toBe(true);
  });
});

describe('layoutGraph', () => {
  const graph = buildGraph('h7', {
    nodes: [
      makeNode('node-1', '172.31.0.11', '10.244.1.0/24'),
      makeNode('node-2', '172.31.0.12', '10.244.2.0/24'),
    ],
    pods: [
      makePod('web-a', running('node-1', '10.244.1.5')),
      makePod('web-b', running('node-2', '10.244.2.7', false)),
      makePod('web-c', running('node-2', '10.244.2.8')),
      makePod('waiting'),
    ],
    services: [makeService('web')],
    endpointSlices: [
      makeSlice('web', [
        { addresses: ['10.244.1.5'] },
        { addresses: ['10.244.2.7'], conditions: { ready: false } },
      ]),
    ],
    ingresses: [
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'site', namespace: 'default' },
        spec: {
          rules: [
            {
              host: 'web.example',
              http: {
                paths: [
                  {
                    path: '/',
                    pathType: 'Prefix',
                    backend: { service: { name: 'web', port: { number: 80 } } },
                  },
                ],
              },
            },
          ],
        },
      },
    ],
  });
  const scene = layoutGraph(graph);
  const box = (id: string) => {
    const b = scene.boxes.find((x) => x.id === id);
    if (!b) throw new Error(`no box ${id}`);
    return b;
  };
  const inside = (inner: ReturnType<typeof box>, outer: ReturnType<typeof box>) =>
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.w <= outer.x + outer.w &&
    inner.y + inner.h <= outer.y + outer.h;

  it('draws every pod inside its node box, showing its IP', () => {
    expect(inside(box('pod:default/web-a'), box('node:node-1'))).toBe(true);
    expect(inside(box('pod:default/web-b'), box('node:node-2'))).toBe(true);
    expect(inside(box('pod:default/web-c'), box('node:node-2'))).toBe(true);
    expect(inside(box('pod:default/web-b'), box('node:node-1'))).toBe(false);
    expect(box('pod:default/web-a').rows[0]).toBe('10.244.1.5 · Running');
    expect(box('pod:default/web-b').state).toBe('warn');
    expect(box('node:node-1').rows).toEqual(['eth0 172.31.0.11', 'cni0 10.244.1.1', 'podCIDR 10.244.1.0/24']);
    expect(inside(box('pod:default/waiting'), box('pending:'))).toBe(true);
    expect(box('pod:default/waiting').rows[0]).toBe('no IP yet · Pending');
  });

  it('stacks routes above Services above nodes above the LAN, with no overlapping columns', () => {
    const route = box('route:default/site#0');
    const svc = box('service:default/web');
    const n1 = box('node:node-1');
    const n2 = box('node:node-2');
    const lan = box('lan:');
    expect(route.y + route.h).toBeLessThan(svc.y);
    expect(svc.y + svc.h).toBeLessThan(n1.y);
    expect(n1.x + n1.w).toBeLessThan(n2.x);
    expect(Math.max(n1.y + n1.h, n2.y + n2.h)).toBeLessThan(lan.y);
    expect(lan.x).toBeLessThanOrEqual(n1.x);
    expect(lan.x + lan.w).toBeGreaterThanOrEqual(n2.x + n2.w);
    for (const b of scene.boxes) {
      expect(b.x + b.w).toBeLessThanOrEqual(scene.width);
      expect(b.y + b.h).toBeLessThanOrEqual(scene.height);
    }
  });

  it('links route → Service and Service → each endpoint pod, dashed when not ready', () => {
    const links = scene.links.map((l) => [l.kind, l.from, l.to, l.ready]);
    expect(links).toEqual([
      ['lan', 'node:node-1', 'lan:', true],
      ['lan', 'node:node-2', 'lan:', true],
      ['route', 'route:default/site#0', 'service:default/web', true],
      ['endpoint', 'service:default/web', 'pod:default/web-a', true],
      ['endpoint', 'service:default/web', 'pod:default/web-b', false],
    ]);
    const toPod = scene.links.find((l) => l.to === 'pod:default/web-a')!;
    const pod = box('pod:default/web-a');
    // Ends at the pod's left edge, at its middle; starts at the bottom of the Service.
    expect([toPod.x2, toPod.y2]).toEqual([pod.x, pod.y + pod.h / 2]);
    const svc = box('service:default/web');
    expect(toPod.y1).toBe(svc.y + svc.h);
  });

  it('wraps many Services into rows that stay within the canvas', () => {
    const many = buildGraph('h7', {
      ...empty,
      nodes: [makeNode('node-1', '172.31.0.11', '10.244.1.0/24')],
      services: Array.from({ length: 9 }, (_, i) => makeService(`s${i}`)),
    });
    const s = layoutGraph(many);
    const cards = s.boxes.filter((b) => b.kind === 'service');
    expect(new Set(cards.map((c) => c.y)).size).toBeGreaterThan(1);
    for (const c of cards) expect(c.x + c.w).toBeLessThanOrEqual(s.width);
    // No two cards overlap.
    for (const a of cards)
      for (const b of cards)
        if (a !== b)
          expect(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
  });
});
