/**
 * A resident `ip -force -batch -` process for one namespace: changes and queries are written to its
 * stdin and answered on its stdout, so they cost a pipe round trip instead of a process start (an
 * `ip` spawn from Node takes 35–50 ms on a loaded 2-core machine, a round trip well under 1 ms).
 *
 * stdout and stderr are merged (`2>&1`, stdout line-buffered through stdbuf) so that answers and
 * errors arrive in the order ip produced them. Each transaction ends with a sentinel query
 * (`link show dev lo`, present in every namespace); answers are matched to show commands in order,
 * and `Command failed -:N` lines name the failing line. The process exits after `idleMs` without
 * work, so that it never keeps a deleted namespace alive for long.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { IpBatchError } from './ip.ts';
import { type NsRef, nsCommand } from './netns.ts';

interface Txn {
  first: number;
  last: number;
  /** Line numbers of show commands (the sentinel last), in order. */
  shows: number[];
  answers: Map<number, string | undefined>;
  error?: { line: number; reason: string };
  resolve(v: { answers: Map<number, string | undefined>; error?: { line: number; reason: string } }): void;
  reject(e: Error): void;
}

/** A resident ip process for one namespace. */
export class IpSession {
  private child?: ChildProcessWithoutNullStreams;
  private lineNo = 0;
  private readonly pending: Txn[] = [];
  private buf = '';
  private errText: string[] = [];
  private idle?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly ns: NsRef,
    private readonly idleMs = 3_000,
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const [cmd, args] = nsCommand(this.ns, 'ip', ['-d', '-j', '-force', '-batch', '-']);
    const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = spawn('sh', ['-c', `exec stdbuf -oL ${quoted} 2>&1`], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.lineNo = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (this.child === child) this.onData(s);
    });
    child.stdin.on('error', () => {});
    child.on('exit', () => {
      // An idle stop ends a child with nothing pending, possibly after a new child took over:
      // only an unexpected exit of the current child fails the transactions in flight.
      if (this.child !== child) return;
      this.child = undefined;
      this.buf = '';
      this.errText = [];
      const err = new Error(`ip session for ${this.ns ?? 'own namespace'} exited`);
      for (const t of this.pending.splice(0)) t.reject(err);
    });
    return child;
  }

  private onData(s: string): void {
    this.buf += s;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const t = this.pending[0];
    if (!t) return;
    const failed = /^Command failed -:(\d+)$/.exec(line);
    if (failed) {
      const n = Number(failed[1]);
      const reason = this.errText.join('; ').replace(/^Error: /, '') || 'failed';
      this.errText = [];
      if (t.shows[0] === n) {
        t.shows.shift();
        t.answers.set(n, undefined);
      } else if (!t.error) t.error = { line: n, reason };
    } else if (line.startsWith('[') || line.startsWith('{')) {
      const n = t.shows.shift();
      if (n !== undefined) t.answers.set(n, line);
    } else if (line.trim()) this.errText.push(line.trim());
    if (t.shows.length === 0) {
      this.pending.shift();
      t.resolve({ answers: t.answers, error: t.error });
    }
  }

  /**
   * Runs `lines` (changes and show commands) in order; returns the JSON answer of each show line
   * (undefined when it failed) and the first failing change, if any. With -force, ip carries on
   * after a failing line: callers treat any failure as a failed transaction.
   */
  async run(
    lines: string[],
    isShow: (line: string) => boolean,
  ): Promise<{ answers: Array<string | undefined>; error?: { line: string; reason: string } }> {
    if (this.closed) throw new Error('ip session closed');
    const child = this.start();
    if (this.idle) clearTimeout(this.idle);
    const first = this.lineNo + 1;
    const all = [...lines, 'link show dev lo'];
    this.lineNo += all.length;
    const shows = all
      .map((l, i) => (i === all.length - 1 || isShow(l) ? first + i : -1))
      .filter((n) => n > 0);
    const r = await new Promise<{
      answers: Map<number, string | undefined>;
      error?: { line: number; reason: string };
    }>((resolve, reject) => {
      this.pending.push({ first, last: first + all.length - 1, shows, answers: new Map(), resolve, reject });
      child.stdin.write(all.join('\n') + '\n');
    });
    if (this.pending.length === 0) {
      this.idle = setTimeout(() => this.stop(), this.idleMs);
      this.idle.unref();
    }
    return {
      answers: lines.map((_, i) => r.answers.get(first + i)),
      error: r.error ? { line: all[r.error.line - first] ?? '?', reason: r.error.reason } : undefined,
    };
  }

  /** Ends the process (it is restarted on the next use unless disposed). */
  stop(): void {
    const c = this.child;
    this.child = undefined;
    c?.stdin.end();
  }

  dispose(): void {
    this.closed = true;
    if (this.idle) clearTimeout(this.idle);
    this.stop();
    const err = new Error('ip session disposed');
    for (const t of this.pending.splice(0)) t.reject(err);
  }
}

/** Throws the IpBatchError of a failed session transaction. */
export function sessionError(ns: NsRef, error: { line: string; reason: string }): IpBatchError {
  return new IpBatchError(ns, error.line, error.reason);
}
