/**
 * The matrix and capture steps run for real inside namespaces we create, through a small
 * RunContext of our own (no cluster: places are our namespaces), parsed from scenario YAML by the
 * scenario parser — so the grid, its diff, nested `during:` steps and packet expectations are all
 * exercised against the kernel.
 *
 * Address plan:
 *   pn-h3-m1  "pod:a"  veth h3m1 10.97.0.1/24
 *   pn-h3-m2  "pod:b"  veth h3m2 10.97.0.2/24; a node server: TCP 8080 and 8081, UDP echo 5353;
 *             iptables in pn-h3-m2 drops TCP 8081 from 10.97.0.1 (so a times out where b connects)
 *   "pod:app=x" selects both (a row that is partly reachable shows ~).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realExec } from '../../../src/kernel/exec.ts';
import { parseScenario } from '../../../src/scenario/format.ts';
import { stepKind } from '../../../src/scenario/steps/index.ts';
import type { Place, RunContext, StepOutcome } from '../../../src/scenario/types.ts';

const M1 = 'pn-h3-m1';
const M2 = 'pn-h3-m2';
const A: Place = { kind: 'pod', label: 'pod:a', netns: M1, ip: '10.97.0.1', node: 'node-1' };
const B: Place = { kind: 'pod', label: 'pod:b', netns: M2, ip: '10.97.0.2', node: 'node-1' };

const SERVER = `
const net = require('net'), dgram = require('dgram');
let n = 0;
const ready = () => { if (++n === 3) console.log('ready'); };
for (const p of [8080, 8081]) net.createServer((s) => s.end()).listen(p, ready);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send('pod-b', r.port, r.address));
u.bind(5353, ready);
`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
function cleanup(): void {
  for (const ns of [M1, M2]) {
    try {
      ip('netns', 'del', ns);
    } catch {}
  }
}

function context(artifactsDir: string, deferred: Array<() => unknown>): RunContext {
  const places = async (ref: string): Promise<Place[]> => {
    if (ref === 'pod:a') return [A];
    if (ref === 'pod:b') return [B];
    if (ref === 'pod:app=x') return [A, B];
    throw new Error(`${ref}: no such place`);
  };
  return {
    scenario: 'h3-matrix',
    baseDir: '.',
    artifactsDir,
    cluster: { name: 'h3m', spec: {} as never, plan: { nodes: [] } as never, kubeconfigPath: '', apiUrl: '' },
    client: {} as never,
    nodes: [],
    outside: { netns: 'none', ip: '10.97.0.99' },
    underlay: { netns: 'none', bridge: 'pn0' },
    defaultNamespace: 'default',
    exec: realExec,
    signal: new AbortController().signal,
    place: async (ref) => (await places(ref))[0]!,
    places,
    execIn: (place, cmd, opts) =>
      realExec.run(cmd[0]!, cmd.slice(1), {
        netns: typeof place === 'string' ? place : place.netns,
        allowFail: true,
        timeoutMs: opts?.timeoutMs ?? 30_000,
      }),
    pods: async () => [],
    log: () => {},
    defer: (fn) => {
      deferred.push(fn);
    },
  };
}

function parseSteps(yaml: string) {
  return parseScenario(yaml, 'h3-matrix.yaml', '.').steps;
}

async function run(step: { kind: string; spec: unknown }, ctx: RunContext): Promise<StepOutcome> {
  return stepKind(step.kind)!.run(step.spec, ctx);
}

describe.skipIf(process.getuid?.() !== 0)('matrix and capture steps in namespaces', () => {
  let server: ChildProcess | undefined;
  let artifacts = '';
  const deferred: Array<() => unknown> = [];
  let ctx: RunContext;

  beforeAll(async () => {
    cleanup();
    ip('netns', 'add', M1);
    ip('netns', 'add', M2);
    ip('-n', M1, 'link', 'add', 'h3m1', 'type', 'veth', 'peer', 'name', 'h3m2', 'netns', M2);
    ip('-n', M1, 'addr', 'add', '10.97.0.1/24', 'dev', 'h3m1');
    ip('-n', M2, 'addr', 'add', '10.97.0.2/24', 'dev', 'h3m2');
    for (const [ns, dev] of [
      [M1, 'h3m1'],
      [M2, 'h3m2'],
    ] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    execFileSync('ip', [
      'netns',
      'exec',
      M2,
      'iptables',
      '-A',
      'INPUT',
      '-s',
      '10.97.0.1',
      '-p',
      'tcp',
      '--dport',
      '8081',
      '-j',
      'DROP',
    ]);
    server = spawn('ip', ['netns', 'exec', M2, process.execPath, '-e', SERVER], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      server!.on('exit', (c) => reject(new Error(`server exited ${c}`)));
    });
    artifacts = mkdtempSync(join(tmpdir(), 'pn-h3-artifacts-'));
    ctx = context(artifacts, deferred);
  });

  afterAll(async () => {
    for (const fn of deferred.reverse()) await fn();
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await new Promise((r) => server!.once('exit', r));
    }
    cleanup();
    if (artifacts) rmSync(artifacts, { recursive: true, force: true });
  });

  const MATRIX = `
name: h3-matrix
steps:
  - matrix:
      from: [pod:a, pod:b, pod:app=x]
      to: [pod:b:8080, pod:b:8081, pod:b:9090, 10.97.0.2:5353/udp, 10.97.0.2:5354/udp]
      timeout: 1s
      expect: |
        from\\to     pod:b:8080  pod:b:8081  pod:b:9090  10.97.0.2:5353/udp  10.97.0.2:5354/udp
        pod:a      ✓           ✗           ✗           ✓                   ✗
        pod:b      ✓           ✓           ✗           ✓                   ✗
        pod:app=x  ✓           .           ✗           ✓                   ✗
`;

  it('measures the grid (connect, refused, dropped, UDP reply, ICMP unreachable, mixed rows) and matches it', async () => {
    const [step] = parseSteps(MATRIX);
    const out = await run(step!, ctx);
    expect(out.message).toBe('all 15 cells as expected');
    expect(out.ok).toBe(true);
    const data = out.data as { cells: string[][] };
    expect(data.cells).toEqual([
      ['ok', 'fail', 'fail', 'ok', 'fail'],
      ['ok', 'ok', 'fail', 'ok', 'fail'],
      ['ok', 'mixed', 'fail', 'ok', 'fail'],
    ]);
    // The grid is printed with labels, and the mixed cell shows how many sources got through.
    expect(out.details![0]).toContain('pod:b:8080');
    expect(out.details!.find((l) => l.startsWith('pod:app=x'))).toContain('~1/2');
  });

  it('names every differing cell, with the reason, when the grid does not match', async () => {
    const wrong = MATRIX.replace(/pod:a {6}✓ {11}✗/, 'pod:a      ✗           ✓');
    const [step] = parseSteps(wrong);
    const out = await run(step!, ctx);
    expect(out.ok).toBe(false);
    expect(out.message).toBe('2 of 15 cells differ from the expected grid');
    const text = out.details!.join('\n');
    expect(text).toContain('pod:a → pod:b:8080 (tcp 10.97.0.2:8080): expected ✗, got ✓');
    expect(text).toContain('pod:a → pod:b:8081 (tcp 10.97.0.2:8081): expected ✓, got ✗ (timeout)');
    expect(text).toMatch(/^pod:a\s+✓!\s+✗!/m);
  });

  it('captures during nested steps and checks who the server saw', async () => {
    const [step] = parseSteps(`
name: h3-capture
steps:
  - capture:
      in: pod:b
      interface: h3m2
      filter: tcp or udp
      during:
        - matrix:
            from: [pod:a]
            to: [pod:b:8080, 10.97.0.2:5353/udp]
            expect: ["✓ ✓"]
      expect:
        - {src: pod:a, dst: self, proto: tcp, dstPort: 8080, flags: "syn,!ack", count: 1}
        - {src: self, dst: pod:a, proto: tcp, srcPort: 8080, flags: [syn, ack]}
        - {src: pod:a, dst: 10.97.0.0/24, proto: udp, dstPort: 5353}
        - {src: 10.97.0.99, count: 0}
`);
    const out = await run(step!, ctx);
    expect(out.message, out.details?.join('\n')).toMatch(
      /^\d+ packets captured on pod:b\/h3m2; all 4 expectations met$/,
    );
    expect(out.ok).toBe(true);
    expect(out.artifacts![0]).toMatch(new RegExp(`^${artifacts}/capture-pod_b-h3m2-\\d+\\.pcap$`));
    expect(out.details!.some((l) => /TCP 10\.97\.0\.1:\d+ > 10\.97\.0\.2:8080 \[S\]/.test(l))).toBe(true);
  });

  it('fails with the count it saw when an expectation is not met, and reports a failing nested step', async () => {
    const [unmet, nestedFail] = parseSteps(`
name: h3-capture-fail
steps:
  - capture:
      in: pod:b
      interface: h3m2
      filter: tcp
      duration: 200ms
      expect:
        - {src: pod:a, proto: tcp, min: 1}
  - capture:
      in: pod:b
      interface: h3m2
      during:
        - matrix: {from: [pod:a], to: [pod:b:9090], timeout: 1s, expect: ["✓"]}
`);
    const a = await run(unmet!, ctx);
    expect(a.ok).toBe(false);
    expect(a.message).toMatch(/^1 of 1 packet expectations not met/);
    expect(a.details![0]).toBe('✗ tcp pod:a (10.97.0.1) → *: 0 packets (want ≥1)');
    const b = await run(nestedFail!, ctx);
    expect(b.ok).toBe(false);
    expect(b.message).toMatch(
      /^during step 1 \(matrix 1×1: pod:a → pod:b:9090\) failed: 1 of 1 cells differ/,
    );
  });
});
