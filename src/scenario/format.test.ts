// Parsing and validation of scenario files: defaults, the cluster section through the cluster
// file's resolver, manifests inline / by file / as objects, every step kind's short and long
// forms, and errors that name file:line:col and the field path. No cluster, no root.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ScenarioError } from './fields.ts';
import { loadScenario, parseScenario } from './format.ts';
import { SCHEMA_PATH, schemaText } from './schema.ts';

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: c, image: agnhost }] }`;

/** A scenario with `steps` (YAML lines, indented 2) under a fixed header. */
function file(steps: string, extra = ''): string {
  return `name: t
cluster: { nodes: 1 }
${extra}steps:
${steps}`;
}

function errorOf(text: string, name = 'f.yaml'): ScenarioError {
  try {
    parseScenario(text, name, '/tmp');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return e as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

const tmp = mkdtempSync(join(tmpdir(), 'pn-h2-fmt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseScenario: top level and cluster', () => {
  it('fills defaults: namespace default, 5 minute timeout, cluster as podnet up', () => {
    const sc = parseScenario(file('  - wait: deployment/web\n'), 'a.yaml', '/tmp');
    expect(sc.name).toBe('t');
    expect(sc.namespace).toBe('default');
    expect(sc.timeoutMs).toBe(300_000);
    expect(sc.cluster.nodes).toHaveLength(1);
    expect(sc.cluster.proxyMode).toBe('iptables');
    expect(sc.cluster.serviceCIDR).toBe('10.96.0.0/12');
    expect(sc.clusterNamed).toBe(false);
    expect(sc.steps[0]).toMatchObject({
      kind: 'wait',
      index: 0,
      line: 4,
      eventuallyMs: 0,
      expectFailure: false,
    });
  });

  it('names the line and column of a bad cluster field, with its path under cluster', () => {
    const e = errorOf('name: t\ncluster:\n  nodes: 1\n  proxyMode: ipvs\nsteps:\n  - wait: pod/x\n');
    expect(e.message).toMatch(
      /^f\.yaml:4:14: cluster\.proxyMode: "ipvs" is not supported: use iptables, nftables, userspace$/,
    );
  });

  it('reports an unknown top-level field at its key', () => {
    const e = errorOf('name: t\nstepz: []\n');
    expect(e.message).toBe(
      'f.yaml:2:1: stepz: unknown field (known: name, description, cluster, namespace, timeout, manifests, steps)',
    );
  });

  it('requires name and a non-empty list of steps', () => {
    expect(errorOf('cluster: {}\nsteps: [{wait: pod/x}]\n').message).toMatch(/name: required/);
    expect(errorOf('name: t\nsteps: []\n').message).toMatch(
      /^f\.yaml:2:8: steps: must be a non-empty list of steps$/,
    );
  });

  it('rejects YAML syntax errors with a position', () => {
    expect(errorOf('name: t\nsteps:\n  - wait: {for: ready\n').message).toMatch(/^f\.yaml:\d+:\d+: /);
  });

  it('rejects two documents in one scenario', () => {
    expect(errorOf('name: t\n---\nname: u\n').message).toMatch(/one YAML document/);
  });
});

describe('parseScenario: manifests', () => {
  it('reads inline multi-document YAML, objects and files (relative to the scenario)', () => {
    writeFileSync(
      join(tmp, 'svc.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n',
    );
    const text = `name: t
manifests:
  - |
