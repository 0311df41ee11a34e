// Lifecycle hooks in the container runner, without namespaces or root: the runner is given no
// netns, so the container and its hooks run as plain host processes in a temp directory.
// Address plan: an HTTP server on 127.0.0.1:<ephemeral> stands in for the container's port.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Container } from '../api/index.ts';
import {
  ContainerRunner,
  DEFAULT_BACKOFF,
  graceAfterPreStop,
  type HookContext,
  type LifecycleHandler,
  runLifecycleHook,
} from './runtime.ts';

const dir = mkdtempSync(join(tmpdir(), 'pn-h8-hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx = (c: Partial<Container> = {}): HookContext => ({
  netns: undefined,
  podIP: '127.0.0.1',
  container: { name: 'c', ...c },
  env: { MARK: 'from-env' },
});

/** A runner for `sh -c script` with the given lifecycle, collecting its Events. */
function makeRunner(
  script: string,
  lifecycle: { preStop?: LifecycleHandler; postStart?: LifecycleHandler },
  graceMs = 10_000,
) {
  const events: Array<{ type: string; reason: string; message: string }> = [];
  const container: Container = { name: 'c', image: 'busybox', command: ['sh', '-c', script], lifecycle };
  const r = new ContainerRunner({
    container,
    netns: undefined,
    podIP: () => '127.0.0.1',
    restartPolicy: 'Never',
    backoff: DEFAULT_BACKOFF,
    graceMs,
    logPath: (n) => join(dir, `log-${n}-${Math.random().toString(36).slice(2)}`),
    prepare: async () => ({ argv: ['sh', '-c', script], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }),
    onChange: () => {},
    onEvent: (type, reason, message) => events.push({ type, reason, message }),
  });
  return { r, events };
}

async function until(f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 25));
  }
}

const runners: ContainerRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop(0, { preStop: false })));
});

describe('graceAfterPreStop', () => {
  it('leaves the rest of the grace period, never under 2 s', () => {
    expect(graceAfterPreStop(10_000, 3_000)).toBe(7_000);
    expect(graceAfterPreStop(10_000, 9_500)).toBe(2_000);
    expect(graceAfterPreStop(5_000, 60_000)).toBe(2_000);
  });
});

