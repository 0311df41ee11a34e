/**
 * @kubernetes/client-node 1.4.0 (the official JavaScript client) against the API server over
 * HTTPS with the generated kubeconfig: typed CRUD calls, and an informer (list + watch with
 * bookmarks) that must see add, update and delete of a pod in that order. No root needed.
 */

import { existsSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, KubeConfig, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestServer, type TestServer } from '../../../src/apiserver/testing.ts';

describe.skipIf(!existsSync('/usr/bin/openssl'))('@kubernetes/client-node 1.4.0', () => {
  let ts: TestServer;
  let kc: KubeConfig;
  beforeAll(async () => {
    ts = await startTestServer();
    kc = new KubeConfig();
    kc.loadFromFile(ts.kubeconfigPath);
  });
  afterAll(async () => {
    await ts?.dispose();
  });

  const pod = (name: string): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'inf' } },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  });

  it('does typed CRUD and reads Scale and Status shapes', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedPod({ namespace: 'default', body: pod('typed') });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.status?.phase).toBe('Pending');
    const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=inf' });
    expect(list.items.map((p) => p.metadata?.name)).toContain('typed');
    await core.deleteNamespacedPod({ name: 'typed', namespace: 'default' });
    await expect(core.readNamespacedPod({ name: 'typed', namespace: 'default' })).rejects.toMatchObject({
      code: 404,
    });
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'd' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'd' } },
          template: {
            metadata: { labels: { app: 'd' } },
            spec: { containers: [{ name: 'c', image: 'nginx' }] },
          },
        },
      },
    });
    const scale = await apps.readNamespacedDeploymentScale({ name: 'd', namespace: 'default' });
    expect(scale.spec?.replicas).toBe(1);
    expect(scale.status?.selector).toBe('app=d');
  });

  it('an informer sees add, update and delete in order', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, '/api/v1/namespaces/default/pods', () =>
      core.listNamespacedPod({ namespace: 'default' }),
    );
    const seen: string[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) =>
      seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.step ?? ''}`.trim()),
    );
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    try {
      await core.createNamespacedPod({ namespace: 'default', body: pod('watched') });
      await eventually(() => seen.includes('add watched'), 10_000, 'add');
      const cur = await core.readNamespacedPod({ name: 'watched', namespace: 'default' });
      cur.metadata!.labels = { ...cur.metadata!.labels, step: 'two' };
      await core.replaceNamespacedPod({ name: 'watched', namespace: 'default', body: cur });
      await eventually(() => seen.includes('update watched two'), 10_000, 'update');
      await core.deleteNamespacedPod({ name: 'watched', namespace: 'default' });
      await eventually(() => seen.includes('delete watched'), 10_000, 'delete');
      expect(seen.filter((s) => s.includes('watched'))).toEqual([
        'add watched',
        'update watched two',
        'delete watched',
      ]);
      expect(informer.list('default').map((p) => p.metadata?.name)).not.toContain('watched');
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});
