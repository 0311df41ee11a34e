// Slice building from a Service and pods. Address plan: pods 10.244.1.0/24 (IPv4) and
// fd00:10:244:1::/64 (IPv6).
import { describe, expect, it } from 'vitest';
import type { Pod, Service } from '../api/kinds/core.ts';
import { buildDesiredSlices, buildEndpointSubsets, resolvePorts } from './slices.ts';

function makePod(name: string, ip: string | string[], f: (p: Pod) => void = () => {}): Pod {
  const ips = Array.isArray(ip) ? ip : [ip];
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app: 'web' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: {
      phase: 'Running',
      podIP: ips[0],
      podIPs: ips.map((x) => ({ ip: x })),
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
  f(p);
  return p;
}

function makeService(f: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  f(s);
  return s;
}

describe('buildDesiredSlices', () => {
  it('sets ready/serving/terminating from the pod', () => {
    const pods = [
      makePod('ready', '10.244.1.2'),
      makePod('notready', '10.244.1.3', (p) => (p.status!.conditions![0]!.status = 'False')),
      makePod('terminating', '10.244.1.4', (p) => (p.metadata.deletionTimestamp = '2026-01-01T00:00:00Z')),
      makePod('noip', '', (p) => {
        p.status!.podIPs = [];
        delete p.status!.podIP;
      }),
      makePod('done', '10.244.1.5', (p) => (p.status!.phase = 'Succeeded')),
      makePod('other', '10.244.1.6', (p) => (p.metadata.labels = { app: 'other' })),
    ];
    const [s, ...rest] = buildDesiredSlices(makeService(), pods);
    expect(rest).toEqual([]);
    expect(s!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(s!.endpoints.map((e) => [e.targetRef?.name, e.conditions])).toEqual([
      ['ready', { ready: true, serving: true, terminating: false }],
      ['notready', { ready: false, serving: false, terminating: false }],
      ['terminating', { ready: false, serving: true, terminating: true }],
    ]);
    expect(s!.endpoints[0]).toMatchObject({
      addresses: ['10.244.1.2'],
      nodeName: 'node-1',
      targetRef: { kind: 'Pod', name: 'ready', namespace: 'default', uid: 'uid-ready' },
    });
  });

  it('puts pods with different numbers for a named port into different slices', () => {
    const pods = [
      makePod('a', '10.244.1.2'),
      makePod('b', '10.244.1.3', (p) => (p.spec!.containers[0]!.ports![0]!.containerPort = 9090)),
      makePod('c', '10.244.1.4', (p) => (p.spec!.containers[0]!.ports = [])),
    ];
    const slices = buildDesiredSlices(makeService(), pods);
    expect(
      slices.map((s) => [s.ports.map((p) => p.port), s.endpoints.map((e) => e.targetRef?.name)]),
    ).toEqual([
      [[], ['c']],
      [[8080], ['a']],
      [[9090], ['b']],
    ]);
    expect(
      resolvePorts(
        makeService((s) => (s.spec!.ports![0]!.targetPort = 7000)),
        pods[2]!,
      ),
    ).toEqual([{ name: 'http', port: 7000, protocol: 'TCP' }]);
  });

  it('makes one slice per address family and cuts at maxPerSlice', () => {
    const pods = Array.from({ length: 5 }, (_, i) =>
      makePod(`p${i}`, [`10.244.1.${10 - i}`, `fd00:10:244:1::${i + 1}`]),
    );
    const svc = makeService((s) => (s.spec!.ipFamilies = ['IPv4', 'IPv6']));
    const slices = buildDesiredSlices(svc, pods, 2);
    expect(slices.map((s) => [s.addressType, s.endpoints.length])).toEqual([
      ['IPv4', 2],
      ['IPv4', 2],
      ['IPv4', 1],
      ['IPv6', 2],
      ['IPv6', 2],
      ['IPv6', 1],
    ]);
    // sorted by address
    expect(slices[0]!.endpoints.map((e) => e.addresses[0])).toEqual(['10.244.1.6', '10.244.1.7']);
    expect(
      buildDesiredSlices(
        makeService(),
        Array.from({ length: 205 }, (_, i) => makePod(`q${i}`, `10.244.${Math.floor(i / 200)}.${i % 200}`)),
      ).map((s) => s.endpoints.length),
    ).toEqual([100, 100, 5]);
  });

  it('honours publishNotReadyAddresses and headless hostnames; no selector means no slices', () => {
    const pod = makePod('db-0', '10.244.1.2', (p) => {
      p.status!.conditions![0]!.status = 'False';
      p.spec!.hostname = 'db-0';
      p.spec!.subdomain = 'web';
    });
    const svc = makeService((s) => {
      s.spec!.clusterIP = 'None';
      s.spec!.publishNotReadyAddresses = true;
    });
    const [s] = buildDesiredSlices(svc, [pod]);
    expect(s!.endpoints[0]).toMatchObject({ hostname: 'db-0', conditions: { ready: true, serving: true } });
    expect(
      buildDesiredSlices(
        makeService((s) => delete s.spec!.selector),
        [pod],
      ),
    ).toEqual([]);
    expect(buildDesiredSlices(makeService(), [])).toEqual([
      { addressType: 'IPv4', ports: [], endpoints: [] },
    ]);
  });
});

describe('buildEndpointSubsets', () => {
  it('splits ready and not-ready addresses and leaves out terminating pods', () => {
    const subsets = buildEndpointSubsets(makeService(), [
      makePod('a', '10.244.1.3'),
      makePod('b', '10.244.1.2', (p) => (p.status!.conditions![0]!.status = 'False')),
      makePod('t', '10.244.1.4', (p) => (p.metadata.deletionTimestamp = '2026-01-01T00:00:00Z')),
    ]);
    expect(subsets).toEqual([
      {
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        addresses: [
          {
            ip: '10.244.1.3',
            nodeName: 'node-1',
            targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' },
          },
        ],
        notReadyAddresses: [
          {
            ip: '10.244.1.2',
            nodeName: 'node-1',
            targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b' },
          },
        ],
      },
    ]);
  });
});
