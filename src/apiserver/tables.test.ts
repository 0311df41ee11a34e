/**
 * Table printers, one kind at a time, with objects shaped like what a real cluster holds.
 * Address plan: pods 10.244.1.0/24 (node-1) and 10.244.2.0/24 (node-2), services 10.96.0.0/12,
 * nodes 172.31.0.11-12. The clock is pinned at NOW; ages are NOW minus a few seconds/minutes/days.
 */
import { describe, expect, it } from 'vitest';
import { type ResourceInfo, resolveResourceName } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { age, humanDuration, podStatusCells, printTable, renderTable, tableColumns } from './tables.ts';

const NOW = new Date('2026-01-10T12:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString().replace('.000Z', 'Z');

function res(name: string): ResourceInfo {
  const r = resolveResourceName(name);
  if (!r) throw new Error(name);
  return r;
}

function obj(apiVersion: string, kind: string, name: string, fn: (o: any) => void = () => {}): KubeObject {
  const o: any = {
    apiVersion,
    kind,
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: '42',
      creationTimestamp: ago(300),
    },
  };
  fn(o);
  return o;
}

function cells(resource: string, o: KubeObject): Record<string, unknown> {
  const t = renderTable(res(resource), [o], { now: NOW });
  return Object.fromEntries(t.columnDefinitions.map((c, i) => [c.name, t.rows[0]!.cells[i]]));
}

const running = (name: string, restarts = 0, extra: any = {}) => ({
  name,
  ready: true,
  restartCount: restarts,
  image: 'img',
  imageID: '',
  state: { running: { startedAt: ago(200) } },
  ...extra,
});

function makePod(name: string, fn: (p: any) => void = () => {}): KubeObject {
  return obj('v1', 'Pod', name, (p) => {
    p.spec = { nodeName: 'node-1', containers: [{ name: 'web', image: 'web:1' }] };
    p.status = {
      phase: 'Running',
      podIP: '10.244.1.5',
      podIPs: [{ ip: '10.244.1.5' }],
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
      containerStatuses: [running('web')],
    };
    fn(p);
  });
}

describe('humanDuration / age', () => {
  it.each([
    [0, '0s'],
    [5, '5s'],
    [119, '119s'],
    [120, '2m'],
    [182, '3m2s'],
    [600, '10m'],
    [179 * 60, '179m'],
    [3 * 3600, '3h'],
    [5 * 3600 + 30 * 60, '5h30m'],
    [8 * 3600, '8h'],
    [47 * 3600, '47h'],
    [3 * 86400, '3d'],
    [3 * 86400 + 4 * 3600, '3d4h'],
    [30 * 86400, '30d'],
    [(2 * 365 + 10) * 86400, '2y10d'],
    [9 * 365 * 86400, '9y'],
  ])('%i s is %s', (s, want) => {
    expect(humanDuration(s * 1000)).toBe(want);
  });

  it('tolerates small clock skew and flags large', () => {
    expect(humanDuration(-1500)).toBe('0s');
    expect(humanDuration(-5000)).toBe('<invalid>');
    expect(age(undefined, NOW)).toBe('<unknown>');
    expect(age(ago(65), NOW)).toBe('65s');
  });
});

