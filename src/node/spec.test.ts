// Pure parts of the agent: image → workload, environment, DNS files, status, back-off, names.
import { describe, expect, it } from 'vitest';
import type { Pod, Service } from '../api/index.ts';
import { planWorkload } from './images.ts';
import { sandboxName } from './names.ts';
import {
  ContainerConfigError,
  containerEnv,
  expandVars,
  hostsFile,
  resolvConf,
  serviceEnv,
} from './podenv.ts';
import { restartDelay, shouldRestart } from './runtime.ts';
import { computePodStatus, podPhase } from './status.ts';

function makePod(f: (p: Pod) => void = () => {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u1', labels: { app: 'web' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'nginx:1.25' }] },
    status: { podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }], hostIP: '172.31.0.2' },
  };
  f(p);
  return p;
}
function makeService(ns: string, name: string, ip: string, ports: any[]): Service {
  return { metadata: { name, namespace: ns }, spec: { clusterIP: ip, ports } } as Service;
}

describe('planWorkload', () => {
  it('maps images to built-ins and honours command and agnhost subcommands', () => {
    expect(
      planWorkload({
        name: 'c',
        image: 'registry.k8s.io/e2e-test-images/agnhost:2.39',
        args: ['netexec', '--http-port=8080'],
      }),
    ).toEqual({
      kind: 'builtin',
      workload: 'netexec',
      args: ['--http-port=8080'],
    });
    expect(planWorkload({ name: 'c', image: 'agnhost', args: ['serve-hostname'] })).toMatchObject({
      workload: 'serve-hostname',
    });
    expect(planWorkload({ name: 'c', image: 'k8s.gcr.io/echoserver:1.10' })).toMatchObject({
      workload: 'netexec',
    });
    expect(planWorkload({ name: 'c', image: 'podnet/echo' })).toMatchObject({ workload: 'netexec' });
    expect(planWorkload({ name: 'c', image: 'docker.io/library/nginx:1.25' })).toMatchObject({
      workload: 'static',
    });
    expect(planWorkload({ name: 'c', image: 'httpd' })).toMatchObject({ workload: 'static' });
    expect(planWorkload({ name: 'c', image: 'registry.k8s.io/pause:3.9' })).toMatchObject({
      workload: 'pause',
    });
    expect(planWorkload({ name: 'c', image: 'busybox', command: ['sleep'], args: ['5'] })).toEqual({
      kind: 'command',
      argv: ['sleep', '5'],
    });
    const u = planWorkload({ name: 'c', image: 'redis:7' });
    expect(u).toMatchObject({ kind: 'unsupported', reason: 'ImageNotSupported' });
    expect((u as any).message).toContain('redis:7');
    expect(planWorkload({ name: 'c', image: 'agnhost', args: ['dns-server'] })).toMatchObject({
      kind: 'unsupported',
    });
  });
});

describe('container environment', () => {
  it('builds service links, fieldRefs, key refs and $(VAR) expansion in kubelet order', () => {
    const pod = makePod((p) => {
      p.spec!.containers[0].env = [
        { name: 'A', value: 'x' },
        { name: 'B', value: '$(A)-$(NOPE)-$$(A)' },
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } },
        { name: 'S', valueFrom: { secretKeyRef: { name: 'sec', key: 'p' } } },
        { name: 'REDIS_SERVICE_HOST', value: 'override' },
      ];
      p.spec!.containers[0].envFrom = [{ prefix: 'X_', configMapRef: { name: 'cfg' } }];
    });
    const env = containerEnv(pod, pod.spec!.containers[0], {
      configMaps: new Map<string, any>([
        ['cfg', { metadata: { name: 'cfg', namespace: 'shop' }, data: { k: 'v' } }],
      ]),
      secrets: new Map<string, any>([
        [
          'sec',
          { metadata: { name: 'sec', namespace: 'shop' }, data: { p: Buffer.from('pw').toString('base64') } },
        ],
      ]),
      services: [
        makeService('shop', 'redis-main', '10.96.0.20', [{ name: 'tcp-redis', port: 6379, protocol: 'TCP' }]),
        makeService('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }]),
        makeService('shop', 'headless', 'None', [{ port: 80 }]),
      ],
    });
    expect(env).toMatchObject({
      A: 'x',
      B: 'x-$(NOPE)-$(A)',
      NAME: 'web-1',
      IP: '10.244.1.5',
      APP: 'web',
      CM: 'v',
      S: 'pw',
      X_k: 'v',
      REDIS_MAIN_SERVICE_HOST: '10.96.0.20',
      REDIS_MAIN_SERVICE_PORT: '6379',
      REDIS_MAIN_SERVICE_PORT_TCP_REDIS: '6379',
      REDIS_MAIN_PORT: 'tcp://10.96.0.20:6379',
      REDIS_MAIN_PORT_6379_TCP: 'tcp://10.96.0.20:6379',
      REDIS_MAIN_PORT_6379_TCP_ADDR: '10.96.0.20',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      REDIS_SERVICE_HOST: 'override',
    });
    expect(Object.keys(env).some((k) => k.startsWith('HEADLESS'))).toBe(false);
  });

  it('fails with CreateContainerConfigError for a missing ConfigMap unless optional', () => {
    const pod = makePod((p) => {
      p.spec!.containers[0].env = [
        { name: 'CM', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } },
      ];
    });
    const src = { configMaps: new Map(), secrets: new Map(), services: [] };
    expect(() => containerEnv(pod, pod.spec!.containers[0], src)).toThrow(ContainerConfigError);
    pod.spec!.containers[0].env![0].valueFrom!.configMapKeyRef!.optional = true;
    expect(containerEnv(pod, pod.spec!.containers[0], src).CM).toBeUndefined();
  });

  it('expands only known variables', () => {
    expect(expandVars('$(A)$(B)', { A: '1' })).toBe('1$(B)');
    expect(serviceEnv([])).toEqual({});
  });
});

