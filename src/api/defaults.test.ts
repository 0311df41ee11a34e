// Defaulting tests. Addresses: Service clusterIPs 10.96.0.10 (IPv4) and fd00::10 (IPv6).
import { describe, expect, it } from 'vitest';
import { applyDefaults, defaultPullPolicy, qosClass } from './defaults.ts';
import { resolveResourceName } from './resources.ts';
import type { KubeObject } from './types.ts';

const res = (n: string) => resolveResourceName(n)!;
const obj = (kind: string, apiVersion: string, rest: Record<string, unknown>): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name: 'x', namespace: 'default' },
  ...rest,
});

describe('Service defaults', () => {
  it('fills type, affinity, protocol, targetPort, policies and families', () => {
    const s = obj('Service', 'v1', {
      spec: { ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns' }] },
    });
    applyDefaults(res('services'), s);
    expect(s.spec).toMatchObject({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 80 },
        { port: 53, protocol: 'UDP', targetPort: 'dns' },
      ],
    });
    expect(s.spec.externalTrafficPolicy).toBeUndefined();
  });

  it('sets externalTrafficPolicy for NodePort/LoadBalancer and mirrors clusterIPs', () => {
    const s = obj('Service', 'v1', {
      spec: { type: 'NodePort', clusterIP: 'fd00::10', ports: [{ port: 80 }] },
    });
    applyDefaults(res('svc'), s);
    expect(s.spec.externalTrafficPolicy).toBe('Cluster');
    expect(s.spec.clusterIPs).toEqual(['fd00::10']);
    expect(s.spec.ipFamilies).toEqual(['IPv6']);
    const lb = obj('Service', 'v1', { spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local' } });
    applyDefaults(res('svc'), lb);
    expect(lb.spec.externalTrafficPolicy).toBe('Local');
    expect(lb.spec.allocateLoadBalancerNodePorts).toBe(true);
  });

  it('defaults ClientIP affinity timeout and leaves ExternalName without IP fields', () => {
    const s = obj('Service', 'v1', { spec: { sessionAffinity: 'ClientIP' } });
    applyDefaults(res('svc'), s);
    expect(s.spec.sessionAffinityConfig.clientIP.timeoutSeconds).toBe(10800);
    const e = obj('Service', 'v1', { spec: { type: 'ExternalName', externalName: 'example.com' } });
    applyDefaults(res('svc'), e);
    expect(e.spec.ipFamilies).toBeUndefined();
    expect(e.spec.internalTrafficPolicy).toBeUndefined();
  });
});

describe('Pod defaults', () => {
  it('fills pod, container, port and probe defaults', () => {
    const p = obj('Pod', 'v1', {
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx',
            ports: [{ containerPort: 80 }],
            readinessProbe: { httpGet: { port: 80 } },
            resources: { limits: { cpu: '100m' } },
          },
          { name: 'side', image: 'busybox:1.36' },
        ],
      },
    });
    applyDefaults(res('pods'), p);
    expect(p.spec).toMatchObject({
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      serviceAccountName: 'default',
    });
    const [web, side] = p.spec.containers;
    expect(web).toMatchObject({
      imagePullPolicy: 'Always',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      readinessProbe: {
        httpGet: { path: '/', scheme: 'HTTP', port: 80 },
        timeoutSeconds: 1,
        periodSeconds: 10,
        successThreshold: 1,
        failureThreshold: 3,
      },
      resources: { requests: { cpu: '100m' } },
    });
    expect(side.imagePullPolicy).toBe('IfNotPresent');
    expect(p.status).toMatchObject({ phase: 'Pending', qosClass: 'Burstable' });
  });

  it('keeps explicit values and copies containerPort to hostPort under hostNetwork', () => {
    const p = obj('Pod', 'v1', {
      spec: {
        hostNetwork: true,
        restartPolicy: 'Never',
        containers: [{ name: 'a', image: 'x:latest', ports: [{ containerPort: 8080 }] }],
      },
    });
    applyDefaults(res('pods'), p);
    expect(p.spec.restartPolicy).toBe('Never');
    expect(p.spec.containers[0].ports[0].hostPort).toBe(8080);
    expect(p.spec.containers[0].imagePullPolicy).toBe('Always');
  });

  it('computes the QoS class', () => {
    expect(qosClass({ containers: [{ name: 'a' }] })).toBe('BestEffort');
    expect(
      qosClass({ containers: [{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' } } }] }),
    ).toBe('Guaranteed');
    expect(
      qosClass({
        containers: [
          { name: 'a', resources: { requests: { cpu: '1' }, limits: { cpu: '2', memory: '1Gi' } } },
        ],
      }),
    ).toBe('Burstable');
  });

  it('derives the pull policy from the tag', () => {
    expect(defaultPullPolicy('registry:5000/app')).toBe('Always');
    expect(defaultPullPolicy('registry:5000/app:v1')).toBe('IfNotPresent');
    expect(defaultPullPolicy('app@sha256:abc')).toBe('IfNotPresent');
  });
});

describe('apps and other defaults', () => {
  it('defaults a Deployment and its pod template', () => {
    const d = obj('Deployment', 'apps/v1', {
      spec: {
        selector: { matchLabels: { app: 'a' } },
        template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    });
    applyDefaults(res('deployments'), d);
    expect(d.spec).toMatchObject({
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
    expect(d.spec.template.spec.restartPolicy).toBe('Always');
    const r = obj('Deployment', 'apps/v1', { spec: { replicas: 0, strategy: { type: 'Recreate' } } });
    applyDefaults(res('deployments'), r);
    expect(r.spec.replicas).toBe(0);
    expect(r.spec.strategy.rollingUpdate).toBeUndefined();
  });

  it('defaults ReplicaSet, EndpointSlice, Secret, Namespace, NetworkPolicy', () => {
    const rs = obj('ReplicaSet', 'apps/v1', { spec: {} });
    applyDefaults(res('rs'), rs);
    expect(rs.spec.replicas).toBe(1);
    const es = obj('EndpointSlice', 'discovery.k8s.io/v1', { addressType: 'IPv4', ports: [{ port: 80 }] });
    applyDefaults(res('endpointslices'), es);
    expect(es.ports).toEqual([{ port: 80, name: '', protocol: 'TCP' }]);
    expect(es.endpoints).toEqual([]);
    const sec = obj('Secret', 'v1', {});
    applyDefaults(res('secrets'), sec);
    expect(sec.type).toBe('Opaque');
    const ns = obj('Namespace', 'v1', {});
    applyDefaults(res('ns'), ns);
    expect(ns.status.phase).toBe('Active');
    expect(ns.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'x' });
    const np = obj('NetworkPolicy', 'networking.k8s.io/v1', {
      spec: { podSelector: {}, egress: [{ ports: [{ port: 53 }] }] },
    });
    applyDefaults(res('netpol'), np);
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.egress[0].ports[0].protocol).toBe('TCP');
  });

  it('is idempotent', () => {
    const s = obj('Service', 'v1', { spec: { ports: [{ port: 80 }] } });
    applyDefaults(res('svc'), s);
    const once = structuredClone(s);
    applyDefaults(res('svc'), s);
    expect(s).toEqual(once);
  });
});