describe('pods', () => {
  it('has kubectl columns, wide ones at priority 1', () => {
    const cols = tableColumns(res('pods'));
    expect(cols.map((c) => c.name)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
      'IP',
      'Node',
      'Nominated Node',
      'Readiness Gates',
    ]);
    expect(cols.filter((c) => c.priority === 1).map((c) => c.name)).toEqual([
      'IP',
      'Node',
      'Nominated Node',
      'Readiness Gates',
    ]);
    expect(cols[0]!.format).toBe('name');
  });

  it('shows a running pod', () => {
    expect(cells('pods', makePod('web-1'))).toEqual({
      Name: 'web-1',
      Ready: '1/1',
      Status: 'Running',
      Restarts: '0',
      Age: '5m',
      IP: '10.244.1.5',
      Node: 'node-1',
      'Nominated Node': '<none>',
      'Readiness Gates': '<none>',
    });
  });

  it('shows an unscheduled pod as Pending with no IP or node', () => {
    const p = makePod('p', (p) => {
      p.spec.nodeName = undefined;
      p.status = {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }],
      };
    });
    expect(cells('pods', p)).toMatchObject({ Ready: '0/1', Status: 'Pending', IP: '<none>', Node: '<none>' });
  });

  it('shows ContainerCreating while the sandbox is being set up', () => {
    const p = makePod('p', (p) => {
      p.status = {
        phase: 'Pending',
        containerStatuses: [
          { name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } },
        ],
      };
    });
    expect(cells('pods', p)).toMatchObject({ Ready: '0/1', Status: 'ContainerCreating', IP: '<none>' });
  });

  it('shows CrashLoopBackOff with restarts and when the last one happened', () => {
    const p = makePod('p', (p) => {
      p.status.containerStatuses = [
        {
          name: 'web',
          ready: false,
          restartCount: 4,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(30) } },
        },
      ];
    });
    expect(cells('pods', p)).toMatchObject({
      Ready: '0/1',
      Status: 'CrashLoopBackOff',
      Restarts: '4 (30s ago)',
    });
  });

  it('shows Completed for a finished pod and marks the row', () => {
    const p = makePod('job', (p) => {
      p.status.phase = 'Succeeded';
      p.status.containerStatuses = [
        {
          name: 'web',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, reason: 'Completed' } },
        },
      ];
    });
    const t = renderTable(res('pods'), [p], { now: NOW });
    expect(t.rows[0]!.cells.slice(1, 3)).toEqual(['0/1', 'Completed']);
    expect(t.rows[0]!.conditions).toEqual([expect.objectContaining({ type: 'Completed', status: 'True' })]);
  });

  it('shows Error/ExitCode/Signal for containers that died', () => {
    const term = (t: any) =>
      podStatusCells(
        makePod('p', (p) => {
          p.status.phase = 'Failed';
          p.status.containerStatuses = [
            { name: 'web', ready: false, restartCount: 0, state: { terminated: t } },
          ];
        }),
        NOW,
      ).status;
    expect(term({ exitCode: 2, reason: 'Error' })).toBe('Error');
    expect(term({ exitCode: 3 })).toBe('ExitCode:3');
    expect(term({ exitCode: 137, signal: 9 })).toBe('Signal:9');
  });

  it('shows Terminating once a deletion timestamp is set', () => {
    const p = makePod('p', (p) => {
      p.metadata.deletionTimestamp = ago(1);
    });
    expect(cells('pods', p)).toMatchObject({ Status: 'Terminating', Ready: '1/1' });
  });

  it('counts ready containers, and says NotReady when one completed while another runs', () => {
    const p = makePod('p', (p) => {
      p.spec.containers.push({ name: 'side', image: 'side:1' });
      p.status.conditions = [{ type: 'Ready', status: 'False' }];
      p.status.containerStatuses = [
        running('web'),
        {
          name: 'side',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, reason: 'Completed' } },
        },
      ];
    });
    expect(cells('pods', p)).toMatchObject({ Ready: '1/2', Status: 'NotReady' });
  });

  it('shows init container progress and failures', () => {
    const withInit = (st: any) =>
      makePod('p', (p) => {
        p.spec.initContainers = [
          { name: 'a', image: 'a' },
          { name: 'b', image: 'b' },
        ];
        p.status = {
          phase: 'Pending',
          conditions: [{ type: 'Initialized', status: 'False' }],
          initContainerStatuses: st,
          containerStatuses: [
            { name: 'web', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } },
          ],
        };
      });
    const done = {
      name: 'a',
      ready: true,
      restartCount: 0,
      state: { terminated: { exitCode: 0, reason: 'Completed' } },
    };
    expect(
      cells('pods', withInit([done, { name: 'b', ready: false, restartCount: 0, state: { running: {} } }]))
        .Status,
    ).toBe('Init:1/2');
    expect(
      cells(
        'pods',
        withInit([
          done,
          { name: 'b', ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } },
        ]),
      ),
    ).toMatchObject({ Status: 'Init:CrashLoopBackOff', Restarts: '2' });
    expect(
      cells(
        'pods',
        withInit([{ name: 'a', ready: false, restartCount: 0, state: { terminated: { exitCode: 1 } } }]),
      ).Status,
    ).toBe('Init:ExitCode:1');
  });

  it('counts a started sidecar (restartable init container) as a container', () => {
    const p = makePod('p', (p) => {
      p.spec.initContainers = [{ name: 'proxy', image: 'envoy', restartPolicy: 'Always' }];
      p.status.initContainerStatuses = [
        {
          name: 'proxy',
          ready: true,
          started: true,
          restartCount: 1,
          state: { running: {} },
          lastState: { terminated: { exitCode: 1, finishedAt: ago(100) } },
        },
      ];
      p.status.containerStatuses = [
        running('web', 2, { lastState: { terminated: { exitCode: 1, finishedAt: ago(40) } } }),
      ];
    });
    expect(cells('pods', p)).toMatchObject({ Ready: '2/2', Status: 'Running', Restarts: '3 (40s ago)' });
  });

  it('counts readiness gates that are true', () => {
    const p = makePod('p', (p) => {
      p.spec.readinessGates = [{ conditionType: 'example.com/lb' }, { conditionType: 'example.com/dns' }];
      p.status.conditions.push({ type: 'example.com/lb', status: 'True' });
      p.status.nominatedNodeName = 'node-2';
    });
    expect(cells('pods', p)).toMatchObject({ 'Readiness Gates': '1/2', 'Nominated Node': 'node-2' });
  });
});

