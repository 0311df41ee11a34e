/**
 * CNI ADD/DEL latency: podnet-bridge (thin C client → resident service) against the reference
 * bridge + host-local from Debian's containernetworking-plugins, in the same run, interleaved pod by
 * pod so that machine load hits both alike. Each call is timed from spawn to exit, as a runtime sees
 * it. Both use the same config (cniVersion 1.0.0, isGateway, isDefaultGateway; a second round adds
 * ipMasq) in their own fresh host namespace, so nothing touches the machine's network.
 *
 *   npx tsx bench/cni.ts [--pods 50] [--write]   (as root; --write updates bench/RESULTS-cni.md)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCniService } from '../cni/service.ts';

const ROOT = resolve(import.meta.dirname, '..');
const OUR = join(ROOT, 'cni/bin');
const REF = '/usr/lib/cni';
const args = process.argv.slice(2);
const PODS = Number(args[args.indexOf('--pods') + 1]) || 50;
const HOST_NS = process.env.PN_CNI_BENCH_HOST;

function sh(cmd: string, argv: string[]): string {
  return execFileSync(cmd, argv, { encoding: 'utf8' });
}

function call(
  file: string,
  env: Record<string, string>,
  conf: object,
): Promise<{ ms: number; code: number; out: string }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.on('error', rej);
    child.on('close', (code) => res({ ms: performance.now() - t0, code: code ?? 128, out }));
    child.stdin.end(JSON.stringify(conf));
  });
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p95: q(0.95) };
}

async function round(label: string, ipMasq: boolean, pods: string[], tag: string) {
  const dirs = [mkdtempSync(join(tmpdir(), 'pn-cni-bench-')), mkdtempSync(join(tmpdir(), 'pn-cni-bench-'))];
  const socket = join(dirs[0], 'cni.sock');
  const svc = await startCniService({ socketPath: socket });
  const conf = (type: string, ipam: string, bridge: string, dataDir: string) => ({
    cniVersion: '1.0.0',
    name: `pn-cni-bench-${tag}`,
    type,
    bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq,
    ipam: { type: ipam, subnet: '10.247.0.0/16', dataDir },
  });
  const ref = conf('bridge', 'host-local', `pn-cni-r${tag}`, dirs[0]);
  const ours = conf('podnet-bridge', 'podnet-host-local', `pn-cni-o${tag}`, dirs[1]);
  const env = (cmd: string, i: number, pod: string, path: string, who: string) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: `bench${tag}${i}`,
    CNI_NETNS: `/run/netns/${pod}-${who}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: path,
    PODNET_CNI_SOCKET: socket,
  });
  let refDelFailures = 0;
  const t = {
    refAdd: [] as number[],
    ourAdd: [] as number[],
    refDel: [] as number[],
    ourDel: [] as number[],
  };
  try {
    // Warm-up (first bridge creation, JIT): one pod each, not counted.
    for (const [file, c, path, who] of [
      [`${REF}/bridge`, ref, REF, 'ref'],
      [`${OUR}/podnet-bridge`, ours, `${OUR}:${REF}`, 'our'],
    ] as const) {
      const a = await call(file, env('ADD', 999, pods[0], path, who), c);
      if (a.code) throw new Error(`warm-up ADD failed: ${a.out}`);
      await call(file, env('DEL', 999, pods[0], path, who), c);
    }
    for (let i = 0; i < pods.length; i++) {
      // Odd pods: ours first; even: reference first — so neither always runs on a warmer cache.
      const order = i % 2 ? ['our', 'ref'] : ['ref', 'our'];
      for (const who of order) {
        const [file, c, path] =
          who === 'ref' ? [`${REF}/bridge`, ref, REF] : [`${OUR}/podnet-bridge`, ours, `${OUR}:${REF}`];
        const r = await call(file, env('ADD', i, pods[i], path, who), c);
        if (r.code) throw new Error(`${who} ADD failed: ${r.out}`);
        (who === 'ref' ? t.refAdd : t.ourAdd).push(r.ms);
      }
    }
    for (let i = 0; i < pods.length; i++) {
      const order = i % 2 ? ['our', 'ref'] : ['ref', 'our'];
      for (const who of order) {
        const [file, c, path] =
          who === 'ref' ? [`${REF}/bridge`, ref, REF] : [`${OUR}/podnet-bridge`, ours, `${OUR}:${REF}`];
        const r = await call(file, env('DEL', i, pods[i], path, who), c);
        // The reference 1.1.1 bridge fails to remove its masquerade jump with iptables-nft
        // ("CHAIN_DEL failed (Device or resource busy)"); count it, time it anyway.
        if (r.code && who === 'ref') refDelFailures++;
        else if (r.code) throw new Error(`${who} DEL failed: ${r.out}`);
        (who === 'ref' ? t.refDel : t.ourDel).push(r.ms);
      }
    }
  } finally {
    await svc.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const row = (op: string, ourMs: number[], refMs: number[]) => {
    const o = stats(ourMs);
    const r = stats(refMs);
    return `| ${label} | ${op} | ${o.median.toFixed(1)} | ${o.p95.toFixed(1)} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${(o.median / r.median).toFixed(2)}× |`;
  };
  const rows = [row('ADD', t.ourAdd, t.refAdd), row('DEL', t.ourDel, t.refDel)];
  if (refDelFailures) rows[1] += ` reference DEL failed ${refDelFailures}/${pods.length} times |`;
  process.stderr.write(rows.join('\n') + '\n');
  return rows;
}

async function inner(): Promise<void> {
  const pods = Array.from({ length: PODS }, (_, i) => `pn-cni-bench-p${i}`);
  for (const p of pods) for (const who of ['ref', 'our']) sh('ip', ['netns', 'add', `${p}-${who}`]);
  const lines: string[] = [];
  try {
    lines.push(...(await round('bridge', false, pods, 'a')));
    lines.push(...(await round('bridge + ipMasq', true, pods, 'b')));
  } finally {
    for (const p of pods)
      for (const who of ['ref', 'our'])
        execFileSync('ip', ['netns', 'del', `${p}-${who}`], { stdio: 'ignore' });
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function outer(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/cni.ts needs root (it creates network namespaces)');
    process.exit(1);
  }
  execFileSync('bash', [join(ROOT, 'scripts/setup.d/cni.sh')], { stdio: 'inherit' });
  const host = `pn-cni-bench-host`;
  execFileSync('ip', ['netns', 'add', host]);
  let table = '';
  try {
    // Run the measuring process inside the host namespace, so plugins are spawned directly.
    table = execFileSync(
      'ip',
      ['netns', 'exec', host, process.execPath, '--import', 'tsx', join(ROOT, 'bench/cni.ts'), ...args],
      {
        env: { ...process.env, PN_CNI_BENCH_HOST: host },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
  } finally {
    execFileSync('ip', ['netns', 'del', host], { stdio: 'ignore' });
  }
  const load = sh('cat', ['/proc/loadavg']).split(' ').slice(0, 3).join(' ');
  const header = [
    `Machine: ${cpus().length}× ${cpus()[0]?.model ?? '?'}, Linux ${sh('uname', ['-r']).trim()}, Node ${process.version}; load average ${load}`,
    `Date: ${new Date().toISOString()}; ${PODS} pods per round; times in ms from spawn to exit`,
    '',
    '| config | op | ours median | ours p95 | reference median | reference p95 | ours/reference (median) |',
    '|---|---|---|---|---|---|---|',
  ];
  const text = header.join('\n') + '\n' + table;
  process.stdout.write(text);
  if (args.includes('--write')) {
    const notes = [
      '',
      'Notes',
      '- Ratios come from interleaved measurements in one run; absolute times depend on the load.',
      '- Our ADD: the C client, one `ip -batch` process in the pod namespace (in parallel with the',
      "  bridge lookup), the host side through the service's resident `ip -batch` process, in-process",
      '  IPAM, and one `iptables-restore` with ipMasq.',
      '- The reference 1.1.1 bridge\'s DEL with ipMasq fails with iptables-nft ("CHAIN_DEL failed (Device',
      '  or resource busy)": its POSTROUTING jump stays), so its DEL time there is that of an aborted DEL.',
      '',
    ].join('\n');
    const md = `# CNI benchmark: podnet-bridge vs the reference bridge\n\nProduced by \`npx tsx bench/cni.ts --write\`. podnet runs as the C thin client talking to the resident\nservice (started by the benchmark); the reference is Debian's containernetworking-plugins 1.1.1\n(bridge + host-local). Goal: ADD median at most 1.5× the reference.\n\n${text}${notes}`;
    writeFileSync(join(ROOT, 'bench/RESULTS-cni.md'), md);
  }
}

if (HOST_NS) await inner();
else await outer();
