/**
 * Processes a cluster owns, recorded so that `podnet down` and the crash sweeper can stop them
 * later from another process: a pid file holds the pid, the process start time (field 22 of
 * /proc/PID/stat) and a role. A recorded pid is signalled only while its start time still matches,
 * so a pid the kernel has since reused for someone else's process is never touched.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a pid file says. */
export interface PidRecord {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22). */
  startTime: number;
  /** What the process is: "cluster", "node-1", … */
  role: string;
}

/** Start time of a live process in clock ticks, or undefined when it is gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

/** Whether the recorded process is still the one we started. */
export function isAlive(rec: PidRecord): boolean {
  const st = processStartTime(rec.pid);
  return st !== undefined && st === rec.startTime;
}

/** Writes `<dir>/<role>.pid` for `pid`. */
export function writePidFile(dir: string, role: string, pid: number): PidRecord {
  const rec: PidRecord = { pid, startTime: processStartTime(pid) ?? 0, role };
  writeFileSync(join(dir, `${role}.pid`), `${JSON.stringify(rec)}\n`);
  return rec;
}

/** Reads one pid file; undefined when missing or unreadable. */
export function readPidFile(path: string): PidRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof r?.pid === 'number' && typeof r?.startTime === 'number') return r as PidRecord;
  } catch {
    // Missing or half-written: nothing to stop.
  }
  return undefined;
}

/** Every pid file under `dir`. */
export function readPidFiles(dir: string): Array<{ path: string; rec: PidRecord }> {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  const out: Array<{ path: string; rec: PidRecord }> = [];
  for (const n of names) {
    const rec = readPidFile(join(dir, n));
    if (rec) out.push({ path: join(dir, n), rec });
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops a recorded process: SIGTERM, wait up to `graceMs` for it to exit, then SIGKILL. Returns
 * true when it was running. Never signals a pid whose start time differs from the record.
 */
export async function stopProcess(rec: PidRecord, graceMs = 10_000): Promise<boolean> {
  if (!isAlive(rec)) return false;
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const end = Date.now() + graceMs;
  while (Date.now() < end) {
    if (!isAlive(rec)) return true;
    await sleep(50);
  }
  if (isAlive(rec)) {
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
    for (let i = 0; i < 40 && isAlive(rec); i++) await sleep(25);
  }
  return true;
}

/** Stops every process recorded under `dir` (in parallel) and removes the pid files. */
export async function stopRecorded(dir: string, graceMs = 10_000, skipPid = process.pid): Promise<number> {
  const recs = readPidFiles(dir).filter((r) => r.rec.pid !== skipPid);
  const stopped = await Promise.all(recs.map((r) => stopProcess(r.rec, graceMs)));
  for (const r of recs) rmSync(r.path, { force: true });
  return stopped.filter(Boolean).length;
}
