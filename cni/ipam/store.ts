/**
 * Where host-local keeps its allocations. `DiskStore` uses the reference plugin's layout, so the
 * two can read each other's state: `<dataDir>/<network>/<ip>` holds "<containerID>\r\n<ifname>",
 * `last_reserved_ip.<rangeSet>` the last address handed out. Reservation creates the address file
 * with O_EXCL, so two allocators can never both own one address; a lock file around each whole
 * operation keeps the round-robin position and the duplicate checks consistent across processes.
 * `MemoryStore` is the fake for unit tests. The disk store uses synchronous file calls on purpose:
 * each is a few microseconds on a local directory, against ~0.3 ms per call through the thread pool,
 * and an allocation makes one call per recorded address.
 */
import {
  closeSync,
  constants as fsc,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../spec.ts';

/** One allocation. */
export interface Allocation {
  ip: string;
  containerId: string;
  ifname: string;
}

/** Allocation state of one network. All methods are called with the lock held. */
export interface IpamStore {
  /** Runs `fn` holding the network's lock (exclusive across processes for the disk store). */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Records `ip` for (id, ifname) unless taken; remembers it as the range set's last reserved. */
  reserve(containerId: string, ifname: string, ip: string, rangeSet: number): Promise<boolean>;
  lastReserved(rangeSet: number): Promise<string | undefined>;
  /** Every allocation. */
  list(): Promise<Allocation[]>;
  /** Removes the allocation of `ip`. */
  release(ip: string): Promise<void>;
}

/** The reference plugin's line break between container id and ifname. */
const LINE_BREAK = '\r\n';
const LAST_PREFIX = 'last_reserved_ip.';
/** Not the reference's `lock` (which it flock()s and never removes): ours is an O_EXCL lock file. */
const LOCK_FILE = 'lock.podnet';

function parseOwner(text: string): { containerId: string; ifname: string } {
  const [id, ifname] = text.split(/\r?\n/);
  return { containerId: (id ?? '').trim(), ifname: (ifname ?? '').trim() };
}

const inProcessLocks = new Map<string, Promise<unknown>>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The reference layout on disk. */
export class DiskStore implements IpamStore {
  readonly dir: string;

  constructor(
    dataDir: string,
    network: string,
    private readonly lockTimeoutMs = 10_000,
  ) {
    if (!network || network.includes('/') || network === '.' || network === '..')
      throw new CniError(CniCode.InvalidConfig, `name: "${network}" cannot be used as a directory name`);
    this.dir = join(dataDir, network);
  }

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    // Serialise within this process first (the resident service runs many ADDs concurrently),
    // then across processes with the lock file.
    const prev = inProcessLocks.get(this.dir) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const chained = prev.then(() => mine);
    inProcessLocks.set(this.dir, chained);
    await prev;
    try {
      await this.ensureDir();
      await this.lockFile();
      try {
        return await fn();
      } finally {
        try {
          unlinkSync(join(this.dir, LOCK_FILE));
        } catch {
          // already gone
        }
      }
    } finally {
      release();
      if (inProcessLocks.get(this.dir) === chained) inProcessLocks.delete(this.dir);
    }
  }

  private async ensureDir(): Promise<void> {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new CniError(CniCode.IoFailure, `dataDir: cannot create ${this.dir}`, (e as Error).message);
    }
  }

  private async lockFile(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    const deadline = Date.now() + this.lockTimeoutMs;
    let wait = 1;
    for (;;) {
      try {
        const fd = openSync(path, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new CniError(CniCode.IoFailure, `cannot create lock ${path}`, (e as Error).message);
      }
      // A lock whose owner died (crash) is stale; only old ones are considered, so that a lock
      // just re-created by a live process is never taken away.
      try {
        const st = statSync(path);
        const pid = Number(readFileSync(path, 'utf8'));
        if (Date.now() - st.mtimeMs > 2_000 && (!pid || !pidAlive(pid))) rmSync(path, { force: true });
      } catch {
        // vanished meanwhile: retry at once
      }
      if (Date.now() > deadline)
        throw new CniError(CniCode.TryAgainLater, `host-local: timed out waiting for lock ${path}`);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 20);
    }
  }

  async reserve(containerId: string, ifname: string, ip: string, rangeSet: number): Promise<boolean> {
    try {
      const fd = openSync(join(this.dir, ip), fsc.O_CREAT | fsc.O_EXCL | fsc.O_RDWR, 0o644);
      try {
        writeSync(fd, containerId.trim() + LINE_BREAK + ifname);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new CniError(CniCode.IoFailure, `host-local: cannot record ${ip}`, (e as Error).message);
    }
    writeFileSync(join(this.dir, LAST_PREFIX + rangeSet), ip);
    return true;
  }

  async lastReserved(rangeSet: number): Promise<string | undefined> {
    try {
      return readFileSync(join(this.dir, LAST_PREFIX + rangeSet), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  async list(): Promise<Allocation[]> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const ips = names.filter((n) => !n.startsWith(LAST_PREFIX) && n !== 'lock' && n !== LOCK_FILE);
    const out: Allocation[] = [];
    for (const ip of ips) {
      try {
        out.push({ ip, ...parseOwner(readFileSync(join(this.dir, ip), 'utf8')) });
      } catch {
        // released meanwhile by a process that does not take our lock (the reference plugin)
      }
    }
    return out;
  }

  async release(ip: string): Promise<void> {
    rmSync(join(this.dir, ip), { force: true });
  }
}

/** In-memory store for tests; `locked` lets tests assert that every call holds the lock. */
export class MemoryStore implements IpamStore {
  readonly allocations = new Map<string, { containerId: string; ifname: string }>();
  readonly last = new Map<number, string>();
  locked = false;
  private chain: Promise<unknown> = Promise.resolve();

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      this.locked = true;
      try {
        return await fn();
      } finally {
        this.locked = false;
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }
  private mustLock(): void {
    if (!this.locked) throw new Error('MemoryStore: called without the lock');
  }
  async reserve(containerId: string, ifname: string, ip: string, rangeSet: number): Promise<boolean> {
    this.mustLock();
    if (this.allocations.has(ip)) return false;
    this.allocations.set(ip, { containerId, ifname });
    this.last.set(rangeSet, ip);
    return true;
  }
  async lastReserved(rangeSet: number): Promise<string | undefined> {
    this.mustLock();
    return this.last.get(rangeSet);
  }
  async list(): Promise<Allocation[]> {
    this.mustLock();
    return [...this.allocations].map(([ip, o]) => ({ ip, ...o }));
  }
  async release(ip: string): Promise<void> {
    this.mustLock();
    this.allocations.delete(ip);
  }
}
