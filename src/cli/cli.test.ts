// The podnet CLI as a user runs it: `node bin/podnet.mjs …` in a child process, with PODNET_HOME in a
// temp dir. No root needed; the API server listens on 127.0.0.1 on a random port.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = resolve(__dirname, '../../bin/podnet.mjs');
const home = mkdtempSync(join(tmpdir(), 'podnet-cli-'));
const env = { ...process.env, PODNET_HOME: home };
afterAll(() => rmSync(home, { recursive: true, force: true }));

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The same, without blocking: several CLI runs side by side. */
function podnetAsync(...args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 60_000 }, (e, out) =>
      done({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: String(out) }),
    );
  });
}

describe('podnet CLI', () => {
  it('prints help listing every command, and help for each command', async () => {
    const top = podnet('--help');
    expect(top.code).toBe(0);
    const commands = [...top.out.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)]
      .map((m) => m[1])
      .filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['demo', 'apiserver', 'kubeconfig']));
    expect(commands).toEqual(expect.arrayContaining(['run', 'trace', 'ui', 'up', 'down', 'get']));
    const helps = await Promise.all(commands.map((c) => podnetAsync(c!, '--help')));
    for (const [i, c] of commands.entries()) {
      expect(helps[i]!.code, c).toBe(0);
      expect(helps[i]!.out).toContain(`Usage: podnet ${c}`);
    }
  });

  it('reports bad input in one line naming the option, with a non-zero exit', () => {
    const bad = podnet('apiserver', '--port', 'http', '--store', 'memory');
    expect(bad.code).toBe(1);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toContain('--port "http"');

    const name = podnet('kubeconfig', '--name', 'Bad_Name');
    expect(name.code).toBe(1);
    expect(name.err).toMatch(/^error: --name "Bad_Name" is invalid/);

    const store = podnet('apiserver', '--store', 'sqlite');
    expect(store.code).toBe(1);
    expect(store.err).toContain('--store "sqlite" is not supported');

    const missing = podnet('kubeconfig', '--name', 'nosuch');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('cluster "nosuch" has no kubeconfig');

    // `up` checks its flags before it needs root or touches the kernel. `--timeout 0` is checked
    // after the spec: should a bad value slip through, the run still stops there (no cluster).
    const workers = podnet('up', '--timeout', '0', '--ingress-workers', 'two');
    expect(workers.code).toBe(1);
    expect(workers.err.trim()).toBe('error: --ingress-workers "two" is not a whole number');
    const many = podnet('up', '--timeout', '0', '--ingress-workers', '99');
    expect(many.code).toBe(1);
    expect(many.err.trim()).toBe('error: ingressWorkers (flag): must be an integer from 1 to 16, got 99');
    const replicas = podnet('up', '--timeout', '0', '--nodes', '2', '--ingress-replicas', '3');
    expect(replicas.code).toBe(1);
    expect(replicas.err.trim()).toBe(
      'error: ingressReplicas (flag): 3 replicas need 3 nodes, the cluster has 2',
    );

    const unknown = podnet('frobnicate');
    expect(unknown.code).not.toBe(0);
  });

  it('runs the API server until SIGTERM, writes a kubeconfig, and exits cleanly', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [bin, 'apiserver', '--name', 'clitest', '--port', '0', '--store', 'memory'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (b) => {
      out += b;
    });
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no listening line: ${out}`)), 20_000);
      child.stdout!.on('data', () => {
        if (out.includes('kubeconfig:')) {
          clearTimeout(t);
          res();
        }
      });
    });
    const url = /listening on (\S+)/.exec(out)![1]!;
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const kc = podnet('kubeconfig', '--name', 'clitest');
    expect(kc.code).toBe(0);
    expect(existsSync(kc.out.trim())).toBe(true);

    const exit = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toContain('SIGTERM: shutting down');
  });
});
