// The resident ip session under concurrency: many link lookups (existing, missing, the sentinel's
// own `lo`) and mutations in flight at once, across idle stops and restarts of the ip process. Each
// answer must describe the device that was asked for — the regression behind "bridge: cni0 already
// exists but is not a bridge" with 100 pods created at once (an answer meant for another request,
// the sentinel's `lo`, was taken for cni0's).
// Address plan: no addresses; a bridge cni0 and veth pairs d<round>x<i>/…p inside pn-h1-ips-<uid>.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpSession, RealIp, realExec } from '../../../src/kernel/index.ts';

const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)('resident ip session under concurrency', () => {
  const ns = `pn-h1-ips-${Math.random().toString(36).slice(2, 7)}`;
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'add', 'cni0', 'type', 'bridge']);
  });
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });

  it('answers every concurrent show with the requested device, across idle restarts', async () => {
    // A short idle time so that the process is stopped and restarted many times while work runs.
    const s = new IpSession(ns, 60);
    const wrong: string[] = [];
    let answered = 0;
    const show = async (dev: string) => {
      const r = await s.run([`addr show dev ${dev}`], () => true);
      answered++;
      const got = r.answers[0] === undefined ? undefined : JSON.parse(r.answers[0])[0]?.ifname;
      const want = dev.startsWith('nope') ? undefined : dev;
      if (got !== want) wrong.push(`${dev} -> ${got}`);
    };
    const mutate = async (name: string) => {
      const r = await s.run(
        [`link add ${name} type veth peer name ${name}p`, `addr show dev ${name}`, `link del ${name}`],
        (l) => l.startsWith('addr show'),
      );
      answered++;
      if (r.error) wrong.push(`${name}: ${r.error.line}: ${r.error.reason}`);
      expect(r.answers[0]).toBeUndefined(); // answers are per line: a change has none
      const got = r.answers[1] === undefined ? undefined : JSON.parse(r.answers[1])[0]?.ifname;
      if (got !== name) wrong.push(`${name} -> ${got}`);
    };
    const devs = (i: number) => ['cni0', `nope${i}`, 'lo'][i % 3];
    try {
      for (let round = 0; round < 4; round++) {
        // A burst: many transactions resolve in one chunk of output.
        await Promise.all(
          Array.from({ length: 45 }, (_, i) => (i % 5 === 4 ? mutate(`d${round}x${i}`) : show(devs(i)))),
        );
        // Then steady work for longer than the idle time, with pauses around it: a timer left
        // behind by the burst must not stop a process that has work in flight.
        const end = Date.now() + 250;
        for (let i = 0; Date.now() < end; i += 2) {
          await Promise.all([show(devs(i)), show(devs(i + 1))]);
          await sleep(3);
        }
        await sleep(80 + round * 20);
      }
    } finally {
      s.dispose();
    }
    expect(wrong).toEqual([]);
    expect(answered).toBeGreaterThan(200);
  }, 60_000);

  it('a stopped process still answers what was written to it; the next run starts a new one', async () => {
    const s = new IpSession(ns, 5_000);
    try {
      const inFlight = Array.from({ length: 20 }, () => s.run(['addr show dev cni0'], () => true));
      s.stop();
      const after = s.run(['addr show dev lo'], () => true);
      for (const r of await Promise.all(inFlight)) expect(JSON.parse(r.answers[0]!)[0].ifname).toBe('cni0');
      expect(JSON.parse((await after).answers[0]!)[0].ifname).toBe('lo');
    } finally {
      s.dispose();
    }
  });

  it('RealIp.link through a session returns only the requested link, under concurrent mutations', async () => {
    const ip = new RealIp(realExec, { persistentFor: () => true });
    try {
      const ops = Array.from({ length: 30 }, (_, i) =>
        i % 2
          ? ip.link(ns, 'cni0').then((l) => l?.kind)
          : ip
              .apply(ns, [
                { op: 'link-add', name: `m${i}`, kind: 'veth', peer: { name: `m${i}p` } },
                { op: 'link-del', name: `m${i}` },
              ])
              .then(() => 'ok'),
      );
      const res = await Promise.all(ops);
      expect(res.filter((_, i) => i % 2)).toEqual(Array(15).fill('bridge'));
      expect(res.filter((_, i) => i % 2 === 0)).toEqual(Array(15).fill('ok'));
      expect(await ip.link(ns, 'nope')).toBeUndefined();
    } finally {
      ip.dispose();
    }
  });
});
