// `podnet ui` flag and connection errors, run as a user runs them (no root, no cluster): each is
// one line on stderr with exit code 1. The cluster "h7down" has a kubeconfig whose API server is
// not listening (127.0.0.1:1), as after a crash.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const home = mkdtempSync(join(tmpdir(), 'pn-ui-cli-'));
const env = { ...process.env, PODNET_HOME: home };

function podnet(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/podnet.mjs'), ...args], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('podnet ui errors', () => {
  it('names a cluster that has no kubeconfig', () => {
    const r = podnet('ui', '--name', 'h7none', '--port', '0');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `error: cluster "h7none" has no kubeconfig at ${join(home, 'clusters', 'h7none', 'kubeconfig')}: start it with podnet up --name h7none\n`,
    );
  });

  it('rejects a bad --port', () => {
    for (const p of ['70000', 'web']) {
      const r = podnet('ui', '--name', 'h7none', '--port', p);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`error: --port "${p}" must be an integer from 0 to 65535\n`);
    }
  });

  it('says when the cluster API server does not answer', () => {
    const dir = join(home, 'clusters', 'h7down');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'kubeconfig'),
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const r = podnet('ui', '--name', 'h7down', '--port', '0');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^error: cluster "h7down": its API server does not answer \(.+\); is it up\? \(podnet status\)\n$/,
    );
  });
});
