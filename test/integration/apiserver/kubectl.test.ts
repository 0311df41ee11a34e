/**
 * Real kubectl binaries against the API server (memory store, 127.0.0.1, random port, generated
 * CA + bearer-token kubeconfig). Debian's kubectl 1.20 (.tools/kubectl) and the system kubectl
 * (/usr/bin/kubectl, 1.32) each run the same smoke: plain `apply -f` with default validation of a
 * Deployment + Service + Ingress, a second apply with changed fields, `get -o wide`, `get -o yaml`,
 * `get -w` seeing an event, `scale`, `label`, `describe`, `delete`. Every step is checked through
 * the API, not only by kubectl's output. No root needed; a missing binary skips its suite.
 * (No controllers run here, so pods are created directly.)
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { eventually, startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';

const KUBECTL_120 =
  process.env.PODNET_TEST_KUBECTL_120 ?? join(import.meta.dirname, '../../../.tools/kubectl');
const KUBECTL_SYSTEM = '/usr/bin/kubectl';
// On machines with the Google Cloud SDK, /usr/bin/kubectl dispatches to the release closest to the
// server's version; run 1.32 directly as well so a current client's discovery is exercised.
const KUBECTL_132 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.32';
const haveOpenssl = existsSync('/usr/bin/openssl');

function manifest(replicas: number, image: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ${image}
        ports:
        - {name: http, containerPort: 8080, protocol: TCP}
        env:
        - {name: MODE, value: demo}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: web.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port: {name: http}
`;
}

function pod(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', image: 'nginx' }] },
  });
}

function smoke(label: string, kubectl: string, o: { aggregatedDiscovery?: boolean } = {}) {
  describe.skipIf(!existsSync(kubectl) || !haveOpenssl)(`${label} (${kubectl})`, () => {
    let ts: TestServer;
    const run = (args: string[], input?: string) =>
      new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
        const child = execFile(
          kubectl,
          args,
          { env: { ...process.env, KUBECONFIG: ts.kubeconfigPath, HOME: ts.dir }, timeout: 30_000 },
          (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? ((err as any).code ?? 1) : 0 }),
        );
        if (input !== undefined) child.stdin!.end(input);
      });
    const ok = async (args: string[], input?: string) => {
      const r = await run(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    };
    const api = async (path: string) => (await ts.req('GET', path)).body;

    beforeAll(async () => {
      ts = await startTestServer();
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('discovers resources (falling back from aggregated discovery when the client asks for it)', async () => {
      const r = await run(['api-resources', '-v=8']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
      expect(r.stdout).toMatch(/pods\s+po\s+v1\s+true\s+Pod/);
      if (o.aggregatedDiscovery) expect(r.stderr).toMatch(/as=APIGroupDiscoveryList/);
    });

    it('apply -f creates a Deployment, Service and Ingress (default validation)', async () => {
      const file = join(ts.dir, 'app.yaml');
      writeFileSync(file, manifest(2, 'nginx:1.25'));
      const out = await ok(['apply', '-f', file]);
      expect(out).toMatch(/deployment.apps\/web created/);
      expect(out).toMatch(/service\/web created/);
      expect(out).toMatch(/ingress.networking.k8s.io\/web created/);
      const d = await api('/apis/apps/v1/namespaces/default/deployments/web');
      expect(d.spec.replicas).toBe(2);
      expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBeTruthy();
      expect((await api('/api/v1/namespaces/default/services/web')).spec.ports[0].port).toBe(80);
      expect(
        (await api('/apis/networking.k8s.io/v1/namespaces/default/ingresses/web')).spec.rules[0].host,
      ).toBe('web.example.test');
    });

    it('a second apply with changed fields patches them in and keeps the rest', async () => {
      const file = join(ts.dir, 'app.yaml');
      writeFileSync(file, manifest(3, 'nginx:1.26'));
      const out = await ok(['apply', '-f', file]);
      expect(out).toMatch(/deployment.apps\/web configured/);
      const d = await api('/apis/apps/v1/namespaces/default/deployments/web');
      expect(d.spec.replicas).toBe(3);
      const c = d.spec.template.spec.containers;
      expect(c).toHaveLength(1);
      expect(c[0].image).toBe('nginx:1.26');
      expect(c[0].ports[0].containerPort).toBe(8080);
      expect(c[0].env).toEqual([{ name: 'MODE', value: 'demo' }]);
      expect(d.metadata.generation).toBe(2);
    });

    it('get pods -o wide and get deploy -o yaml', async () => {
      await ok(['create', '-f', '-'], pod('web-a'));
      await ok(['create', '-f', '-'], pod('web-b'));
      const wide = await ok(['get', 'pods', '-o', 'wide']);
      // The server's Table carries kubectl's own pod columns; -o wide shows the priority-1 ones.
      expect(wide.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s/);
      expect(wide).toMatch(/web-a\s+0\/1\s+Pending\s+0\s/);
      const svc = await ok(['get', 'svc', 'web']);
      expect(svc.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE/);
      expect(wide).toMatch(/web-a/);
      expect(wide).toMatch(/web-b/);
      const y = parseYaml(await ok(['get', 'deploy', 'web', '-o', 'yaml']));
      expect(y.kind).toBe('Deployment');
      expect(y.spec.replicas).toBe(3);
      expect(y.metadata.uid).toBe(
        (await api('/apis/apps/v1/namespaces/default/deployments/web')).metadata.uid,
      );
    });

    it('get pods -w sees a new pod appear', async () => {
      let child: ChildProcess | undefined;
      try {
        let out = '';
        child = spawn(kubectl, ['get', 'pods', '-w'], {
          env: { ...process.env, KUBECONFIG: ts.kubeconfigPath, HOME: ts.dir },
        });
        child.stdout!.on('data', (b) => (out += b.toString()));
        await eventually(() => out.includes('web-a'), 15_000, 'initial list');
        await ok(['create', '-f', '-'], pod('web-watched'));
        await eventually(() => out.includes('web-watched'), 15_000, 'watch event for web-watched');
      } finally {
        child?.kill();
      }
    });

    it('scale deployment --replicas', async () => {
      const out = await ok(['scale', 'deployment', 'web', '--replicas=5']);
      expect(out).toMatch(/scaled/);
      expect((await api('/apis/apps/v1/namespaces/default/deployments/web')).spec.replicas).toBe(5);
    });

    it('label and describe', async () => {
      await ok(['label', 'deployment', 'web', 'tier=frontend']);
      expect((await api('/apis/apps/v1/namespaces/default/deployments/web')).metadata.labels).toEqual({
        app: 'web',
        tier: 'frontend',
      });
      const out = await ok(['describe', 'deployment', 'web']);
      expect(out).toMatch(/Name:\s+web/);
      expect(out).toMatch(/tier=frontend/);
      expect(out).toMatch(/Replicas:\s+5 desired/);
      expect(out).toMatch(/Image:\s+nginx:1.26/);
    });

    it('delete removes the objects', async () => {
      const file = join(ts.dir, 'app.yaml');
      const out = await ok(['delete', '-f', file]);
      expect(out).toMatch(/deployment.apps "web" deleted/);
      await ok(['delete', 'pod', 'web-a']);
      expect((await ts.req('GET', '/apis/apps/v1/namespaces/default/deployments/web')).status).toBe(404);
      expect((await ts.req('GET', '/api/v1/namespaces/default/services/web')).status).toBe(404);
      expect(
        (await ts.req('GET', '/apis/networking.k8s.io/v1/namespaces/default/ingresses/web')).status,
      ).toBe(404);
      expect((await ts.req('GET', '/api/v1/namespaces/default/pods/web-a')).status).toBe(404);
      expect((await ts.req('GET', '/api/v1/namespaces/default/pods/web-b')).status).toBe(200);
    });

    it('auth can-i answers yes for the single administrator', async () => {
      expect((await ok(['auth', 'can-i', 'create', 'pods', '-n', 'kube-system'])).trim()).toBe('yes');
    });

    it('reports a server error as kubectl does (404 for a missing object)', async () => {
      const r = await run(['get', 'deploy', 'nope']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/NotFound|not found/);
    });
  });
}

smoke('kubectl 1.20', KUBECTL_120);
smoke('system kubectl', KUBECTL_SYSTEM);
smoke('kubectl 1.32', KUBECTL_132, { aggregatedDiscovery: true });
