/**
 * kube-proxy sync cost: for N services × 5 endpoints, time our render (iptables and nftables),
 * then render + apply against the bare kernel tool applying the same text (`iptables-restore
 * --noflush`, `nft -f`), in the same run, and a partial sync (one service changed) against a full
 * one — without a render cache (every service rendered) and with the proxiers' caches (only the
 * changed service rendered; the rest is joining cached text). Prints ratios: render overhead on
 * top of the kernel's own apply cost is what we add.
 * Applying needs root; it happens in a throwaway namespace `pn-pxbench-<pid>` removed at the end.
 *
 *   npx tsx bench/proxy-render.ts [--services 100,1000,5000] [--rounds 5]
 */
import { execFileSync } from 'node:child_process';
import { IptablesRenderCache, renderIptables } from '../proxy/iptables/render.ts';
import { NftablesRenderCache, renderNftables, renderNftablesSync } from '../proxy/nftables/render.ts';
import { syntheticState } from '../proxy/testing/synthetic.ts';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SIZES = (opt('--services') ?? '100,1000,5000').split(',').map(Number);
const ROUNDS = Number(opt('--rounds') ?? 5);
const root = process.getuid?.() === 0;
const NS = `pn-pxbench-${process.pid}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function inNs(cmd: string, argv: string[], input?: string): void {
  execFileSync('ip', ['netns', 'exec', NS, cmd, ...argv], { input, stdio: ['pipe', 'ignore', 'inherit'] });
}

/** CPU time of fn in ms: steadier than wall time on a shared machine. */
function cpu(fn: () => void): number {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`.padStart(10);

try {
  if (root) execFileSync('ip', ['netns', 'add', NS]);
  console.log(`services×5 endpoints, median of ${ROUNDS}${root ? '' : ' (not root: render only)'}`);
  for (const n of SIZES) {
    const state = syntheticState(n, 5);
    const opts = { clusterCIDR: '10.244.0.0/16' };
    const ipt = renderIptables(state, opts);
    const nft = renderNftables(state, opts);
    const renderIpt = median(Array.from({ length: ROUNDS }, () => cpu(() => renderIptables(state, opts))));
    const renderNft = median(Array.from({ length: ROUNDS }, () => cpu(() => renderNftables(state, opts))));
    const partial = median(
      Array.from({ length: ROUNDS }, () =>
        cpu(() =>
          renderIptables(state, { ...opts, fullSync: false, updatedServices: new Set(['bench/svc-0']) }),
        ),
      ),
    );
    console.log(
      `\n${n} services (${ipt.stats.natRules} nat rules, ${(ipt.payload.length / 1024).toFixed(0)} KiB iptables, ${(nft.length / 1024).toFixed(0)} KiB nft)`,
    );
    console.log(`  render (CPU) iptables ${fmt(renderIpt)}   nftables ${fmt(renderNft)}`);
    console.log(
      `  partial render (1 of ${n} changed) ${fmt(partial)}  = ${(partial / renderIpt).toFixed(2)}× full`,
    );
    // With the caches the proxiers keep: warm them once, then one service changes per round.
    const iptCache = new IptablesRenderCache();
    const nftCache = new NftablesRenderCache();
    renderIptables(state, { ...opts, cache: iptCache });
    const nftFull = renderNftablesSync(state, { ...opts, cache: nftCache });
    const changed = new Set(['bench/svc-0']);
    const cachedFullIpt = median(
      Array.from({ length: ROUNDS }, () => cpu(() => renderIptables(state, { ...opts, cache: iptCache }))),
    );
    const cachedPartIpt = median(
      Array.from({ length: ROUNDS }, () =>
        cpu(() =>
          renderIptables(state, { ...opts, cache: iptCache, fullSync: false, updatedServices: changed }),
        ),
      ),
    );
    const cachedPartNft = median(
      Array.from({ length: ROUNDS }, () =>
        cpu(() =>
          renderNftablesSync(state, {
            ...opts,
            cache: nftCache,
            fullSync: false,
            updatedServices: changed,
            previous: nftFull.ports,
            existingChains: nftFull.activeChains,
            existingSets: nftFull.activeSets,
          }),
        ),
      ),
    );
    console.log(
      `  cached: iptables full ${fmt(cachedFullIpt)}  partial ${fmt(cachedPartIpt)}   nftables partial ${fmt(cachedPartNft)}`,
    );
    if (!root) continue;
    // Bare tool on pre-rendered text vs render + the same tool, interleaved round by round.
    const bareIpt: number[] = [];
    const oursIpt: number[] = [];
    const bareNft: number[] = [];
    const oursNft: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bareIpt.push(
        time(() => inNs('iptables-restore', ['--noflush'], ipt.payload.replace(/^-I .*\n/gm, ''))),
      );
      oursIpt.push(
        time(() =>
          inNs('iptables-restore', ['--noflush'], renderIptables(state, { ...opts, jumps: [] }).payload),
        ),
      );
      bareNft.push(time(() => inNs('nft', ['-f', '-'], nft)));
      oursNft.push(time(() => inNs('nft', ['-f', '-'], renderNftables(state, opts))));
    }
    const [bi, oi, bn, on] = [median(bareIpt), median(oursIpt), median(bareNft), median(oursNft)];
    console.log(
      `  iptables-restore bare ${fmt(bi)}   render+apply ${fmt(oi)}   ratio ${(oi / bi).toFixed(2)}`,
    );
    console.log(
      `  nft -f           bare ${fmt(bn)}   render+apply ${fmt(on)}   ratio ${(on / bn).toFixed(2)}`,
    );
  }
} finally {
  if (root) execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
}
