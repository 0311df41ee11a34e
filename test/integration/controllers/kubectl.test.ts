// kubectl against the API server with the controllers running: `rollout status` waits on the
// Deployment's status the controller writes, `rollout history` reads the ReplicaSets' revision
// and change-cause annotations, `get endpoints` shows the legacy Endpoints. Both the pinned
// kubectl 1.20 (.tools/) and the system one, when present.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/api/kinds/apps.ts';
import type { Service } from '../../../src/api/kinds/core.ts';
import { R } from '../../../src/controllers/base.ts';
import { startCluster, type TestCluster } from './harness.ts';

const KUBECTLS = [join(process.cwd(), '.tools/kubectl'), '/usr/bin/kubectl'].filter((k) => existsSync(k));

let c: TestCluster;
beforeAll(async () => {
  if (KUBECTLS.length === 0) return;
  c = await startCluster({ kubeletIgnoresNode: true });
  await c.client.create<Service>(R.services, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await c.client.create<Deployment>(R.deployments, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', annotations: { 'kubernetes.io/change-cause': 'first' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'w', image: 'nginx:1' }] },
      },
    },
  });
});
afterAll(async () => {
  await c?.dispose();
});

// Async: the API server lives in this process, a synchronous exec would starve it.
const kubectl = async (bin: string, ...args: string[]) =>
  (
    await promisify(execFile)(bin, ['--kubeconfig', c.api.kubeconfigPath, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    })
  ).stdout;

describe.skipIf(KUBECTLS.length === 0)('kubectl with the controllers', () => {
  for (const bin of KUBECTLS) {
    it(`${bin}: rollout status, rollout history, get endpoints`, async () => {
      expect(await kubectl(bin, 'rollout', 'status', 'deployment/web', '--timeout=20s')).toContain(
        'deployment "web" successfully rolled out',
      );
      const hist = await kubectl(bin, 'rollout', 'history', 'deployment/web');
      expect(hist).toMatch(/REVISION\s+CHANGE-CAUSE\s*\n1\s+first/);
      const ep = await kubectl(bin, 'get', 'endpoints', 'web');
      expect(ep).toMatch(/web\s+10\.244\.250\.\d+:8080,10\.244\.250\.\d+:8080/);
    });
  }
});
