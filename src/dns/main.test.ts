// The DNS server as a process (src/dns/main.ts) against a test API server on 127.0.0.1, listening
// on 127.0.0.1 with an ephemeral port. Service default/api = 10.96.0.77.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findResource } from '../api/resources.ts';
import { startTestServer, type TestServer } from '../apiserver/testing.ts';
import { ApiClient } from '../client/rest.ts';
import { dig, makeService } from './testing.ts';

const MAIN = join(import.meta.dirname, 'main.ts');

function run(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

describe('dns main', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer();
    const client = new ApiClient({ server: ts.url, caPem: ts.caPem, token: ts.token });
    await client.create(
      findResource('', 'v1', 'services')!,
      makeService('default', 'api', '10.96.0.77', (s) => {
        s.spec!.ports = [{ name: 'http', protocol: 'TCP', port: 80 }];
      }),
    );
    client.dispose();
  });
  afterAll(async () => {
    await ts?.dispose();
  });

  it('serves from the kubeconfig and exits 0 on SIGTERM', async () => {
    const p = run(['--kubeconfig', ts.kubeconfigPath, '--listen', '127.0.0.1:0']);
    try {
      const end = Date.now() + 20_000;
      while (!/serving cluster\.local on 127\.0\.0\.1:(\d+)/.test(p.out())) {
        if (Date.now() > end || p.child.exitCode !== null)
          throw new Error(`dns main did not start: ${p.out()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const port = /127\.0\.0\.1:(\d+)/.exec(p.out())![1]!;
      const r = await dig(['@127.0.0.1', '-p', port, 'api.default.svc.cluster.local']);
      expect(r.answer.map((x) => x[4])).toEqual(['10.96.0.77']);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  });

  it('prints one error line and exits 2 on bad flags', async () => {
    const p = run(['--kubeconfig', ts.kubeconfigPath, '--pods', 'sometimes']);
    expect(await p.exited).toBe(2);
    expect(p.out().trim()).toBe('error: --pods: "sometimes" is not one of verified, insecure, disabled');
  });
});
