// `podnet up` without root: run as the unprivileged user `nobody`, it re-executes itself inside
// `unshare --user --map-root-user --net --mount` and builds the whole cluster there. The test (run
// as root, so it can drop privileges and look inside) checks that the cluster becomes Ready with
// its node and pod namespaces inside the private namespace — none on the host — that a pod there
// answers, and that SIGTERM takes everything down.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../until.ts';

const NOBODY = 65534;
const BIN = resolve(__dirname, '../../../bin/podnet.mjs');
const NAME = 'rlt';

function canRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to drop to nobody and look inside)';
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'setpriv (util-linux) is missing';
  }
  if (Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')) === 0)
    return 'user namespaces are disabled';
  try {
    execFileSync(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        'unshare',
        '--user',
        '--map-root-user',
        'true',
      ],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    return 'unprivileged user namespaces are not allowed here';
  }
  return undefined;
}
const skip = canRun();

describe.skipIf(skip !== undefined)(`podnet up without root${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const home = mkdtempSync(join(tmpdir(), 'podnet-rootless-'));
  let child: ChildProcess | undefined;
  let out = '';
  afterAll(() => {
    // The whole process group: the CLI, unshare and the cluster process inside it.
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('brings a cluster up inside its own user+net namespace, a pod answers, SIGTERM removes it', async () => {
    chownSync(home, NOBODY, NOBODY);
    chmodSync(home, 0o700);
    const env = { ...process.env, HOME: home, PODNET_HOME: join(home, '.podnet') };
    child = spawn(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        '--',
        process.execPath,
        BIN,
        'up',
        '--name',
        NAME,
        '--nodes',
        '2',
      ],
      { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    await until(
      async () => /is Ready/.test(out) || child!.exitCode !== null,
      'the rootless cluster to be Ready',
      150_000,
      500,
    );
    expect(out, out).toMatch(/cluster "rlt" is Ready/);

    // Nothing of it on the host: its namespaces live in the private network namespace.
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`pn-${NAME}-`);

    // Inside: find the cluster process (the one whose parent is `unshare`'s shell) and look there.
    const inner = execFileSync('pgrep', ['-u', String(NOBODY), '-f', `${BIN} up --name ${NAME}`], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .map(Number)
      .find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').includes('PODNET_USERNS=1'));
    expect(inner, 'the cluster process inside the user namespace').toBeDefined();
    const inside = (...cmd: string[]) =>
      execFileSync('nsenter', ['-t', String(inner), '-n', '-m', ...cmd], {
        encoding: 'utf8',
      });
    const netns = inside('ip', 'netns', 'list');
    expect(netns).toContain(`pn-${NAME}-node-1`);
    expect(netns).toContain(`pn-${NAME}-node-2`);

    // A pod through the cluster's own API, reached at its pod IP from node-2 (across nodes).
    const kubeconfig = join(home, '.podnet', 'clusters', NAME, 'kubeconfig');
    expect(existsSync(kubeconfig)).toBe(true);
    const kubectl = resolve(__dirname, '../../../.tools/kubectl');
    const k = (...args: string[]) => inside(kubectl, '--kubeconfig', kubeconfig, ...args);
    k(
      'run',
      'echo',
      '--image=registry.k8s.io/e2e-test-images/agnhost:2.39',
      '--overrides',
      JSON.stringify({ spec: { nodeName: 'node-1' } }),
      '--',
      'netexec',
      '--http-port=8080',
    );
    const ip = await until(
      async () => k('get', 'pod', 'echo', '-o', 'jsonpath={.status.podIP}').trim() || undefined,
      'the pod IP',
      60_000,
      500,
    );
    expect(ip).toMatch(/^10\.244\.1\./);
    const name = await until(
      async () =>
        inside(
          'ip',
          'netns',
          'exec',
          `pn-${NAME}-node-2`,
          'curl',
          '-s',
          '--max-time',
          '2',
          `http://${ip}:8080/hostname`,
        ).trim() || undefined,
      'the pod to answer',
      60_000,
      500,
    );
    expect(name).toBe('echo');

    // SIGTERM to the CLI's process group: everything goes, and the state says so.
    process.kill(-child.pid!, 'SIGTERM');
    await until(
      async () => child!.exitCode !== null || child!.signalCode !== null,
      'podnet up to exit',
      60_000,
      200,
    );
    await until(
      async () => {
        try {
          execFileSync('pgrep', ['-u', String(NOBODY), '-f', `${BIN} up --name ${NAME}`]);
          return false;
        } catch {
          return true; // pgrep found nothing
        }
      },
      'every process of the cluster to exit',
      30_000,
    );
    expect(existsSync(join(home, '.podnet', 'clusters', NAME, 'cluster.json'))).toBe(false);
  }, 300_000);
});
