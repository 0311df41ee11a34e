// The README's main job, `npm start` = `podnet demo`, run as a user would run it.
// As root: a 2-node cluster (netns pn-demo-*, LAN 172.31.0.0/24, pods in 10.244.{1,2}.0/24), the
// sample Deployment, pod-to-pod calls that must arrive with the caller's own IP, and a tear-down
// that leaves nothing. Without root (--api-only): the API server + kubectl flow.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/podnet.mjs');
const home = mkdtempSync(join(tmpdir(), 'podnet-demo-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
const hasKubectl = existsSync(join(root, '.tools/kubectl'));

function demo(...args: string[]) {
  return spawnSync(process.execPath, [bin, 'demo', ...args], {
    env: { ...process.env, PODNET_HOME: home },
    encoding: 'utf8',
    timeout: 240_000,
  });
}

describe.skipIf(!hasKubectl)('podnet demo', () => {
  it('--api-only applies the sample manifest with kubectl and scales it', () => {
    const r = demo('--api-only');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('deployment.apps/hello created');
    expect(r.stdout).toContain('deployment.apps/hello unchanged');
    expect(r.stdout).toContain('deployment.apps/hello scaled');
  });

  it.skipIf(!isRoot)('brings up a cluster, shows pod-to-pod traffic without NAT, and leaves nothing', () => {
    const r = demo('--timeout', '150');
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const calls = r.stdout.split('\n').filter((l) => /^ {2}hello-\S+ \(.*\) → hello-/.test(l));
    expect(calls.length).toBe(3);
    for (const line of calls) expect(line).toContain('no NAT ✓');
    // Every pod IP lies in one of the two nodes' podCIDRs.
    const ips = [...r.stdout.matchAll(/\b(10\.244\.\d+\.\d+)\b/g)].map((m) => m[1]!);
    expect(ips.length).toBeGreaterThan(0);
    for (const ip of ips) expect(ip).toMatch(/^10\.244\.[12]\./);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(left).not.toMatch(/pn-demo-/);
  });
});
