// Crash recovery through the real CLI: `podnet up --detach` a 2-node cluster running one pod, SIGKILL
// every process of it (cluster process, node processes, the pod's container), then the real
// `podnet down --all --prefix <name>` must leave no pn-<name> namespace, no host link, no
// /etc/netns entry, no process and no state but the log. `--prefix` keeps the sweep to this test's
// cluster: other clusters running on the machine (pn-…) are not touched, which the test checks with
// a decoy namespace of another prefix.
// Address plan: cluster h1d<rand>, LAN 172.31.0.0/24 (node-1 .11, node-2 .12), pods 10.244.1.0/24
// and 10.244.2.0/24, all inside pn-h1d<rand>-…; decoy namespace pn-h1e<rand>-decoy.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../../src/api/kinds/core.ts';
import { findResource } from '../../../src/api/resources.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { readPidFiles } from '../../../src/cluster/procs.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const isRoot = process.getuid?.() === 0;
const rand = Math.random().toString(36).slice(2, 6);
const NAME = `h1d${rand}`;
const DECOY = `pn-h1e${rand}-decoy`;
const home = mkdtempSync(join(tmpdir(), 'pn-h1-down-'));
const env = { ...process.env, PODNET_HOME: home };
const stateDir = join(home, 'clusters', NAME);
const PODS = findResource('', 'v1', 'pods')!;

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/podnet.mjs'), ...args], {
    env,
    encoding: 'utf8',
    timeout: 150_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ours = (n: string) => n.startsWith(`pn-${NAME}`);
const namespaces = () => (existsSync('/run/netns') ? readdirSync('/run/netns') : []);
const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readSafe(`/proc/${pid}/status`));
function readSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
/** Pids inside our namespaces (`ip netns pids`). */
function nsPids(): number[] {
  return namespaces()
    .filter(ours)
    .flatMap((n) =>
      spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' })
        .stdout.split('\n')
        .map(Number)
        .filter((p) => p > 0),
    );
}

describe.skipIf(!isRoot)('podnet down --all after SIGKILL of a whole cluster', () => {
  afterAll(async () => {
    spawnSync('ip', ['netns', 'del', DECOY]);
    // Only if the test failed half-way: remove what is ours.
    await destroyCluster(NAME, { stateDir });
    rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it('sweeps namespaces, links, processes and state of the killed cluster only', async () => {
    const up = podnet('up', '--name', NAME, '--nodes', '2', '--detach', '--timeout', '120');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    // A pod, so that there is a pod namespace and a container process to recover from too.
    const client = new ApiClient(podnet('kubeconfig', '--name', NAME).stdout.trim());
    try {
      await client.create<Pod>(PODS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'victim', namespace: 'default' },
        spec: { nodeName: 'node-2', containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }] },
      });
      const end = Date.now() + 60_000;
      for (;;) {
        const p = await client.get<Pod>(PODS, 'default', 'victim').catch(() => undefined);
        if (p?.status?.phase === 'Running') break;
        if (Date.now() > end) throw new Error('pod victim never ran');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await client.dispose();
    }
    execFileSync('ip', ['netns', 'add', DECOY]);

    // The crash: every process of the cluster at once, no chance to clean up.
    const recorded = readPidFiles(join(stateDir, 'run')).map((r) => r.rec.pid);
    const inside = nsPids();
    const pids = [...new Set([...recorded, ...inside])];
    expect(recorded.length).toBeGreaterThanOrEqual(3); // cluster + 2 nodes
    expect(inside.length).toBeGreaterThanOrEqual(3); // 2 node processes + the container
    for (const p of pids) spawnSync('kill', ['-KILL', String(p)]);
    const before = namespaces().filter(ours);
    expect(before).toContain(`pn-${NAME}-underlay`);
    expect(before.some((n) => n.startsWith(`pn-${NAME}-pod-`))).toBe(true);

    const down = podnet('down', '--all', '--prefix', NAME);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(new RegExp(`removed ${before.length} namespaces`));

    const hostLinks = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as any[])
      .map((l) => l.ifname as string)
      .filter(ours);
    const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter(ours) : [];
    // Whatever ran inside the namespaces is gone too (container processes may have been reparented).
    const survivors = pids.filter(alive);
    const state = existsSync(stateDir) ? readdirSync(stateDir) : [];
    expect({ namespaces: namespaces().filter(ours), hostLinks, etc, survivors, state }).toEqual({
      namespaces: [],
      hostLinks: [],
      etc: [],
      survivors: [],
      state: state.includes('podnet.log') ? ['podnet.log'] : [],
    });
    // The decoy of another prefix is untouched.
    expect(namespaces()).toContain(DECOY);
    // Status lists nothing; a second sweep finds nothing.
    expect(podnet('status').stdout).toMatch(/no clusters running/);
    expect(podnet('down', '--all', '--prefix', NAME).stdout).toMatch(/removed 0 namespaces, 0 links/);
  }, 240_000);

  it('--prefix needs --all and a valid name start', () => {
    const a = podnet('down', '--name', 'x', '--prefix', 'x');
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/--prefix only applies with --all/);
    const b = podnet('down', '--all', '--prefix', 'Bad_');
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/--prefix "Bad_" is invalid/);
  });
});