describe('services', () => {
  const svc = (fn: (s: any) => void) =>
    obj('v1', 'Service', 'web', (s) => {
      s.spec = {
        type: 'ClusterIP',
        clusterIP: '10.96.12.7',
        clusterIPs: ['10.96.12.7'],
        selector: { app: 'web', tier: 'front' },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      };
      fn(s);
    });

  it('shows a ClusterIP service', () => {
    expect(
      cells(
        'svc',
        svc(() => {}),
      ),
    ).toEqual({
      Name: 'web',
      Type: 'ClusterIP',
      'Cluster-IP': '10.96.12.7',
      'External-IP': '<none>',
      'Port(s)': '80/TCP',
      Age: '5m',
      Selector: 'app=web,tier=front',
    });
  });

  it('shows node ports and several ports', () => {
    const s = svc((s) => {
      s.spec.type = 'NodePort';
      s.spec.ports = [
        { port: 80, nodePort: 30080, protocol: 'TCP' },
        { port: 53, nodePort: 30053, protocol: 'UDP' },
      ];
      s.spec.selector = undefined;
    });
    expect(cells('svc', s)).toMatchObject({ 'Port(s)': '80:30080/TCP,53:30053/UDP', Selector: '<none>' });
  });

  it('shows <pending> for a LoadBalancer without address, then the address', () => {
    const s = svc((s) => {
      s.spec.type = 'LoadBalancer';
    });
    expect(cells('svc', s)['External-IP']).toBe('<pending>');
    (s as any).status = {
      loadBalancer: { ingress: [{ hostname: 'lb.example' }, { ip: '172.31.0.100' }, { ip: '172.31.0.100' }] },
    };
    // A sorted set, as upstream's printer builds it.
    expect(cells('svc', s)['External-IP']).toBe('172.31.0.100,lb.example');
  });

  it('shows externalIPs, ExternalName and headless services', () => {
    expect(
      cells(
        'svc',
        svc((s) => (s.spec.externalIPs = ['192.0.2.1'])),
      )['External-IP'],
    ).toBe('192.0.2.1');
    const ext = svc((s) => {
      s.spec = { type: 'ExternalName', externalName: 'db.example.com' };
    });
    expect(cells('svc', ext)).toMatchObject({
      'Cluster-IP': '<none>',
      'External-IP': 'db.example.com',
      'Port(s)': '<none>',
    });
    const headless = svc((s) => {
      s.spec.clusterIP = 'None';
      s.spec.clusterIPs = ['None'];
    });
    expect(cells('svc', headless)['Cluster-IP']).toBe('None');
  });
});

