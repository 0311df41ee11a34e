// The `podnet trace` command's own errors (no root, no cluster): usage mistakes and a cluster that
// is not running are one line on stderr and exit code 1, before anything touches the kernel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.ts';

describe('podnet trace (CLI)', () => {
  const home = mkdtempSync(join(tmpdir(), 'pn-trace-cli-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  async function run(args: string[]): Promise<{ code: number; stderr: string }> {
    const prev = process.env.PODNET_HOME;
    process.env.PODNET_HOME = home;
    let stderr = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    try {
      const code = await main(['node', 'podnet', 'trace', ...args]);
      return { code, stderr };
    } finally {
      spy.mockRestore();
      if (prev === undefined) delete process.env.PODNET_HOME;
      else process.env.PODNET_HOME = prev;
    }
  }

  it('says the cluster is not running, in one line', async () => {
    const r = await run(['client', 'web', '--name', 'h6none']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: cluster "h6none" is not running: start it with podnet up --name h6none --detach\n',
    );
  });

  it('rejects bad arguments before looking for the cluster', async () => {
    const r = await run(['client', 'web:99999', '--name', 'h6none']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: TO: port 99999 is out of range 1-65535\n');
    const p = await run(['client', 'web', '--proto', 'sctp', '--name', 'h6none']);
    expect(p.stderr).toBe('error: --proto: "sctp" is not supported: use tcp or udp\n');
  });
});
