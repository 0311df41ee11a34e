/**
 * Starts a private, single-member etcd server on 127.0.0.1 with free ports and its own data
 * directory — for tests, benchmarks and `--store etcd` demos. Uses the `etcd` binary on PATH
 * (Debian's package `etcd-server`, 3.4). etcd fsyncs every commit, like the embedded store.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A running etcd. `stop()` kills it and removes its data directory (unless it was given). */
export interface EtcdServer {
  /** Client URL, e.g. `http://127.0.0.1:40123`. */
  endpoint: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts etcd and waits until it answers its health endpoint. */
export async function startEtcd(
  opts: { dataDir?: string; bin?: string; timeoutMs?: number } = {},
): Promise<EtcdServer> {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'pn-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let log = '';
  const child: ChildProcess = spawn(
    opts.bin ?? 'etcd',
    [
      '--name=pn',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=pn=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=error',
      '--logger=zap',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (e) =>
      reject(new Error(`cannot start etcd: ${e.message} (is the etcd package installed?)`)),
    ),
  );
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(t);
    }
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  try {
    for (;;) {
      if (exited) throw new Error(`etcd exited during start: ${log.trim()}`);
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy in time: ${log.trim()}`);
      const ok = await Promise.race([
        fetch(`${endpoint}/health`)
          .then((r) => r.ok)
          .catch(() => false),
        spawnError,
      ]);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint, dataDir, stop };
}
