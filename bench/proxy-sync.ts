/**
 * kube-proxy rule sync against the bare kernel tool, in the same run: for N services × 5
 * endpoints, the time of a full `sync()` of our IptablesProxier / NftablesProxier (fold the
 * pending changes, render, read the live ruleset where needed, apply, conntrack check) in a fresh
 * network namespace, against `iptables-restore --noflush` / `nft -f` applying the very payload
 * that sync produced, in another fresh namespace (both created, then a pause until the kernel
 * has finished tearing down the previous round's namespaces; odd rounds run the bare tool first,
 * with the previous round's identical payload). Then, at the largest size, a partial sync after
 * one endpoint of one service changed. Prints ratios (goal: full sync ≤ 1.5× the bare apply).
 * Three modes: `iptables` (the system's iptables-restore, here iptables-nft), `iptables-legacy`
 * (the same proxier and payload through iptables-legacy-restore/-save: the x_tables kernel path
 * upstream's numbers were measured on), and `nftables`. iptables-nft is slow with large payloads,
 * so it gets smaller sizes by default. Under each row, where our sync's time went (the
 * proxier's own timings, medians): fold the changes, render, wait for the live-ruleset read
 * (iptables full syncs; the read runs while rendering), parse it, apply, conntrack.
 * Needs root; namespaces are `pn-h5s-bs<pid>-<n>` and are removed at the end.
 *
 *   npx tsx bench/proxy-sync.ts [--services 1000,5000,10000] [--iptables-services 1000,2000]
 *                               [--modes iptables,iptables-legacy,nftables] [--rounds 3]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { IptablesProxier } from '../proxy/iptables/proxier.ts';
import { ExecIptablesRunner, type IptablesRunner } from '../proxy/iptables/runner.ts';
import { NftablesProxier } from '../proxy/nftables/proxier.ts';
import { ExecNftRunner, type NftRunner } from '../proxy/nftables/runner.ts';
import { ep, makeSlice } from '../proxy/testing/builders.ts';
import { syntheticObjects } from '../proxy/testing/synthetic.ts';
import { type Exec, realExec } from '../src/kernel/exec.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SIZES = (opt('--services') ?? '1000,5000,10000').split(',').map(Number);
const IPT_NFT_SIZES = (opt('--iptables-services') ?? '1000,2000').split(',').map(Number);
const MODES = (opt('--modes') ?? 'iptables,iptables-legacy,nftables').split(',') as Mode[];
const ROUNDS = Number(opt('--rounds') ?? 3);
const PREFIX = `pn-h5s-bs${process.pid}`;
let seq = 0;
const live = new Set<string>();

function newNs(): string {
  const ns = `${PREFIX}-${seq++}`;
  execFileSync('ip', ['netns', 'add', ns]);
  live.add(ns);
  return ns;
}

function delNs(ns: string): void {
  execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  live.delete(ns);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const ms = (x: number) => `${x.toFixed(0)} ms`.padStart(9);

/** Records what the proxier applies, so the bare tool can apply exactly the same. */
class RecordingIptables implements IptablesRunner {
  payloads: string[] = [];
  constructor(private readonly inner: IptablesRunner) {}
  restore(p: string) {
    this.payloads.push(p);
    return this.inner.restore(p);
  }
  save(t?: string[]) {
    return this.inner.save(t);
  }
}

class RecordingNft implements NftRunner {
  txs: string[] = [];
  constructor(private readonly inner: NftRunner) {}
  run(tx: string) {
    this.txs.push(tx);
    return this.inner.run(tx);
  }
  list(t: string) {
    return this.inner.list(t);
  }
}

function bare(ns: string, cmd: string, argv: string[], input: string): number {
  const t = performance.now();
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...argv], { input, stdio: ['pipe', 'ignore', 'inherit'] });
  return performance.now() - t;
}

type Mode = 'iptables' | 'iptables-legacy' | 'nftables';
/** The proxiers' phase timings (the nftables proxier has no read or parse phase). */
type Timings = Record<string, number>;

/** `fold 3 · render 40 · ...`: per-phase medians over rounds. */
function breakdown(rounds: Timings[]): string {
  const keys = Object.keys(rounds[0] ?? {});
  return keys.map((k) => `${k} ${median(rounds.map((r) => r[k] ?? 0)).toFixed(0)}`).join(' · ');
}

/** Runs iptables-restore/-save as their -legacy variants. */
const legacyExec: Exec = {
  run: (cmd, argv, o) =>
    realExec.run(cmd.startsWith('iptables') ? `iptables-legacy-${cmd.slice(9)}` : cmd, argv, o),
};
const restoreCmd = (mode: Mode) =>
  mode === 'iptables-legacy' ? 'iptables-legacy-restore' : 'iptables-restore';

/** Busy share of all CPUs over `ms` milliseconds, from /proc/stat. */
async function busyShare(ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + f[4]!;
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

/**
 * Lets the kernel finish tearing down deleted namespaces before the next measurement: freeing
 * their rules runs in a kernel worker (tens of seconds of CPU for a 10,000-service nftables
 * table) and would otherwise share the CPUs with whichever apply runs next. Waits at least
 * 0.3 s + N/10 ms, then until the machine is at least half idle for 1 s (at most 120 s).
 */
async function settle(n: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 300 + n / 10));
  const until = Date.now() + 120_000;
  while (Date.now() < until && (await busyShare(1000)) > 0.5) {}
}