describe('runLifecycleHook', () => {
  let srv: Server;
  let port = 0;
  const hits: string[] = [];
  beforeAll(async () => {
    srv = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(req.url === '/fail' ? 500 : 200);
      res.end('x');
    });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    port = (srv.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((res) => srv.close(() => res())));

  it('exec runs the command with the container environment; a non-zero exit fails with its output', async () => {
    const f = join(dir, 'exec-out');
    const ok = await runLifecycleHook(
      { exec: { command: ['sh', '-c', `echo "$MARK" > ${f}`] } },
      ctx(),
      5000,
    );
    expect(ok.ok).toBe(true);
    expect(readFileSync(f, 'utf8').trim()).toBe('from-env');
    const bad = await runLifecycleHook({ exec: { command: ['sh', '-c', 'echo nope; exit 3'] } }, ctx(), 5000);
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/exited with 3: nope/);
  });

  it('httpGet hits the path; any HTTP answer succeeds, no answer fails', async () => {
    const h = (path: string, p = port): LifecycleHandler => ({
      httpGet: { path, port: p, host: '127.0.0.1' },
    });
    expect((await runLifecycleHook(h('/drain'), ctx(), 5000)).ok).toBe(true);
    expect(hits).toContain('/drain');
    expect((await runLifecycleHook(h('/fail'), ctx(), 5000)).ok).toBe(true);
    const closed = await runLifecycleHook(h('/x', 1), ctx(), 5000);
    expect(closed.ok).toBe(false);
    expect(closed.message).toMatch(/no response/);
  });

  it('httpGet resolves a named container port', async () => {
    const c = ctx({ ports: [{ name: 'web', containerPort: port }] });
    const r = await runLifecycleHook(
      { httpGet: { path: '/named', port: 'web', host: '127.0.0.1' } },
      c,
      5000,
    );
    expect(r.ok).toBe(true);
    expect(hits).toContain('/named');
  });

  it('sleep waits its seconds, cut short by the limit or an abort', async () => {
    let t0 = Date.now();
    await runLifecycleHook({ sleep: { seconds: 1 } }, ctx(), 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    t0 = Date.now();
    await runLifecycleHook({ sleep: { seconds: 30 } }, ctx(), 300);
    expect(Date.now() - t0).toBeLessThan(2000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    t0 = Date.now();
    await runLifecycleHook({ sleep: { seconds: 30 } }, ctx(), 30_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('an exec hook over its limit is killed and fails', async () => {
    const t0 = Date.now();
    const r = await runLifecycleHook({ exec: { command: ['sleep', '30'] } }, ctx(), 300);
    expect(r.ok).toBe(false);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('tcpSocket is not run and comes back ignored', async () => {
    const r = await runLifecycleHook({ tcpSocket: { port } }, ctx(), 5000);
    expect(r).toMatchObject({ ok: true, ignored: true });
    expect(r.message).toMatch(/deprecated/);
  });
});

describe('ContainerRunner with hooks', () => {
  it('runs preStop before SIGTERM, and SIGTERM only after the hook', async () => {
    const log = join(dir, 'order-1');
    writeFileSync(log, '');
    // The container notes SIGTERM (with a time) and exits; the hook notes itself, then sleeps 1 s.
    const { r } = makeRunner(
      `trap 'echo term $(date +%s%N) >> ${log}; exit 0' TERM; while :; do sleep 0.1; done`,
      {
        preStop: { exec: { command: ['sh', '-c', `echo prestop $(date +%s%N) >> ${log}; sleep 1`] } },
      },
    );
    runners.push(r);
    r.start();
    await until(() => !!r.status().state?.running);
    const t0 = Date.now();
    await r.stop(10_000);
    const elapsed = Date.now() - t0;
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['prestop', 'term']);
    const [pre, term] = lines.map((l) => Number(l.split(' ')[1]) / 1e6);
    expect(term - pre).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(r.status().state?.terminated?.exitCode).toBe(0);
  }, 20_000);

  it('counts the hook against the grace period: SIGKILL 2 s after a hook that used it all', async () => {
    const { r } = makeRunner(
      `trap '' TERM; while :; do sleep 0.1; done`,
      // `sleep` is a 1.29+ handler our shared ProbeHandler type does not list yet.
      { preStop: { sleep: { seconds: 30 } } as LifecycleHandler },
      1_000,
    );
    runners.push(r);
    r.start();
    await until(() => !!r.status().state?.running);
    const t0 = Date.now();
    await r.stop(1_000);
    const elapsed = Date.now() - t0;
    // 1 s of hook (cut at the grace period), then SIGTERM ignored, SIGKILL after the 2 s floor.
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(elapsed).toBeLessThan(6_000);
    expect(r.status().state?.terminated?.signal).toBe(9);
  }, 20_000);

  it('a failing preStop records FailedPreStopHook and the container still gets SIGTERM', async () => {
    const { r, events } = makeRunner(`trap 'exit 0' TERM; while :; do sleep 0.1; done`, {
      preStop: { exec: { command: ['sh', '-c', 'echo broken; exit 7'] } },
    });
    runners.push(r);
    r.start();
    await until(() => !!r.status().state?.running);
    await r.stop(10_000);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'FailedPreStopHook',
        message: expect.stringMatching(/exited with 7: broken/),
      }),
    ]);
    expect(r.status().state?.terminated?.exitCode).toBe(0);
  }, 20_000);

  it('the agent-shutdown stop skips preStop', async () => {
    const f = join(dir, 'skipped');
    const { r } = makeRunner('while :; do sleep 0.1; done', {
      preStop: { exec: { command: ['sh', '-c', `touch ${f}`] } },
    });
    runners.push(r);
    r.start();
    await until(() => !!r.status().state?.running);
    await r.stop(2_000, { preStop: false });
    expect(() => readFileSync(f)).toThrow();
  }, 20_000);

  it('postStart runs after the start; the container is running only once it returns', async () => {
    const f = join(dir, 'poststart');
    const { r } = makeRunner('while :; do sleep 0.1; done', {
      postStart: { exec: { command: ['sh', '-c', `sleep 0.5; echo "$MARK-ok" > ${f}`] } },
    });
    runners.push(r);
    r.start();
    await until(() => r.pid !== undefined);
    expect(r.status().state?.waiting?.reason).toBe('ContainerCreating');
    await until(() => !!r.status().state?.running);
    expect(readFileSync(f, 'utf8').trim()).toBe('-ok');
  }, 20_000);

  it('a failing postStart kills the container with FailedPostStartHook', async () => {
    const { r, events } = makeRunner(`trap 'exit 0' TERM; while :; do sleep 0.1; done`, {
      postStart: { exec: { command: ['false'] } },
    });
    runners.push(r);
    r.start();
    await until(() => r.finished);
    expect(events.map((e) => e.reason)).toEqual(['FailedPostStartHook', 'Killing']);
    const t = r.status().state?.terminated;
    expect(t?.message).toBe('FailedPostStartHook');
    expect(r.status().state?.running).toBeUndefined();
  }, 20_000);
});
