/**
 * Crash safety of the embedded store (no root needed): a child process (the TypeScript writer
 * crash-writer.ts, bundled with esbuild) writes as fast as it can and
 * reports each acknowledged write; we SIGKILL it at a random moment, reopen the store, and check
 * that every acknowledged write is there with the same resourceVersion, that nothing is corrupt, and
 * that new writes get higher revisions. Several runs reuse one directory, so recovery of an already
 * recovered store (and kills during snapshots, which happen every few hundred writes) is covered.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isApiError } from '../../../src/api/errors.ts';
import { RESOURCES } from '../../../src/api/resources.ts';
import { openStore } from '../../../src/store/index.ts';

const PODS = RESOURCES.find((r) => r.plural === 'pods')!;
const here = path.dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(path.join(tmpdir(), 'pn-store-crash-'));
/** The writer, compiled once to plain JS: a child then starts in well under a second, not ~3 s with tsx. */
const writer = path.join(root, 'crash-writer.mjs');
beforeAll(async () => {
  await build({
    entryPoints: [path.join(here, 'crash-writer.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: writer,
    logLevel: 'warning',
  });
});
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** What the parent knows was acknowledged, accumulated over the runs on one directory. */
interface Acked {
  /** name → acknowledged create revision (objects never deleted). */
  created: Map<string, number>;
  /** names whose delete was acknowledged. */
  deleted: Set<string>;
  /** counter name → last acknowledged { rv, n }. */
  counters: Map<string, { rv: number; n: number }>;
  maxRv: number;
}

/** Runs the writer once and kills it `killAfterMs` after its first acknowledged write. */
async function runAndKill(dir: string, tag: string, killAfterMs: number, acked: Acked): Promise<number> {
  const child = spawn(process.execPath, [writer, dir, tag], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let lines = 0;
  let timer: NodeJS.Timeout | undefined;
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    const [op, name, rvText, nText] = line.split(' ');
    if (op === 'READY') return;
    lines++;
    const rv = Number(rvText);
    acked.maxRv = Math.max(acked.maxRv, rv);
    if (op === 'C') acked.created.set(name!, rv);
    else if (op === 'D') {
      acked.created.delete(name!);
      acked.deleted.add(name!);
    } else if (op === 'U') {
      acked.counters.set(name!, { rv, n: Number(nText) });
      acked.created.delete(name!); // its create revision is superseded
    }
    if (!timer) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(guard);
  if (timer) clearTimeout(timer);
  children.delete(child);
  // Read whatever the pipe still holds: those writes were acknowledged before the kill.
  await new Promise<void>((resolve) =>
    (rl as unknown as { closed?: boolean }).closed ? resolve() : rl.once('close', resolve),
  );
  if (child.signalCode !== 'SIGKILL')
    throw new Error(`writer exited by itself (${child.exitCode}): ${stderr}`);
  return lines;
}

async function verify(dir: string, acked: Acked): Promise<void> {
  const store = await openStore({ backend: 'embedded', dir });
  try {
    const rev = store.currentRevision();
    expect(rev).toBeGreaterThanOrEqual(acked.maxRv);
    const items = (await store.list(PODS, { namespace: 'crash' })).items;
    const byName = new Map(items.map((o) => [o.metadata.name!, o]));
    // Nothing corrupt: every object decodes, names its own key, and revisions are unique and <= rev.
    const rvs = new Set<number>();
    for (const o of items) {
      const r = Number(o.metadata.resourceVersion);
      expect(r).toBeLessThanOrEqual(rev);
      expect(rvs.has(r)).toBe(false);
      rvs.add(r);
      expect(o.kind).toBe('Pod');
    }
    for (const [name, rv] of acked.created) {
      const o = byName.get(name);
      // A -x object's delete may have been in flight at the kill: gone is fine, changed is not.
      if (name.endsWith('-x') && !o) continue;
      expect(o, `acknowledged create of ${name} lost`).toBeDefined();
      // Unless a later write (possibly unacknowledged) replaced it, the revision is the acknowledged one.
      if (!name.includes('-ctr-')) expect(Number(o!.metadata.resourceVersion)).toBe(rv);
    }
    for (const name of acked.deleted)
      expect(byName.has(name), `acknowledged delete of ${name} lost`).toBe(false);
    for (const [name, { rv, n }] of acked.counters) {
      const o = byName.get(name)!;
      expect(Number(o.metadata.resourceVersion)).toBeGreaterThanOrEqual(rv);
      expect(o.spec.n).toBeGreaterThanOrEqual(n);
    }
    // New writes continue after every revision ever acknowledged.
    const fresh = await store.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { namespace: 'check', name: `c${rev}` },
    });
    expect(Number(fresh.metadata.resourceVersion)).toBe(rev + 1);
    expect(Number(fresh.metadata.resourceVersion)).toBeGreaterThan(acked.maxRv);
    await store.get(PODS, 'check', `c${rev}`).catch((e) => {
      if (!isApiError(e)) throw e;
      throw new Error('a fresh write is not readable');
    });
  } finally {
    await store.dispose();
  }
}

describe('embedded store crash safety', () => {
  it('every acknowledged write survives SIGKILL at random moments (20 runs)', async () => {
    const DIRS = 4;
    const RUNS_PER_DIR = 5;
    let totalAcked = 0;
    // Two directories at a time: the machine has two cores.
    const lanes = Array.from({ length: 2 }, (_, lane) =>
      (async () => {
        for (let d = lane; d < DIRS; d += 2) {
          const dir = path.join(root, `d${d}`);
          const acked: Acked = { created: new Map(), deleted: new Set(), counters: new Map(), maxRv: 0 };
          for (let run = 0; run < RUNS_PER_DIR; run++) {
            const killAfter = Math.floor(Math.random() * 400);
            totalAcked += await runAndKill(dir, `d${d}r${run}`, killAfter, acked);
            await verify(dir, acked);
          }
        }
      })(),
    );
    await Promise.all(lanes);
    expect(totalAcked).toBeGreaterThan(100);
    // The runs went through snapshots too (every 16 KiB of log), not just plain appends.
    const withSnapshot = Array.from({ length: DIRS }, (_, d) => path.join(root, `d${d}`, 'snapshot')).filter(
      (f) => existsSync(f),
    );
    expect(withSnapshot.length).toBeGreaterThan(0);
  }, 60_000);
});