/** One full sync in namespace `ns`; returns timings and the proxier (for a partial sync). */
async function fullSync(mode: Mode, n: number, ns: string) {
  const objs = syntheticObjects(n, 5);
  const common = { nodeName: 'node-1', nodeIPs: ['192.168.0.2'], clusterCIDR: '10.244.0.0/16' };
  const ipt = new RecordingIptables(
    new ExecIptablesRunner({
      netns: ns,
      timeoutMs: 900_000,
      exec: mode === 'iptables-legacy' ? legacyExec : realExec,
    }),
  );
  const nft = new RecordingNft(new ExecNftRunner({ netns: ns, timeoutMs: 900_000 }));
  const proxier =
    mode === 'nftables'
      ? new NftablesProxier({ ...common, runner: nft })
      : new IptablesProxier({ ...common, runner: ipt });
  const t0 = performance.now();
  for (const s of objs.services) proxier.onServiceUpdate(undefined, s);
  for (const s of objs.slices) proxier.onEndpointSliceUpdate(s, false);
  const events = performance.now() - t0;
  const t1 = performance.now();
  const { timings } = await proxier.sync();
  const sync = performance.now() - t1;
  const payload = mode === 'nftables' ? nft.txs.at(-1)! : ipt.payloads.at(-1)!;
  return { ns, events, sync, payload, proxier, objs, ipt, nft, timings: timings as unknown as Timings };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('proxy-sync: needs root (applies rules in network namespaces); skipped');
    return;
  }
  const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
  console.log(`services × 5 endpoints, median of ${ROUNDS} rounds; load average at start ${load}`);
  console.log('mode            services   events    full sync  bare apply   ratio   payload');
  const sizes = (m: Mode) => (m === 'iptables' ? IPT_NFT_SIZES : SIZES);
  for (const n of [...new Set([...SIZES, ...IPT_NFT_SIZES])].sort((a, b) => a - b)) {
    for (const mode of MODES) {
      if (!sizes(mode).includes(n)) continue;
      const ours: number[] = [];
      const bares: number[] = [];
      const evs: number[] = [];
      const phases: Timings[] = [];
      let size = 0;
      let lastPayload: string | undefined;
      const applyBare = (ns: string, text: string) =>
        mode === 'nftables'
          ? bare(ns, 'nft', ['-f', '-'], text)
          : bare(ns, restoreCmd(mode), ['-w', '5', '--noflush'], text);
      for (let r = 0; r < ROUNDS; r++) {
        // Both namespaces exist before either measurement, and odd rounds measure the bare tool
        // first (with the previous round's payload: the same text, the objects are the same),
        // so neither side is systematically the one that runs next to kernel clean-up work.
        const [nsOurs, nsBare] = [newNs(), newNs()];
        await settle(n);
        const bareFirst = r % 2 === 1 && lastPayload !== undefined;
        if (bareFirst) bares.push(applyBare(nsBare, lastPayload!));
        const f = await fullSync(mode, n, nsOurs);
        if (bareFirst && f.payload !== lastPayload)
          throw new Error('full-sync payload differs between rounds');
        if (!bareFirst) bares.push(applyBare(nsBare, f.payload));
        lastPayload = f.payload;
        ours.push(f.sync);
        evs.push(f.events);
        phases.push(f.timings);
        size = f.payload.length;
        delNs(nsBare);
        // Partial sync at the largest size: one endpoint of one service replaced.
        if (n === Math.max(...sizes(mode)) && r === ROUNDS - 1) {
          // The bare reference for the partial payload: the full ruleset first, then this text.
          const ns3 = newNs();
          applyBare(ns3, f.payload);
          await settle(n);
          const s0 = f.objs.slices[0]!;
          f.proxier.onEndpointSliceUpdate(
            makeSlice('bench', 'svc-0', s0.metadata.name!, (s) => {
              s.endpoints = [...(s0.endpoints ?? []).slice(1), ep('10.244.250.1', { node: 'node-1' })];
            }),
            false,
          );
          const t = performance.now();
          const { timings } = await f.proxier.sync();
          const partial = performance.now() - t;
          const pl = mode === 'nftables' ? f.nft.txs.at(-1)! : f.ipt.payloads.at(-1)!;
          const barePartial = applyBare(ns3, pl);
          delNs(ns3);
          console.log(
            `${mode.padEnd(15)} ${String(n).padStart(8)}  partial sync (1 endpoint changed) ${ms(partial)}   bare ${ms(barePartial)}   ratio ${(partial / barePartial).toFixed(2)}   ${(pl.length / 1024).toFixed(0)} KiB`,
          );
          console.log(`${''.padEnd(26)}partial: ${breakdown([timings as unknown as Timings])} ms`);
        }
        delNs(f.ns);
      }
      const [o, b] = [median(ours), median(bares)];
      console.log(
        `${mode.padEnd(15)} ${String(n).padStart(8)} ${ms(median(evs))} ${ms(o)}  ${ms(b)}   ${(o / b).toFixed(2)}   ${(size / 1024).toFixed(0)} KiB`,
      );
      console.log(`${''.padEnd(26)}full sync: ${breakdown(phases)} ms`);
    }
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const ns of [...live]) delNs(ns);
  });