describe('workloads', () => {
  const template = {
    metadata: { labels: { app: 'web' } },
    spec: {
      containers: [
        { name: 'web', image: 'web:1' },
        { name: 'log', image: 'fluent:2' },
      ],
    },
  };

  it('shows a deployment rolling out', () => {
    const d = obj('apps/v1', 'Deployment', 'web', (d) => {
      d.spec = { replicas: 3, selector: { matchLabels: { app: 'web' } }, template };
      d.status = { replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 };
    });
    expect(cells('deploy', d)).toEqual({
      Name: 'web',
      Ready: '2/3',
      'Up-to-date': 1,
      Available: 2,
      Age: '5m',
      Containers: 'web,log',
      Images: 'web:1,fluent:2',
      Selector: 'app=web',
    });
    // Upstream declares these counts as strings while sending integers; kubectl prints both alike.
    expect(tableColumns(res('deploy')).map((c) => c.type)).toEqual([
      'string',
      'string',
      'string',
      'string',
      'string',
      'string',
      'string',
      'string',
    ]);
  });

  it('shows a fresh deployment with no status as 0/N', () => {
    const d = obj('apps/v1', 'Deployment', 'web', (d) => {
      d.spec = {
        replicas: 2,
        selector: {
          matchLabels: { app: 'web' },
          matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'edge'] }],
        },
        template,
      };
    });
    expect(cells('deploy', d)).toMatchObject({
      Ready: '0/2',
      'Up-to-date': 0,
      Available: 0,
      Selector: 'app=web,tier in (edge,front)',
    });
  });

  it('shows a replicaset', () => {
    const rs = obj('apps/v1', 'ReplicaSet', 'web-7d4b9c', (r) => {
      r.spec = {
        replicas: 3,
        selector: { matchLabels: { app: 'web', 'pod-template-hash': '7d4b9c' } },
        template,
      };
      r.status = { replicas: 3, readyReplicas: 1 };
    });
    expect(cells('rs', rs)).toEqual({
      Name: 'web-7d4b9c',
      Desired: 3,
      Current: 3,
      Ready: 1,
      Age: '5m',
      Containers: 'web,log',
      Images: 'web:1,fluent:2',
      Selector: 'app=web,pod-template-hash=7d4b9c',
    });
  });
});

describe('nodes and namespaces', () => {
  const node = (fn: (n: any) => void = () => {}) =>
    obj('v1', 'Node', 'node-1', (n) => {
      n.metadata.namespace = undefined;
      n.metadata.creationTimestamp = ago(3 * 86400);
      n.metadata.labels = { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'node-1' };
      n.spec = { podCIDR: '10.244.1.0/24' };
      n.status = {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [
          { type: 'InternalIP', address: '172.31.0.11' },
          { type: 'Hostname', address: 'node-1' },
        ],
        nodeInfo: {
          kubeletVersion: 'v1.30.0-podnet',
          osImage: 'Debian GNU/Linux 12 (bookworm)',
          kernelVersion: '6.1.0-18-amd64',
          containerRuntimeVersion: 'podnet://0.1.0',
        },
      };
      fn(n);
    });

  it('shows a ready node', () => {
    expect(cells('nodes', node())).toEqual({
      Name: 'node-1',
      Status: 'Ready',
      Roles: 'control-plane',
      Age: '3d',
      Version: 'v1.30.0-podnet',
      'Internal-IP': '172.31.0.11',
      'External-IP': '<none>',
      'OS-Image': 'Debian GNU/Linux 12 (bookworm)',
      'Kernel-Version': '6.1.0-18-amd64',
      'Container-Runtime': 'podnet://0.1.0',
    });
  });

  it('shows NotReady, cordoned, unknown and role-less nodes', () => {
    const n = node((n) => {
      n.status.conditions[0].status = 'Unknown';
      n.spec.unschedulable = true;
      n.metadata.labels = { 'kubernetes.io/role': 'worker', 'node-role.kubernetes.io/ingress': '' };
    });
    expect(cells('nodes', n)).toMatchObject({
      Status: 'NotReady,SchedulingDisabled',
      Roles: 'ingress,worker',
    });
    const bare = node((n) => {
      n.status = {};
      n.metadata.labels = {};
    });
    expect(cells('nodes', bare)).toMatchObject({
      Status: 'Unknown',
      Roles: '<none>',
      'Internal-IP': '<none>',
      'OS-Image': '<unknown>',
    });
  });

  it('shows namespaces', () => {
    const ns = obj('v1', 'Namespace', 'kube-system', (n) => {
      n.status = { phase: 'Active' };
      n.metadata.creationTimestamp = ago(5 * 3600);
    });
    expect(cells('ns', ns)).toEqual({ Name: 'kube-system', Status: 'Active', Age: '5h' });
  });
});

