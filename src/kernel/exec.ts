/**
 * The one way podnet runs external programs (ip, iptables-restore, nft, conntrack, tcpdump...).
 * An interface with a real implementation here and recording fakes in tests.
 */
import { spawn } from 'node:child_process';

/** Result of a finished command. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Options for one command. */
export interface ExecOptions {
  /** Written to the command's stdin, then closed. */
  input?: string;
  /** Run inside this named network namespace (`ip netns exec NAME ...`). */
  netns?: string;
  /** Do not throw on a non-zero exit; return the result instead. */
  allowFail?: boolean;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs programs. */
export interface Exec {
  run(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** Thrown when a command exits non-zero (unless allowFail). */
export class ExecError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly result: ExecResult,
  ) {
    super(`${cmd} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'ExecError';
  }
}

/** The real implementation, spawning processes. */
export const realExec: Exec = {
  run(cmd, args, opts = {}) {
    const [file, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, args];
    return new Promise((resolve, reject) => {
      const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      let timer: NodeJS.Timeout | undefined;
      if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const result: ExecResult = {
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString() + (signal ? `\nkilled by ${signal}` : ''),
          code: code ?? 128,
        };
        if (result.code !== 0 && !opts.allowFail) reject(new ExecError(cmd, args, result));
        else resolve(result);
      });
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input ?? '');
    });
  },
};
