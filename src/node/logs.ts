/**
 * What `podnet logs` and `podnet exec` call: read a container's log (the current run's file, or
 * the previous run's with `previous`), optionally following it as it grows, and run a command
 * inside a pod's sandbox network namespace (with /etc/hosts and resolv.conf of the pod).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from '../api/index.ts';
import { podDir, sandboxName } from './names.ts';

/** Options of podLogs. */
export interface PodLogsOptions {
  /** The agent's stateDir of the node the pod runs on. */
  stateDir: string;
  pod: Pod;
  /** Container name (default: the only/first container). */
  container?: string;
  /** The previous run's log (after a restart). */
  previous?: boolean;
  /** Keep reading as the file grows until `signal` aborts. */
  follow?: boolean;
  /** Only the last N lines. */
  tailLines?: number;
  signal?: AbortSignal;
  /** Poll period while following (ms, default 200). */
  pollMs?: number;
}

/** The log file runs of a container, oldest first (run numbers). */
function runsOf(dir: string): number[] {
  try {
    return readdirSync(dir)
      .map((f) => /^(\d+)\.log$/.exec(f))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** The log file podLogs reads (throws a clear error when there is none). */
export function podLogPath(o: Omit<PodLogsOptions, 'follow' | 'signal'>): string {
  const containers = o.pod.spec?.containers ?? [];
  const name = o.container ?? containers[0]?.name;
  if (!name) throw new Error(`pod ${o.pod.metadata.name}: no containers`);
  if (!containers.some((c) => c.name === name))
    throw new Error(
      `container ${name} is not valid for pod ${o.pod.metadata.name} (containers: ${containers.map((c) => c.name).join(', ')})`,
    );
  const key = {
    namespace: o.pod.metadata.namespace ?? 'default',
    name: o.pod.metadata.name!,
    uid: o.pod.metadata.uid!,
  };
  const dir = join(podDir(o.stateDir, key), 'logs', name);
  const runs = runsOf(dir);
  const pick = o.previous ? runs[runs.length - 2] : runs[runs.length - 1];
  if (pick === undefined)
    throw new Error(
      o.previous
        ? `previous terminated container "${name}" in pod "${o.pod.metadata.name}" not found`
        : `container "${name}" in pod "${o.pod.metadata.name}" has not started (no log yet)`,
    );
  return join(dir, `${pick}.log`);
}

function tail(text: string, n: number | undefined): string {
  if (n === undefined) return text;
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
  return lines.slice(Math.max(0, lines.length - n)).join('\n') + (trailing !== undefined ? '\n' : '');
}

/**
 * A container's log as chunks: the file's content, then (with `follow`) what is appended until
 * `signal` aborts.
 */
export async function* podLogs(o: PodLogsOptions): AsyncGenerator<string> {
  const path = podLogPath(o);
  const fd = openSync(path, 'r');
  try {
    let pos = 0;
    const readMore = (): string => {
      const size = statSync(path).size;
      if (size <= pos) return '';
      const buf = Buffer.alloc(size - pos);
      const n = readSync(fd, buf, 0, buf.length, pos);
      pos += n;
      return buf.subarray(0, n).toString();
    };
    const first = tail(readMore(), o.tailLines);
    if (first) yield first;
    if (!o.follow) return;
    while (!o.signal?.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, o.pollMs ?? 200);
        o.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      });
      if (!existsSync(path)) return;
      const more = readMore();
      if (more) yield more;
    }
  } finally {
    closeSync(fd);
  }
}

/** Options of podExec. */
export interface PodExecOptions {
  clusterName: string;
  pod: Pod;
  command: string[];
  /** `inherit` (the CLI's terminal) or `pipe` (captured and returned). Default `pipe`. */
  stdio?: 'inherit' | 'pipe';
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs `command` inside the pod's network namespace; resolves with its exit code (and output when piped). */
export function podExec(o: PodExecOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  if (o.command.length === 0)
    return Promise.reject(new Error('exec: command: at least one word is required'));
  const key = {
    namespace: o.pod.metadata.namespace ?? 'default',
    name: o.pod.metadata.name!,
    uid: o.pod.metadata.uid!,
  };
  if (o.pod.spec?.hostNetwork)
    return Promise.reject(
      new Error('exec: hostNetwork pods run in the node namespace; use podnet node exec'),
    );
  const ns = sandboxName(o.clusterName, key);
  if (!existsSync(`/run/netns/${ns}`))
    return Promise.reject(
      new Error(`exec: pod ${key.namespace}/${key.name} has no sandbox on this machine (${ns})`),
    );
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...o.command], {
      stdio: o.stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        POD_NAME: key.name,
        POD_NAMESPACE: key.namespace,
        HOSTNAME: key.name,
        ...(o.env ?? {}),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const t = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
    child.on('error', (e) => {
      if (t) clearTimeout(t);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (t) clearTimeout(t);
      resolve({ code: code ?? (signal ? 128 + 9 : 1), stdout, stderr });
    });
  });
}