describe('endpoints and endpointslices', () => {
  it('lists ready address:port pairs, three at most', () => {
    const ep = obj('v1', 'Endpoints', 'web', (e) => {
      e.subsets = [
        {
          addresses: [{ ip: '10.244.1.5' }, { ip: '10.244.2.7' }],
          notReadyAddresses: [{ ip: '10.244.1.9' }],
          ports: [
            { name: 'http', port: 8080, protocol: 'TCP' },
            { name: 'metrics', port: 9090, protocol: 'TCP' },
          ],
        },
      ];
    });
    expect(cells('ep', ep)).toEqual({
      Name: 'web',
      Endpoints: '10.244.1.5:8080,10.244.2.7:8080,10.244.1.5:9090 + 1 more...',
      Age: '5m',
    });
    expect(cells('ep', obj('v1', 'Endpoints', 'none')).Endpoints).toBe('<none>');
    const v6 = obj('v1', 'Endpoints', 'v6', (e) => {
      e.subsets = [{ addresses: [{ ip: 'fd00::5' }], ports: [{ port: 80 }] }];
    });
    expect(cells('ep', v6).Endpoints).toBe('[fd00::5]:80');
  });

  it('shows endpoint slices', () => {
    const s = obj('discovery.k8s.io/v1', 'EndpointSlice', 'web-abc12', (s) => {
      s.addressType = 'IPv4';
      s.ports = [{ name: 'http', port: 8080, protocol: 'TCP' }];
      s.endpoints = [
        { addresses: ['10.244.1.5'], conditions: { ready: true } },
        { addresses: ['10.244.2.7'], conditions: { ready: false } },
      ];
    });
    expect(cells('endpointslices', s)).toEqual({
      Name: 'web-abc12',
      AddressType: 'IPv4',
      Ports: '8080',
      Endpoints: '10.244.1.5,10.244.2.7',
      Age: '5m',
    });
    const empty = obj('discovery.k8s.io/v1', 'EndpointSlice', 'e', (s) => {
      s.addressType = 'IPv4';
      s.endpoints = [];
      s.ports = [{ name: 'http' }];
    });
    expect(cells('endpointslices', empty)).toMatchObject({ Ports: 'http', Endpoints: '<unset>' });
  });
});

