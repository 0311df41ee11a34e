// The protocol skeleton: environment and stdin validation, error codes, VERSION.
import { describe, expect, it } from 'vitest';
import type { CmdArgs, CniPlugin } from './skel.ts';
import { parseCniArgs } from './skel.ts';
import { invoke } from './testutil.ts';

function recorder() {
  const calls: CmdArgs[] = [];
  const plugin: CniPlugin = {
    name: 'podnet-test',
    add: async (a) => {
      calls.push(a);
      return { cniVersion: a.conf.cniVersion, ips: [{ address: '10.1.0.5/24' }] };
    },
    del: async (a) => void calls.push(a),
    check: async (a) => void calls.push(a),
    status: async (a) => void calls.push(a),
    gc: async (a) => void calls.push(a),
  };
  return { plugin, calls };
}
const conf = (v = '1.1.0') => ({ cniVersion: v, name: 'net', type: 'podnet-test' });
const env = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};

describe('pluginMain', () => {
  it('answers VERSION with the supported versions', async () => {
    const { plugin } = recorder();
    const r = await invoke(plugin, 'VERSION', { cniVersion: '1.0.0' });
    expect(r.code).toBe(0);
    expect(r.out).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });

  it('runs ADD and writes the result in the config version', async () => {
    const { plugin, calls } = recorder();
    const r = await invoke(plugin, 'ADD', conf('0.4.0'), {
      ...env,
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
    });
    expect(r.code).toBe(0);
    expect(r.out.ips[0]).toEqual({ version: '4', address: '10.1.0.5/24' });
    expect(calls[0].argsMap).toEqual({ IgnoreUnknown: '1', K8S_POD_NAME: 'web' });
    expect(calls[0].path).toEqual(['/opt/cni/bin']);
  });

  it.each([
    ['missing CNI_COMMAND', { ...env, CNI_COMMAND: '' }, conf(), 4, /CNI_COMMAND is missing/],
    ['unknown command', { ...env, CNI_COMMAND: 'FROB' }, conf(), 4, /unknown command "FROB"/],
    ['missing CNI_NETNS on ADD', { ...env, CNI_NETNS: '' }, conf(), 4, /CNI_NETNS/],
    ['malformed JSON', env, '{"cniVersion": ', 6, /failed to decode/],
    ['unknown cniVersion', env, conf('9.9.9'), 1, /incompatible CNI version.*9\.9\.9/],
    ['missing cniVersion', env, { name: 'n', type: 't' }, 1, /incompatible CNI version/],
    ['missing name', env, { cniVersion: '1.1.0', type: 't' }, 7, /"name" is missing/],
    ['bad container id', { ...env, CNI_CONTAINERID: '-x y' }, conf(), 4, /CNI_CONTAINERID/],
    ['too long ifname', { ...env, CNI_IFNAME: 'a-very-long-interface' }, conf(), 4, /CNI_IFNAME/],
    ['bad CNI_ARGS', { ...env, CNI_ARGS: 'novalue' }, conf(), 4, /CNI_ARGS/],
  ])('rejects %s', async (_name, e, c, code, msg) => {
    const { plugin, calls } = recorder();
    // invoke() sets CNI_COMMAND from its argument: take it from the case's env when given.
    const cmd = (e as any).CNI_COMMAND ?? 'ADD';
    const r = await invoke(plugin, cmd, c, e as any);
    expect(r.code).toBe(1);
    expect(r.out.code).toBe(code);
    expect(r.out.msg).toMatch(msg);
    expect(calls).toHaveLength(0);
  });

  it('refuses GC and STATUS for configs older than 1.1.0', async () => {
    const { plugin, calls } = recorder();
    const r = await invoke(plugin, 'GC', conf('1.0.0'), { CNI_PATH: '/x' });
    expect(r.out.code).toBe(1);
    expect((await invoke(plugin, 'STATUS', conf('1.1.0'), { CNI_PATH: '/x' })).code).toBe(0);
    expect(calls.map((c) => c.command)).toEqual(['STATUS']);
  });

  it('DEL needs no netns', async () => {
    const { plugin, calls } = recorder();
    const r = await invoke(plugin, 'DEL', conf(), { ...env, CNI_NETNS: undefined });
    expect(r.code).toBe(0);
    expect(r.raw).toBe('');
    expect(calls[0].netns).toBe('');
  });

  it('maps a thrown Error to code 999 with its message', async () => {
    const { plugin } = recorder();
    plugin.add = async () => {
      throw new Error('kaboom');
    };
    const r = await invoke(plugin, 'ADD', conf(), env);
    expect(r.out).toEqual({ cniVersion: '1.1.0', code: 999, msg: 'kaboom' });
  });
});

describe('parseCniArgs', () => {
  it('splits pairs and keeps "=" in values', () => {
    expect(parseCniArgs('A=1;B=x=y;')).toEqual({ A: '1', B: 'x=y' });
  });
});
