// A failing scenario through the CLI: `podnet run FILE --junit X` exits non-zero, the report names
// the failed step and why, later steps are skipped, the JUnit file records the failure, and the
// cluster is torn down. Cluster "h2f": one node (pn-h2f-node-1, LAN 172.31.0.11, pods
// 10.244.1.0/24). Also: a file with a mistake is refused before any cluster is built.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyCluster, ownsNetns } from '../../../src/cluster/build.ts';
import { realKernel } from '../../../src/kernel/index.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const isRoot = process.getuid?.() === 0;
const home = mkdtempSync(join(tmpdir(), 'pn-h2-fail-'));
const env = { ...process.env, PODNET_HOME: home };

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/podnet.mjs'), ...args], {
    env,
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(async () => {
  if (isRoot)
    await destroyCluster('h2f', { kernel: realKernel(), stateDir: join(home, 'clusters', 'h2f') }).catch(
      () => {},
    );
  rmSync(home, { recursive: true, force: true });
});

const FAILING = `# A scenario that must fail at step 2.
name: must-fail
description: an echo pod answers, but we expect a status it never sends
cluster: { nodes: 1 }
manifests:
  - apiVersion: v1
    kind: Pod
    metadata: { name: echo, labels: { app: echo } }
    spec:
      containers:
        - name: c
          image: registry.k8s.io/e2e-test-images/agnhost:2.39
          args: ["netexec", "--http-port=8080"]
steps:
  - wait: { for: ready, target: pod/echo, timeout: 60s }
  - name: expect a 418 from a server that answers 200
    request: { from: node:node-1, to: pod:echo, expect: { status: 418 } }
  - name: never runs
    exec: { in: node:node-1, command: "true" }
`;

describe('podnet run: mistakes in the file', () => {
  it('refuses a bad file with one line naming file:line:col and the field, before building anything', () => {
    const f = join(home, 'bad.yaml');
    writeFileSync(f, 'name: bad\nsteps:\n  - request: { from: outside, to: pod:x, count: -2 }\n');
    const r = podnet('run', f, '--name', 'h2f');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `error: ${f}:3:49: steps[0].request.count: must be a positive integer, got number -2`,
    );
    expect(existsSync(join(home, 'clusters', 'h2f'))).toBe(false);
  });
});

describe.skipIf(!isRoot)('podnet run: a failing scenario', () => {
  it('exits 1, reports the failed step and why, writes JUnit, tears down', async () => {
    const f = join(home, 'must-fail.yaml');
    const junit = join(home, 'junit.xml');
    writeFileSync(f, FAILING);
    const r = podnet('run', f, '--name', 'h2f', '--junit', junit);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('FAIL  must-fail');
    expect(r.stdout).toMatch(/✓ {2}1\. wait for pod\/echo ready/);
    expect(r.stdout).toMatch(
      /✗ {2}2\. expect a 418 from a server that answers 200 {2}\[[0-9.]+m?s\]\n {8}1\/1 answers had status 200 \(want 418\)/,
    );
    expect(r.stdout).toMatch(/– {2}3\. never runs/);
    expect(r.stdout).toContain('0/1 scenarios passed; failed: must-fail');
    expect(r.stderr).toContain('error: 1 of 1 scenarios failed: must-fail');
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('tests="3" failures="1" errors="0" skipped="1"');
    expect(xml).toContain('<failure message="1/1 answers had status 200 (want 418)" type="request">');
    const left = (await realKernel().netns.list()).filter((n) => ownsNetns('h2f', n));
    expect(left).toEqual([]);
  }, 300_000);
});