describe('networking kinds', () => {
  it('shows ingresses', () => {
    const ing = obj('networking.k8s.io/v1', 'Ingress', 'web', (i) => {
      i.spec = {
        ingressClassName: 'podnet',
        tls: [{ hosts: ['a.example'], secretName: 'tls' }],
        rules: [{ host: 'a.example' }, { host: 'b.example' }],
      };
      i.status = { loadBalancer: { ingress: [{ ip: '172.31.0.11' }] } };
    });
    expect(cells('ing', ing)).toEqual({
      Name: 'web',
      Class: 'podnet',
      Hosts: 'a.example,b.example',
      Address: '172.31.0.11',
      Ports: '80, 443',
      Age: '5m',
    });
    const catchAll = obj('networking.k8s.io/v1', 'Ingress', 'all', (i) => {
      i.spec = { rules: [{ http: { paths: [] } }] };
    });
    expect(cells('ing', catchAll)).toMatchObject({ Class: '<none>', Hosts: '*', Address: '', Ports: '80' });
    const many = obj('networking.k8s.io/v1', 'Ingress', 'many', (i) => {
      i.spec = { rules: ['a', 'b', 'c', 'd', 'e'].map((h) => ({ host: `${h}.example` })) };
    });
    expect(cells('ing', many).Hosts).toBe('a.example,b.example,c.example + 2 more...');
  });

  it('shows ingress classes', () => {
    const ic = obj('networking.k8s.io/v1', 'IngressClass', 'podnet', (c) => {
      c.spec = { controller: 'podnet.io/ingress' };
    });
    expect(cells('ingressclasses', ic)).toEqual({
      Name: 'podnet',
      Controller: 'podnet.io/ingress',
      Parameters: '<none>',
      Age: '5m',
    });
    (ic as any).spec.parameters = {
      apiGroup: 'k8s.example.com',
      kind: 'IngressParameters',
      name: 'external-lb',
    };
    expect(cells('ingressclasses', ic).Parameters).toBe('IngressParameters.k8s.example.com/external-lb');
  });

  it('shows network policies', () => {
    const np = obj('networking.k8s.io/v1', 'NetworkPolicy', 'deny-all', (n) => {
      n.spec = { podSelector: {}, policyTypes: ['Ingress'] };
    });
    expect(cells('netpol', np)).toEqual({ Name: 'deny-all', 'Pod-Selector': '<none>', Age: '5m' });
    (np as any).spec.podSelector = {
      matchLabels: { app: 'db' },
      matchExpressions: [{ key: 'env', operator: 'Exists' }],
    };
    expect(cells('netpol', np)['Pod-Selector']).toBe('app=db,env');
  });
});

describe('config and events', () => {
  it('counts configmap and secret keys', () => {
    const cm = obj('v1', 'ConfigMap', 'cfg', (c) => {
      c.data = { a: '1', b: '2' };
      c.binaryData = { c: 'AA==' };
    });
    expect(cells('cm', cm)).toEqual({ Name: 'cfg', Data: 3, Age: '5m' });
    const s = obj('v1', 'Secret', 'tls', (s) => {
      s.type = 'kubernetes.io/tls';
      s.data = { 'tls.crt': 'eA==', 'tls.key': 'eQ==' };
    });
    expect(cells('secrets', s)).toEqual({ Name: 'tls', Type: 'kubernetes.io/tls', Data: 2, Age: '5m' });
    expect(cells('secrets', obj('v1', 'Secret', 'empty')).Type).toBe('Opaque');
  });

  it('shows events with kubectl columns (wide ones included in the cells)', () => {
    const ev = obj('v1', 'Event', 'web-1.17a2b3c4d5e6', (e) => {
      e.type = 'Warning';
      e.reason = 'BackOff';
      e.message = 'Back-off restarting failed container\n';
      e.involvedObject = {
        kind: 'Pod',
        name: 'web-1',
        namespace: 'default',
        fieldPath: 'spec.containers{web}',
      };
      e.source = { component: 'kubelet', host: 'node-1' };
      e.firstTimestamp = ago(600);
      e.lastTimestamp = ago(12);
      e.count = 7;
    });
    expect(cells('events', ev)).toEqual({
      'Last Seen': '12s',
      Type: 'Warning',
      Reason: 'BackOff',
      Object: 'pod/web-1',
      Subobject: 'spec.containers{web}',
      Source: 'kubelet, node-1',
      Message: 'Back-off restarting failed container',
      'First Seen': '10m',
      Count: 7,
      Name: 'web-1.17a2b3c4d5e6',
    });
    const series = obj('v1', 'Event', 'e2', (e) => {
      e.type = 'Normal';
      e.reason = 'Scheduled';
      e.eventTime = ago(90);
      e.series = { count: 3, lastObservedTime: ago(4) };
      e.reportingComponent = 'default-scheduler';
      e.involvedObject = { kind: 'Pod', name: 'web-2' };
    });
    expect(cells('events', series)).toMatchObject({
      'Last Seen': '4s',
      'First Seen': '90s',
      Count: 3,
      Source: 'default-scheduler',
    });
  });
});

