// Registry strategy tests. Addresses: clusterIP 10.96.0.10, nodePorts 30080/30443.
import { describe, expect, it } from 'vitest';
import { applyDefaults } from './defaults.ts';
import { resolveResourceName } from './resources.ts';
import { prepareForCreate, prepareForUpdate } from './strategy.ts';
import type { KubeObject } from './types.ts';
import { validateUpdate } from './validation.ts';

const R = (n: string) => resolveResourceName(n)!;

function makeService(fill: (s: any) => void = () => {}): KubeObject {
  const o: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'web',
      namespace: 'default',
      uid: 'u1',
      creationTimestamp: '2026-01-01T00:00:00Z',
      generation: 1,
    },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] },
  };
  fill(o.spec);
  return o;
}

describe('prepareForCreate', () => {
  it('resets status, starts generation at 1 and folds stringData', () => {
    const s = makeService();
    s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
    s.metadata.generation = 7;
    prepareForCreate(R('svc'), s);
    expect(s.status).toBeUndefined();
    expect(s.metadata.generation).toBe(1);
    const sec: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      stringData: { pw: 'hunter2' },
      data: { a: 'YQ==' },
    };
    prepareForCreate(R('secrets'), sec);
    expect(sec.data).toEqual({ a: 'YQ==', pw: Buffer.from('hunter2').toString('base64') });
    expect(sec.stringData).toBeUndefined();
  });
});

describe('prepareForUpdate', () => {
  it('keeps status on spec writes and spec on status writes; bumps generation on spec change', () => {
    const old: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'default', generation: 3, uid: 'u' },
      spec: { replicas: 1 },
      status: { replicas: 1 },
    };
    const upd = structuredClone(old);
    delete upd.metadata.uid;
    upd.spec.replicas = 3;
    upd.status = { replicas: 99 };
    prepareForUpdate(R('deploy'), old, upd);
    expect(upd.status).toEqual({ replicas: 1 });
    expect(upd.metadata.generation).toBe(4);
    expect(upd.metadata.uid).toBe('u');
    const st = structuredClone(old);
    st.spec.replicas = 10;
    st.status = { replicas: 2 };
    prepareForUpdate(R('deploy'), old, st, 'status');
    expect(st.spec.replicas).toBe(1);
    expect(st.status).toEqual({ replicas: 2 });
    expect(st.metadata.generation).toBe(3);
  });

  it('carries a Service clusterIP and nodePorts over a replace that omits them', () => {
    const old = makeService((s) => {
      s.type = 'NodePort';
      s.clusterIP = '10.96.0.10';
      s.ports[0].nodePort = 30080;
    });
    applyDefaults(R('svc'), old);
    const replaced = makeService((s) => (s.type = 'NodePort'));
    prepareForUpdate(R('svc'), old, replaced);
    applyDefaults(R('svc'), replaced);
    expect(replaced.spec.clusterIP).toBe('10.96.0.10');
    expect(replaced.spec.clusterIPs).toEqual(['10.96.0.10']);
    expect(replaced.spec.ports[0].nodePort).toBe(30080);
    expect(validateUpdate(R('svc'), old, replaced)).toEqual([]);
  });

  it('drops nodePorts and traffic policy when a Service goes back to ClusterIP', () => {
    const old = makeService((s) => {
      s.type = 'NodePort';
      s.clusterIP = '10.96.0.10';
      s.ports[0].nodePort = 30080;
    });
    applyDefaults(R('svc'), old);
    const next = structuredClone(old);
    next.spec.type = 'ClusterIP';
    prepareForUpdate(R('svc'), old, next);
    applyDefaults(R('svc'), next);
    expect(next.spec.ports[0].nodePort).toBeUndefined();
    expect(next.spec.externalTrafficPolicy).toBeUndefined();
    expect(validateUpdate(R('svc'), old, next)).toEqual([]);
  });

  it('clears cluster IP fields when a Service becomes ExternalName', () => {
    const old = makeService((s) => (s.clusterIP = '10.96.0.10'));
    applyDefaults(R('svc'), old);
    const next = structuredClone(old);
    next.spec.type = 'ExternalName';
    next.spec.externalName = 'db.example.com';
    prepareForUpdate(R('svc'), old, next);
    applyDefaults(R('svc'), next);
    expect(next.spec.clusterIP).toBeUndefined();
    expect(next.spec.ipFamilies).toBeUndefined();
    expect(validateUpdate(R('svc'), old, next)).toEqual([]);
  });
});
