// Addresses: 127.0.0.1 only (ephemeral ports) and unix sockets in a temp dir.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, processStartTime, readPidFile, stopProcess, writePidFile } from './procs.ts';
import { startRelay } from './relay.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'pn-cluster-unit-'));
  dirs.push(d);
  return d;
};

function ask(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(msg));
    let out = '';
    s.on('data', (b) => (out += b));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('startRelay', () => {
  it('carries bytes both ways through TCP → unix socket → TCP, and stops on dispose', async () => {
    // The "API server": echoes what it got, prefixed.
    const server = createServer((c) => {
      let got = '';
      c.on('data', (b) => (got += b));
      c.on('end', () => c.end(`echo:${got}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const sock = join(tmp(), 'api.sock');
    const toServer = await startRelay({ path: sock }, { host: '127.0.0.1', port });
    const nodeSide = await startRelay({ host: '127.0.0.1', port: 0 }, { path: sock });
    try {
      expect(nodeSide.port).toBeGreaterThan(0);
      const big = 'x'.repeat(200_000);
      expect(await ask(nodeSide.port, 'hello')).toBe('echo:hello');
      expect(await ask(nodeSide.port, big)).toBe(`echo:${big}`);
    } finally {
      await nodeSide.dispose();
      await toServer.dispose();
      await new Promise((r) => server.close(r));
    }
    await expect(ask(nodeSide.port, 'again')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('pid records', () => {
  it('stops a recorded process, and never one whose start time differs (a reused pid)', async () => {
    const dir = tmp();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const rec = writePidFile(dir, 'node-1', child.pid!);
    expect(readPidFile(join(dir, 'node-1.pid'))).toEqual(rec);
    expect(rec.startTime).toBe(processStartTime(child.pid!));
    // Same pid, another start time: treated as someone else's process.
    const impostor = { ...rec, startTime: rec.startTime + 1 };
    expect(isAlive(impostor)).toBe(false);
    expect(await stopProcess(impostor, 100)).toBe(false);
    expect(child.exitCode).toBeNull();
    const exited = new Promise((r) => child.once('exit', r));
    expect(await stopProcess(rec, 5_000)).toBe(true);
    await exited;
    expect(isAlive(rec)).toBe(false);
  });
});
