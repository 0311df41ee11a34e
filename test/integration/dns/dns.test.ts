// The cluster DNS in a network namespace, resolved by the C library and dig. Address plan:
// netns pn-dns-<pid>, lo up with 10.96.0.10/32 (the cluster DNS Service IP) where the server
// listens on :53 (UDP+TCP); the sample cluster of src/dns/testing.ts (Services 10.96.0.0/12, pods
// 10.244.0.0/16). The "pod" is the same netns entered with `ip netns exec`, which bind-mounts
// /etc/netns/<ns>/{resolv.conf,nsswitch.conf,hosts} over /etc — resolv.conf from podResolvConf
// for namespace `default`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podResolvConf } from '../../../src/dns/resolvconf.ts';
import { dig, makeService, makeSlice, sampleCluster } from '../../../src/dns/testing.ts';

const execFileP = promisify(execFile);
const NS = `pn-dns-${process.pid}`;
const ETC = `/etc/netns/${NS}`;
const DNS_IP = '10.96.0.10';
const inNs = ['ip', 'netns', 'exec', NS];

async function sh(argv: string[]): Promise<string> {
  return (await execFileP(argv[0]!, argv.slice(1), { timeout: 15_000 })).stdout;
}

/** `getent <db> <key>` inside the pod netns: the C library's resolver with our resolv.conf. */
async function getent(db: string, key: string): Promise<{ code: number; out: string }> {
  try {
    return { code: 0, out: await sh([...inNs, 'getent', db, key]) };
  } catch (e: any) {
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '' };
  }
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(process.getuid?.() !== 0)('cluster DNS in a network namespace', () => {
  let child: ChildProcess | undefined;
  let seq = 0;
  const send = (op: string, kind: string, obj: unknown) =>
    new Promise<void>((resolve) => {
      const s = ++seq;
      const onMsg = (m: any) => {
        if (m?.done === s) {
          child!.off('message', onMsg);
          resolve();
        }
      };
      child!.on('message', onMsg);
      child!.send({ op, kind, obj, seq: s });
    });
  const digNs = (args: string[]) => dig([`@${DNS_IP}`, ...args], inNs);

  beforeAll(async () => {
    await sh(['ip', 'netns', 'add', NS]);
    await sh(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
    await sh(['ip', '-n', NS, 'addr', 'add', `${DNS_IP}/32`, 'dev', 'lo']);
    await mkdir(ETC, { recursive: true });
    await writeFile(join(ETC, 'resolv.conf'), podResolvConf({ nameserver: DNS_IP, namespace: 'default' }));
    // Pin the lookup order so the host's NSS setup (systemd-resolved, mdns) cannot interfere.
    await writeFile(join(ETC, 'nsswitch.conf'), 'hosts: files dns\n');
    await writeFile(join(ETC, 'hosts'), '127.0.0.1 localhost\n');
    const script = join(import.meta.dirname, 'dns-child.ts');
    child = spawn('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', script, DNS_IP, '53'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child!.once('exit', (code) => reject(new Error(`dns child exited early (${code})`)));
      child!.once('message', () => resolve());
    });
    child.removeAllListeners('exit');
    const c = sampleCluster();
    for (const s of c.services) await send('add', 'services', s);
    for (const s of c.endpointSlices) await send('add', 'slices', s);
    for (const p of c.pods) await send('add', 'pods', p);
    await until(async () => (await digNs(['db.default.svc.cluster.local'])).answer.length === 2);
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.send({ op: 'stop' });
      const timer = setTimeout(() => child?.pid && process.kill(child.pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await execFileP('ip', ['netns', 'del', NS]).catch(() => {});
    await rm(ETC, { recursive: true, force: true });
  });

  it('resolves a short Service name through the pod search path (getent)', async () => {
    const r = await getent('hosts', 'web');
    expect(r.code).toBe(0);
    expect(r.out.trim().split(/\s+/)).toEqual(['10.96.0.20', 'web.default.svc.cluster.local']);
  });

  it('resolves <svc>.<ns> of another namespace (getent)', async () => {
    const r = await getent('hosts', 'web.other');
    expect(r.out.trim().split(/\s+/)).toEqual(['10.96.0.21', 'web.other.svc.cluster.local']);
  });

  it('resolves a StatefulSet-style pod hostname and reverse-maps a ClusterIP (getent)', async () => {
    expect((await getent('hosts', 'db-0.db')).out.trim().split(/\s+/)).toEqual([
      '10.244.1.10',
      'db-0.db.default.svc.cluster.local',
    ]);
    expect((await getent('hosts', '10.96.0.20')).out.trim().split(/\s+/)).toEqual([
      '10.96.0.20',
      'web.default.svc.cluster.local',
    ]);
  });

  it('fails a missing name with "not found" (exit 2), not a timeout', async () => {
    const t0 = Date.now();
    const r = await getent('hosts', 'missing');
    expect(r.code).toBe(2);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('answers the headless A set, SRV, PTR, ExternalName CNAME and NXDOMAIN (dig)', async () => {
    const a = await digNs(['db.default.svc.cluster.local', 'A']);
    expect(a.flags).toContain('aa');
    expect(a.answer.map((x) => x[4]).sort()).toEqual(['10.244.1.10', '10.244.2.11']);
    const srv = await digNs(['_http._tcp.web.default.svc.cluster.local', 'SRV']);
    expect(srv.answer.map((x) => x.slice(4).join(' '))).toEqual(['0 100 80 web.default.svc.cluster.local.']);
    const ptr = await digNs(['-x', '10.244.1.10']);
    expect(ptr.answer.map((x) => x[4])).toEqual(['db-0.db.default.svc.cluster.local.']);
    const cname = await digNs(['ext.default.svc.cluster.local']);
    expect(cname.answer.map((x) => [x[3], x[4]])).toEqual([['CNAME', 'example.com.']]);
    const nx = await digNs(['nope.default.svc.cluster.local']);
    expect(nx.status).toBe('NXDOMAIN');
    const tcp = await digNs(['+tcp', 'web.default.svc.cluster.local']);
    expect(tcp.answer.map((x) => x[4])).toEqual(['10.96.0.20']);
  });

  it('uses the search path for dig +search as well', async () => {
    const r = await dig(['+search', 'web'], inNs);
    expect(r.answer.map((x) => [x[0], x[4]])).toEqual([['web.default.svc.cluster.local.', '10.96.0.20']]);
  });

  it('sees a new Service and new endpoints as soon as they are added', async () => {
    expect((await getent('hosts', 'late')).code).toBe(2);
    await send('add', 'services', makeService('default', 'late', '10.96.0.123'));
    await until(async () => (await getent('hosts', 'late')).code === 0);
    expect((await getent('hosts', 'late')).out).toMatch(
      /^10\.96\.0\.123\s+late\.default\.svc\.cluster\.local/,
    );
    // A headless set grows when an endpoint becomes ready.
    const slice = makeSlice('default', 'empty', [{ addresses: ['10.244.4.4'], conditions: { ready: true } }]);
    await send('add', 'slices', slice);
    await until(async () => (await digNs(['empty.default.svc.cluster.local'])).answer.length === 1);
    slice.endpoints[0]!.conditions = { ready: false };
    await send('modify', 'slices', slice);
    await until(async () => (await digNs(['empty.default.svc.cluster.local'])).answer.length === 0);
  });
});