describe('resolv.conf and hosts', () => {
  it('ClusterFirst points at the cluster DNS with the namespace search path', () => {
    expect(resolvConf(makePod(), { clusterDNS: '10.96.0.10', clusterDomain: 'cluster.local' })).toBe(
      'search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
  });
  it('falls back to the node file without cluster DNS; None uses dnsConfig', () => {
    expect(resolvConf(makePod(), { clusterDomain: 'cluster.local' })).toBeUndefined();
    const p = makePod((x) => {
      x.spec!.dnsPolicy = 'None';
      x.spec!.dnsConfig = {
        nameservers: ['1.2.3.4'],
        searches: ['a.b'],
        options: [{ name: 'ndots', value: '2' }],
      };
    });
    expect(resolvConf(p, { clusterDomain: 'cluster.local' })).toBe(
      'search a.b\nnameserver 1.2.3.4\noptions ndots:2\n',
    );
  });
  it('hosts names the pod (FQDN with a subdomain) and its aliases', () => {
    const p = makePod((x) => {
      x.spec!.subdomain = 'db';
      x.spec!.hostAliases = [{ ip: '10.1.1.1', hostnames: ['foo', 'bar'] }];
    });
    const h = hostsFile(p, ['10.244.1.5'], 'cluster.local');
    expect(h).toContain('10.244.1.5\tweb-1.db.shop.svc.cluster.local\tweb-1');
    expect(h).toContain('10.1.1.1\tfoo\tbar');
    expect(h).toContain('127.0.0.1\tlocalhost');
  });
});

describe('status', () => {
  const cs = (over: any) => ({ name: 'c', ready: false, restartCount: 0, image: 'x', imageID: '', ...over });
  const view = (containers: any[], allFinished = false) => ({
    containers,
    allFinished,
    sandboxReady: true,
    podIPs: ['10.244.1.5'],
    hostIP: '172.31.0.2',
    startTime: '2026-01-01T00:00:00Z',
  });
  it('derives the phase as the kubelet does', () => {
    expect(podPhase(view([cs({ state: { waiting: { reason: 'ContainerCreating' } } })]))).toBe('Pending');
    expect(podPhase(view([cs({ state: { running: {} } })]))).toBe('Running');
    expect(
      podPhase(
        view([
          cs({
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 1 } },
          }),
        ]),
      ),
    ).toBe('Running');
    expect(podPhase(view([cs({ state: { terminated: { exitCode: 0 } } })], true))).toBe('Succeeded');
    expect(
      podPhase({ ...view([cs({ state: { waiting: { reason: 'PodInitializing' } } })]), initDone: false }),
    ).toBe('Pending');
    expect(podPhase({ ...view([cs({ state: { waiting: {} } })]), initDone: false, initFailed: true })).toBe(
      'Failed',
    );
    expect(
      podPhase(
        view(
          [cs({ state: { terminated: { exitCode: 0 } } }), cs({ state: { terminated: { exitCode: 2 } } })],
          true,
        ),
      ),
    ).toBe('Failed');
  });
  it('Ready follows the containers and keeps transition times while unchanged', () => {
    const pod = makePod();
    const s1 = computePodStatus(pod, view([cs({ state: { running: {} }, ready: false })]), 'T1');
    const ready1 = s1.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready1).toMatchObject({ status: 'False', reason: 'ContainersNotReady', lastTransitionTime: 'T1' });
    const s2 = computePodStatus(
      { ...pod, status: s1 },
      view([cs({ state: { running: {} }, ready: true })]),
      'T2',
    );
    expect(s2.conditions!.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      lastTransitionTime: 'T2',
    });
    expect(s2.conditions!.find((c) => c.type === 'PodScheduled')!.lastTransitionTime).toBe('T1');
    expect(s2).toMatchObject({
      phase: 'Running',
      podIP: '10.244.1.5',
      podIPs: [{ ip: '10.244.1.5' }],
      hostIP: '172.31.0.2',
      qosClass: 'BestEffort',
    });
  });
});

describe('restarts and names', () => {
  it('restarts at once, then backs off 10 s doubling to 5 min', () => {
    const b = { initialMs: 10_000, maxMs: 300_000, resetMs: 600_000 };
    expect([1, 2, 3, 4, 7, 20].map((n) => restartDelay(n, b))).toEqual([
      0, 10_000, 20_000, 40_000, 300_000, 300_000,
    ]);
    expect([
      shouldRestart('Always', 0),
      shouldRestart('OnFailure', 0),
      shouldRestart('OnFailure', 1),
      shouldRestart('Never', 1),
    ]).toEqual([true, false, true, false]);
  });
  it('names sandboxes deterministically and per uid', () => {
    const a = sandboxName('c1', { namespace: 'ns', name: 'p', uid: 'u1' });
    expect(a).toMatch(/^pn-c1-pod-[0-9a-f]{12}$/);
    expect(sandboxName('c1', { namespace: 'ns', name: 'p', uid: 'u1' })).toBe(a);
    expect(sandboxName('c1', { namespace: 'ns', name: 'p', uid: 'u2' })).not.toBe(a);
  });
});