${DEPLOY.split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: { name: cm }
  - { apiVersion: v1, kind: Namespace, metadata: { name: other } }
  - file: svc.yaml
steps:
  - wait: deployment/web
`;
    writeFileSync(join(tmp, 's.yaml'), text);
    const sc = loadScenario(join(tmp, 's.yaml'));
    expect(sc.manifests.map((m) => `${m.obj.kind}/${m.obj.metadata.name}`)).toEqual([
      'Deployment/web',
      'ConfigMap/cm',
      'Namespace/other',
      'Service/web',
    ]);
    expect(sc.manifests[3].res.plural).toBe('services');
  });

  it('names the manifest entry when a file is missing or an object has no kind', () => {
    expect(errorOf(file('  - wait: pod/x\n', 'manifests:\n  - file: nope.yaml\n')).message).toMatch(
      /^f\.yaml:4:11: manifests\[0\]\.file: cannot read \/tmp\/nope\.yaml: ENOENT$/,
    );
    expect(
      errorOf(file('  - wait: pod/x\n', 'manifests:\n  - { apiVersion: v1, metadata: { name: x } }\n'))
        .message,
    ).toMatch(/^f\.yaml:4:5: manifests\[0\]: .*kind is required/);
  });
});

describe('parseScenario: steps', () => {
  it('the example of the brief: a bad count names file, line, column and path', () => {
    const e = errorOf(
      file(`  - wait: deployment/web
  - exec: { in: node:node-1, command: "true" }
  - request:
      from: outside
      to: clusterip:web
      count: 0
`),
      'quickstart.yaml',
    );
    expect(e.message).toBe(
      'quickstart.yaml:9:14: steps[2].request.count: must be a positive integer, got number 0',
    );
    expect(e).toMatchObject({
      line: 9,
      col: 14,
      fieldPath: 'steps[2].request.count',
      code: 'PN_ERR_SCENARIO',
    });
  });

  it('accepts the short scalar forms and reports their errors at the scalar', () => {
    const sc = parseScenario(file('  - delete: pod/web-1\n  - wait: service/web\n'), 'f.yaml', '/tmp');
    expect(sc.steps.map((s) => s.name)).toEqual(['delete pod/web-1', 'wait for service/web ready']);
    expect(errorOf(file('  - delete: gizmo/x\n')).message).toBe(
      'f.yaml:4:13: steps[0].delete: "gizmo" is not a known resource kind (like pod, deployment, service)',
    );
  });

  it('rejects an unknown step kind, two kinds in one step, and a step with no kind', () => {
    expect(errorOf(file('  - teleport: {}\n')).message).toMatch(
      /^f\.yaml:4:5: steps\[0\]\.teleport: unknown step kind \(known: apply, delete, /,
    );
    expect(errorOf(file('  - wait: pod/x\n    delete: pod/x\n')).message).toMatch(
      /one step has one kind \(found wait and delete\)/,
    );
    expect(errorOf(file('  - name: lonely\n')).message).toMatch(/steps\[0\]: names no step kind/);
  });

  it('parses common fields: name, eventually, interval, expectFailure', () => {
    const sc = parseScenario(
      file(
        '  - name: hello\n    eventually: 10s\n    interval: 250ms\n    expectFailure: true\n    wait: pod/x\n',
      ),
      'f.yaml',
      '/tmp',
    );
    expect(sc.steps[0]).toMatchObject({
      name: 'hello',
      eventuallyMs: 10_000,
      intervalMs: 250,
      expectFailure: true,
    });
    expect(errorOf(file('  - eventually: soon\n    wait: pod/x\n')).message).toMatch(
      /steps\[0\]\.eventually: must be a duration like 500ms, 10s, 2m \(or seconds\), got string "soon"/,
    );
  });

  it('request: defaults, targets, expectations and their cross-field checks', () => {
    const sc = parseScenario(
      file(`  - request:
      from: pod:app=client@node-1
      to: nodeport:web
      node: node-2
      count: 20
      expect:
        backends: { selector: app=web, all: true, maxShare: 0.6 }
        sourceIP: node
`),
      'f.yaml',
      '/tmp',
    );
    expect(sc.steps[0].spec).toMatchObject({
      proto: 'http',
      count: 20,
      timeoutMs: 2000,
      node: 'node-2',
      expect: {
        result: 'ok',
        backendsSelector: 'app=web',
        backendsAll: true,
        maxShare: 0.6,
        sourceIP: 'node',
      },
    });
    expect(sc.steps[0].name).toBe('HTTP nodeport:web from pod:app=client@node-1 ×20');
    const bad = (body: string) => errorOf(file(`  - request:\n${body}`)).message;
    expect(bad('      from: outside\n      to: www.example.com\n')).toMatch(
      /steps\[0\]\.request\.to: "www\.example\.com" is not a target/,
    );
    expect(bad('      from: mars\n      to: pod:x\n')).toMatch(/request\.from: "mars" is not a place/);
    expect(bad('      from: outside\n      to: clusterip:a\n      protocol: sctp\n')).toMatch(
      /protocol: must be one of http, https, tcp, udp, dns/,
    );
    expect(bad('      from: outside\n      to: clusterip:a\n      protocol: tcp\n      path: /x\n')).toMatch(
      /request\.path: only with protocol http/,
    );
    expect(bad('      from: outside\n      to: clusterip:a\n      node: node-1\n')).toMatch(
      /request\.node: only with a nodeport: target/,
    );
    expect(
      bad('      from: outside\n      to: clusterip:a\n      expect: { backends: { all: true } }\n'),
    ).toMatch(/request\.expect\.backends\.all: all: true needs selector/);
    expect(
      bad('      from: outside\n      to: clusterip:a\n      expect: { sourceIP: somewhere }\n'),
    ).toMatch(/expect\.sourceIP: "somewhere" is not one of/);
    expect(
      bad('      from: outside\n      to: clusterip:a\n      expect: { backends: { selector: "a=(" } }\n'),
    ).toMatch(/backends\.selector: "a=\(" is not a label selector/);
    expect(bad('      from: outside\n      to: clusterip:a\n      during: {}\n')).toMatch(
      /request\.during: give rollout: deployment\/NAME or duration:/,
    );
    expect(
      bad('      from: outside\n      to: clusterip:a\n      expect: { addresses: [1.2.3.4] }\n'),
    ).toMatch(/addresses: only with protocol: dns/);
  });

  it('dns: targets imply protocol dns; udp picks its message from the expectation', () => {
    const sc = parseScenario(
      file(`  - request: { from: pod:c, to: "dns:web", expect: { result: nxdomain } }
  - request: { from: pod:c, to: clusterip:web, protocol: udp, expect: { sourceIP: client } }
`),
      'f.yaml',
      '/tmp',
    );
    expect(sc.steps[0].spec).toMatchObject({ proto: 'dns', expect: { result: 'nxdomain' } });
    expect(sc.steps[1].spec).toMatchObject({ proto: 'udp', message: 'clientip' });
  });

  it('wait, exec, kill, partition, scale: fields and their errors', () => {
    const sc = parseScenario(
      file(`  - wait: { for: endpoints, target: service/web, count: 2, timeout: 5s }
  - exec: { in: pod:web-1, command: [ip, route], expect: { exitCode: 0, contains: default } }
  - kill: { container: pod:app=web }
  - kill: { agent: node:node-2, signal: TERM }
  - partition: { node: node-2 }
  - scale: { target: deployment/web, replicas: 0 }
`),
      'f.yaml',
      '/tmp',
    );
    expect(sc.steps.map((s) => s.spec)).toMatchObject([
      { for: 'endpoints', count: 2, timeoutMs: 5000 },
      { in: 'pod:web-1', command: ['ip', 'route'], exitCode: 0, contains: ['default'] },
      { what: 'container', ref: 'pod:app=web', signal: 'KILL' },
      { what: 'agent', ref: 'node:node-2', signal: 'TERM' },
      { node: 'node-2', link: 'down' },
      { replicas: 0 },
    ]);
    const bad = (step: string) => errorOf(file(`  - ${step}\n`)).message;
    expect(bad('wait: { for: endpoints, target: deployment/web }')).toMatch(
      /wait\.target: for: endpoints needs target: service\/NAME/,
    );
    expect(bad('wait: { for: field, target: service/web }')).toMatch(/wait\.field: required/);
    expect(bad('wait: { target: pods }')).toMatch(
      /wait\.target: must name the object: pods\/NAME \(or give selector:\)/,
    );
    expect(bad('kill: { pod: pod:x, agent: node:n }')).toMatch(
      /steps\[0\]\.kill: give exactly one of container:, pod:, agent:/,
    );
    expect(bad('kill: { agent: pod:x }')).toMatch(/kill\.agent: must be node:NAME/);
    expect(bad('scale: { target: service/web, replicas: 1 }')).toMatch(
      /scale\.target: services cannot be scaled/,
    );
    expect(bad('scale: { target: deployment/web, replicas: -1 }')).toMatch(
      /scale\.replicas: must be a non-negative integer/,
    );
    expect(bad('exec: { in: node:n, command: [] }')).toMatch(/exec\.command: must not be empty/);
    expect(bad('exec: { in: node:n, command: x, expect: { exitcode: 1 } }')).toMatch(
      /^f\.yaml:4:47: steps\[0\]\.exec\.expect\.exitcode: unknown field \(known: exitCode, contains, notContains\)$/,
    );
  });
});

describe('shipped scenarios', () => {
  const dir = join(import.meta.dirname, '../../scenarios');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('every scenario in scenarios/ parses, and is commented as a lesson', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      const sc = loadScenario(join(dir, f));
      expect(sc.name).toBe(f.replace(/\.yaml$/, ''));
      expect(sc.description.length).toBeGreaterThan(20);
      expect(text.split('\n').filter((l) => l.trim().startsWith('#')).length).toBeGreaterThanOrEqual(5);
    }
  });

  it('scenarios/schema.json is the schema the registry generates (regenerate: npx tsx src/scenario/schema.ts)', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(schemaText());
  });
});
