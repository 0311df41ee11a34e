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
 *
 * Every piece of matching state (line counter, queue of transactions, partial output) belongs to
 * ONE child process, never to the session: a child that is being stopped still answers the
 * transactions written to it, and a new child's output can never be read as the answer to an older
 * child's request. (That was a real bug: a stale idle timer stopped a busy child, and its pending
 * `addr show dev cni0` then received the next child's sentinel — `lo` — so the bridge plugin saw
 * "cni0 is not a bridge".) The output is also checked as it arrives: a failure line outside the
 * transaction's lines, a JSON line nobody asked for, or a sentinel answer that is not `lo` means
 * the stream is out of step, and the child is killed and its transactions fail rather than
 * receive someone else's answer.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { IpBatchError } from './ip.ts';
import { type NsRef, nsCommand } from './netns.ts';

type TxnResult = { answers: Map<number, string | undefined>; error?: { line: number; reason: string } };

interface Txn {
  first: number;
  last: number;
  /** Line numbers of show commands (the sentinel last), in order. */
  shows: number[];
  answers: Map<number, string | undefined>;
  error?: { line: number; reason: string };
  resolve(v: TxnResult): void;
  reject(e: Error): void;
}

/** One ip process and everything needed to read its answers. */
interface Proc {
  child: ChildProcessWithoutNullStreams;
  /** Lines written so far (ip numbers stdin lines from 1). */
  lineNo: number;
  pending: Txn[];
  buf: string;
  errText: string[];
  /** Set once the process failed or exited: nothing more is matched. */
  dead: boolean;
}

/** The line every transaction ends with; its answer must name this device. */
const SENTINEL_DEV = 'lo';

/** A resident ip process for one namespace. */
export class IpSession {
  private proc?: Proc;
  private idle?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly ns: NsRef,
    private readonly idleMs = 3_000,
  ) {}

  private start(): Proc {
    if (this.proc && !this.proc.dead) return this.proc;
    const [cmd, args] = nsCommand(this.ns, 'ip', ['-d', '-j', '-force', '-batch', '-']);
    const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = spawn('sh', ['-c', `exec stdbuf -oL ${quoted} 2>&1`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p: Proc = { child, lineNo: 0, pending: [], buf: '', errText: [], dead: false };
    this.proc = p;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => this.onData(p, s));
    child.stdin.on('error', () => {});
    // 'close', not 'exit': it comes after stdout has been read to its end, so a stopping child's
    // last answers are matched before anything left over is failed.
    child.on('close', () => {
      if (this.proc === p) this.proc = undefined;
      this.fail(p, new Error(`ip session for ${this.ns ?? 'own namespace'} exited`));
    });
    return p;
  }

  /** Marks the process dead, kills it, and rejects its transactions. */
  private fail(p: Proc, err: Error): void {
    if (!p.dead) {
      p.dead = true;
      if (this.proc === p) this.proc = undefined;
      p.child.kill('SIGKILL');
    }
    for (const t of p.pending.splice(0)) t.reject(err);
  }

  private onData(p: Proc, s: string): void {
    if (p.dead) return;
    p.buf += s;
    for (;;) {
      const nl = p.buf.indexOf('\n');
      if (nl < 0) break;
      const line = p.buf.slice(0, nl);
      p.buf = p.buf.slice(nl + 1);
      const outOfStep = this.onLine(p, line);
      if (outOfStep) {
        this.desync(p, outOfStep);
        return;
      }
    }
  }

  private desync(p: Proc, why: string): void {
    this.fail(p, new Error(`ip session for ${this.ns ?? 'own namespace'} out of step: ${why}`));
  }

  /** Matches one output line; returns why the stream is out of step, if it is. */
  private onLine(p: Proc, line: string): string | undefined {
    const t = p.pending[0];
    const failed = /^Command failed -:(\d+)$/.exec(line);
    const isJson = line.startsWith('[') || line.startsWith('{');
    if (!t) {
      if (failed || isJson) return `unexpected output ${JSON.stringify(line.slice(0, 80))}`;
      return undefined;
    }
    if (failed) {
      const n = Number(failed[1]);
      const reason = p.errText.join('; ').replace(/^Error: /, '') || 'failed';
      p.errText = [];
      if (n < t.first || n > t.last) return `failure of line ${n} while lines ${t.first}-${t.last} run`;
      if (t.shows[0] === n) {
        if (n === t.last) return `the sentinel "link show dev ${SENTINEL_DEV}" failed`;
        t.shows.shift();
        t.answers.set(n, undefined);
      } else if (t.shows.includes(n)) {
        return `failure of show line ${n} before earlier shows were answered`;
      } else if (!t.error) t.error = { line: n, reason };
    } else if (isJson) {
      p.errText = [];
      const n = t.shows.shift();
      if (n === undefined) return 'an answer with no show pending';
      if (n === t.last && sentinelName(line) !== SENTINEL_DEV)
        return `the sentinel answer names ${JSON.stringify(sentinelName(line))}`;
      t.answers.set(n, line);
    } else if (line.trim()) p.errText.push(line.trim());
    if (t.shows.length === 0) {
      p.pending.shift();
      t.resolve({ answers: t.answers, error: t.error });
      if (p.pending.length === 0 && this.proc === p) this.armIdle(p);
    }
    return undefined;
  }

  /** (Re)starts the idle timer: ONE handle per session, always cleared before it is replaced. */
  private armIdle(p: Proc): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      this.idle = undefined;
      // Only an idle current process is stopped; one with work in flight stays.
      if (this.proc === p && p.pending.length === 0) this.stop();
    }, this.idleMs);
    this.idle.unref();
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
    for (const l of lines)
      if (l.includes('\n')) throw new Error(`ip session: a batch line may not contain a newline: ${l}`);
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = undefined;
    }
    const p = this.start();
    const first = p.lineNo + 1;
    const all = [...lines, `link show dev ${SENTINEL_DEV}`];
    p.lineNo += all.length;
    const shows = all
      .map((l, i) => (i === all.length - 1 || isShow(l) ? first + i : -1))
      .filter((n) => n > 0);
    const r = await new Promise<TxnResult>((resolve, reject) => {
      p.pending.push({ first, last: first + all.length - 1, shows, answers: new Map(), resolve, reject });
      p.child.stdin.write(`${all.join('\n')}\n`);
    });
    return {
      answers: lines.map((_, i) => r.answers.get(first + i)),
      error: r.error ? { line: all[r.error.line - first] ?? '?', reason: r.error.reason } : undefined,
    };
  }

  /**
   * Ends the current process: it finishes (and answers) what was already written to it, then exits.
   * The next `run` starts a new one unless the session is disposed.
   */
  stop(): void {
    const p = this.proc;
    this.proc = undefined;
    p?.child.stdin.end();
  }

  /** Stops the process and fails the transactions still waiting. */
  dispose(): void {
    this.closed = true;
    if (this.idle) clearTimeout(this.idle);
    const p = this.proc;
    this.stop();
    if (p) this.fail(p, new Error('ip session disposed'));
  }
}

function sentinelName(line: string): string | undefined {
  try {
    return (JSON.parse(line) as Array<{ ifname?: string }>)[0]?.ifname;
  } catch {
    return undefined;
  }
}

/** Throws the IpBatchError of a failed session transaction. */
export function sessionError(ns: NsRef, error: { line: string; reason: string }): IpBatchError {
  return new IpBatchError(ns, error.line, error.reason);
}
