/**
 * kubectl 1.20 (Debian's, in .tools/) against podnet's OpenAPI v2 document, served by a test-only
 * HTTPS server on 127.0.0.1 (random port, self-signed cert, bearer token). Proves that plain
 * `kubectl apply` — default client-side validation, no `--validate=false` — accepts real manifests,
 * reports misspelt and mistyped fields, and builds strategic merge patches with our merge keys.
 * Needs no root: it skips only when kubectl 1.20 or openssl is missing.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeApiServer, startFakeApiServer } from './fake-apiserver.ts';

const KUBECTL = join(import.meta.dirname, '../../../.tools/kubectl');
const haveTools = existsSync(KUBECTL) && existsSync('/usr/bin/openssl');
// The machine's own kubectl (any version) runs the validation cases too when present: newer ones
// try /openapi/v3 first and fall back to the v2 document this server serves.
const VALIDATORS: Array<[string, string]> = [['kubectl 1.20', KUBECTL]];
if (existsSync('/usr/bin/kubectl')) VALIDATORS.push(['/usr/bin/kubectl', '/usr/bin/kubectl']);

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: podnet/http-echo
        command: ["/bin/echo-server", "--port", "8080"]
        ports:
        - {name: http, containerPort: 8080, protocol: TCP}
        env:
        - {name: MODE, value: "demo"}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 2
        livenessProbe:
          tcpSocket: {port: 8080}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 128Mi}
        securityContext:
          runAsNonRoot: true
          capabilities: {drop: [ALL]}
        volumeMounts:
        - {name: cfg, mountPath: /etc/web}
      volumes:
      - name: cfg
        configMap: {name: web-config}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app: web}}
      tolerations:
      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
`;

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  sessionAffinity: ClientIP
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}
`;

const INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations: {nginx.ingress.kubernetes.io/rewrite-target: /}
spec:
  ingressClassName: podnet
  tls:
  - hosts: [web.example]
    secretName: web-tls
  rules:
  - host: web.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: web, port: {number: 80}}
      - path: /api
        pathType: Exact
        backend:
          service: {name: api, port: {name: http}}
`;

const OTHERS = `apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {index.html: hello}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - {protocol: TCP, port: 8080}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: podnet}
spec: {controller: podnet.io/ingress}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true}
  nodeName: node-1
---
apiVersion: v1
kind: Secret
metadata: {name: web-tls}
type: kubernetes.io/tls
stringData: {tls.crt: x, tls.key: y}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  dnsPolicy: ClusterFirst
  containers:
  - name: curl
    image: curl
    args: [sleep, infinity]
`;

function kubectl(
  server: FakeApiServer,
  args: string[],
  bin = KUBECTL,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      bin,
      ['--kubeconfig', server.kubeconfig, '--cache-dir', join(server.dir, 'cache'), ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

function manifest(server: FakeApiServer, name: string, text: string): string {
  const p = join(server.dir, name);
  writeFileSync(p, text);
  return p;
}

for (const [label, bin] of VALIDATORS) {
  describe.skipIf(!haveTools || !existsSync(bin))(
    `${label} apply validates against the podnet OpenAPI document`,
    () => {
      const run = (server: FakeApiServer, args: string[]) => kubectl(server, args, bin);
      let server: FakeApiServer;
      beforeAll(async () => {
        server = await startFakeApiServer();
      });
      afterAll(async () => {
        await server?.close();
      });

      it('fetches the protobuf document and accepts a Deployment + Service + Ingress', async () => {
        const file = manifest(server, 'app.yaml', [DEPLOYMENT, SERVICE, INGRESS].join('---\n'));
        const r = await run(server, ['apply', '--dry-run=client', '-f', file]);
        expect(r.out).toContain('deployment.apps/web created (dry run)');
        expect(r.out).toContain('service/web created (dry run)');
        expect(r.out).toContain('ingress.networking.k8s.io/web created (dry run)');
        expect(r.code).toBe(0);
        const openapi = server.requests.find((q) => q.url.startsWith('/openapi/v2'));
        expect(openapi?.accept).toContain('application/com.github.proto-openapi.spec.v2@v1.0+protobuf');
      });

      it('accepts the other served kinds (ConfigMap, NetworkPolicy, IngressClass, EndpointSlice, Secret, Pod)', async () => {
        const r = await run(server, [
          'apply',
          '--dry-run=client',
          '-f',
          manifest(server, 'others.yaml', OTHERS),
        ]);
        expect(r.out).not.toContain('error');
        expect(r.out.match(/created \(dry run\)/g)).toHaveLength(6);
        expect(r.code).toBe(0);
      });

      it('reports a misspelt field as unknown, naming the schema', async () => {
        const bad = DEPLOYMENT.replace('  replicas: 2', '  replica: 2');
        const r = await run(server, ['apply', '--dry-run=client', '-f', manifest(server, 'typo.yaml', bad)]);
        expect(r.code).not.toBe(0);
        expect(r.out).toContain('unknown field "replica" in io.k8s.api.apps.v1.DeploymentSpec');
      });

      it('reports unknown fields deep inside containers and services', async () => {
        const bad = DEPLOYMENT.replace('containerPort: 8080', 'containerPrt: 8080');
        const r = await run(server, ['apply', '--dry-run=client', '-f', manifest(server, 'deep.yaml', bad)]);
        expect(r.code).not.toBe(0);
        expect(r.out).toContain('unknown field "containerPrt" in io.k8s.api.core.v1.ContainerPort');
        expect(r.out).toContain('missing required field "containerPort" in io.k8s.api.core.v1.ContainerPort');
        // kubectl stops at the first invalid document of a file, so the Service goes alone.
        const svc = SERVICE.replace('targetPort', 'targetport');
        const r2 = await run(server, ['apply', '--dry-run=client', '-f', manifest(server, 'svc.yaml', svc)]);
        expect(r2.code).not.toBe(0);
        expect(r2.out).toContain('unknown field "targetport" in io.k8s.api.core.v1.ServicePort');
      });

      it('reports a wrongly typed value', async () => {
        const bad = DEPLOYMENT.replace('replicas: 2', 'replicas: "two"');
        const r = await run(server, ['apply', '--dry-run=client', '-f', manifest(server, 'type.yaml', bad)]);
        expect(r.code).not.toBe(0);
        expect(r.out).toMatch(
          /invalid type for io\.k8s\.api\.apps\.v1\.DeploymentSpec\.replicas: got "string", expected "integer"/,
        );
      });

      it('accepts anything inside subtrees podnet does not model (securityContext, affinity)', async () => {
        const odd = DEPLOYMENT.replace(
          'runAsNonRoot: true',
          'runAsNonRoot: true\n          someFutureField: {a: [1, 2]}',
        );
        const r = await run(server, ['apply', '--dry-run=client', '-f', manifest(server, 'odd.yaml', odd)]);
        expect(r.out).toContain('deployment.apps/web created (dry run)');
        expect(r.code).toBe(0);
      });
    },
  );
}

describe.skipIf(!haveTools)('kubectl 1.20 apply builds strategic merge patches from the document', () => {
  const path = '/apis/apps/v1/namespaces/default/deployments/web';
  let server: FakeApiServer;
  const applied = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'web:1',
              env: [
                { name: 'A', value: '1' },
                { name: 'B', value: '2' },
              ],
            },
            { name: 'sidecar', image: 'side:1' },
          ],
        },
      },
    },
  };
  beforeAll(async () => {
    const live = structuredClone(applied) as any;
    live.metadata.uid = '0d9c5bde-0000-4000-8000-000000000001';
    live.metadata.resourceVersion = '7';
    live.metadata.annotations = {
      'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied),
    };
    server = await startFakeApiServer({ [path]: live });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('merges containers by name and env by name instead of replacing the lists', async () => {
    const next = structuredClone(applied) as any;
    next.spec.template.spec.containers[0].env[1].value = '3';
    next.spec.template.spec.containers[1].image = 'side:2';
    const r = await kubectl(server, ['apply', '-f', manifest(server, 'next.json', JSON.stringify(next))]);
    expect(r.out).toContain('deployment.apps/web configured');
    const patch = server.requests.find((q) => q.method === 'PATCH' && q.url.startsWith(path));
    expect(patch?.contentType).toBe('application/strategic-merge-patch+json');
    const body = JSON.parse(patch!.body);
    const podSpec = body.spec.template.spec;
    expect(podSpec['$setElementOrder/containers']).toEqual([{ name: 'web' }, { name: 'sidecar' }]);
    // Only the changed elements, identified by their merge key.
    expect(podSpec.containers).toEqual(
      expect.arrayContaining([
        { name: 'sidecar', image: 'side:2' },
        expect.objectContaining({ name: 'web', env: [{ name: 'B', value: '3' }] }),
      ]),
    );
    expect(podSpec.containers.find((c: any) => c.name === 'web')['$setElementOrder/env']).toEqual([
      { name: 'A' },
      { name: 'B' },
    ]);
  });
});