describe('renderTable envelope', () => {
  const pods = [makePod('a'), makePod('b')];

  it('is a meta.k8s.io/v1 Table with PartialObjectMetadata rows by default', () => {
    (pods[0] as any).metadata.managedFields = [{ manager: 'kubectl' }];
    const t = renderTable(res('pods'), pods, { now: NOW, listMeta: { resourceVersion: '99' } });
    expect(t.kind).toBe('Table');
    expect(t.apiVersion).toBe('meta.k8s.io/v1');
    expect(t.metadata).toEqual({ resourceVersion: '99' });
    expect(t.rows).toHaveLength(2);
    expect(t.rows[0]!.object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: expect.objectContaining({
        name: 'a',
        namespace: 'default',
        uid: 'uid-a',
        resourceVersion: '42',
      }),
    });
    expect((t.rows[0]!.object as any).metadata.managedFields).toBeUndefined();
    for (const c of t.columnDefinitions) {
      expect(Object.keys(c).sort()).toEqual(['description', 'format', 'name', 'priority', 'type']);
      expect(c.description.length).toBeGreaterThan(5);
    }
  });

  it('honours includeObject None and Object', () => {
    expect(
      renderTable(res('pods'), pods, { now: NOW, includeObject: 'None' }).rows[0]!.object,
    ).toBeUndefined();
    expect(renderTable(res('pods'), pods, { now: NOW, includeObject: 'Object' }).rows[1]!.object).toBe(
      pods[1],
    );
  });

  it('uses the current time when no clock is given', () => {
    const fresh = makePod('f', (p) => {
      p.metadata.creationTimestamp = new Date(Date.now() - 3000).toISOString();
    });
    expect(renderTable(res('pods'), [fresh]).rows[0]!.cells[4]).toMatch(/^[2-4]s$/);
  });
});

describe('printTable', () => {
  const t = renderTable(
    res('pods'),
    [
      makePod('web-7d4b9c-x2x4z'),
      makePod('db-0', (p) => {
        p.status.podIPs = [{ ip: '10.244.2.17' }];
        p.spec.nodeName = 'node-2';
      }),
    ],
    { now: NOW },
  );

  it('lays out like kubectl get: upper-case headers, 3-space gaps, last column unpadded', () => {
    expect(printTable(t)).toBe(
      [
        'NAME               READY   STATUS    RESTARTS   AGE',
        'web-7d4b9c-x2x4z   1/1     Running   0          5m',
        'db-0               1/1     Running   0          5m',
        '',
      ].join('\n'),
    );
  });

  it('adds wide columns and drops headers on request', () => {
    expect(printTable(t, { wide: true, noHeaders: true })).toBe(
      [
        'web-7d4b9c-x2x4z   1/1   Running   0     5m    10.244.1.5    node-1   <none>   <none>',
        'db-0               1/1   Running   0     5m    10.244.2.17   node-2   <none>   <none>',
        '',
      ].join('\n'),
    );
  });

  it('pads short columns to six and cuts cells at a line break', () => {
    const out = printTable({
      columnDefinitions: [
        { name: 'A', type: 'string', format: '', description: '', priority: 0 },
        { name: 'B', type: 'integer', format: '', description: '', priority: 0 },
      ],
      rows: [{ cells: ['x', 1] }, { cells: ['two\nlines', null] }],
    });
    expect(out).toBe('A        B\nx        1\ntwo...   \n');
  });

  it('prints nothing for an empty table', () => {
    expect(printTable(renderTable(res('pods'), [], { now: NOW }))).toBe('');
  });
});
