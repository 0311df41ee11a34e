// invokeConflist over a scripted plugin runner (no root, no executables run): the libcni protocol.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CniInvokeError,
  findPlugin,
  invokeConflist,
  type NetConfList,
  nodeConflist,
  resultIPs,
} from './cni.ts';

const bin = mkdtempSync(join(tmpdir(), 'pn-node-cni-'));
for (const f of ['a', 'b']) writeFileSync(join(bin, f), '#!/bin/sh\n', { mode: 0o755 });
afterAll(() => rmSync(bin, { recursive: true, force: true }));

const list: NetConfList = { cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'a', x: 1 }, { type: 'b' }] };
const rt = { containerId: 'uid-1', netns: '/run/netns/pod', ifName: 'eth0', args: { K8S_POD_NAME: 'web' } };

function recorder(answers: Record<string, { code: number; stdout: string }> = {}) {
  const calls: Array<{ plugin: string; env: Record<string, string>; conf: any }> = [];
  const run = async (file: string, env: Record<string, string>, stdin: string) => {
    const plugin = file.split('/').pop()!;
    calls.push({ plugin, env, conf: JSON.parse(stdin) });
    const a = answers[`${env.CNI_COMMAND} ${plugin}`];
    if (a) return { ...a, stderr: '' };
    return {
      code: 0,
      stdout:
        env.CNI_COMMAND === 'ADD'
          ? JSON.stringify({
              cniVersion: '1.0.0',
              ips: [{ address: `10.0.0.${calls.length}/24` }],
              from: plugin,
            })
          : '',
      stderr: '',
    };
  };
  return { calls, run };
}

describe('invokeConflist', () => {
  it('ADD runs plugins in order, chaining prevResult, with the CNI environment', async () => {
    const r = recorder();
    const res = await invokeConflist('ADD', list, rt, { binDirs: [bin], run: r.run });
    expect(r.calls.map((c) => c.plugin)).toEqual(['a', 'b']);
    expect(r.calls[0].conf).toEqual({ type: 'a', x: 1, cniVersion: '1.0.0', name: 'net' });
    expect(r.calls[1].conf.prevResult.from).toBe('a');
    expect(r.calls[0].env).toMatchObject({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'uid-1',
      CNI_NETNS: '/run/netns/pod',
      CNI_IFNAME: 'eth0',
      CNI_PATH: bin,
      CNI_ARGS: 'K8S_POD_NAME=web',
    });
    expect(res?.from).toBe('b');
    expect(resultIPs(res)).toEqual(['10.0.0.2']);
  });

  it('DEL runs in reverse with the cached result, and keeps going after a failure', async () => {
    const r = recorder({ 'DEL b': { code: 1, stdout: JSON.stringify({ code: 11, msg: 'try again' }) } });
    const cached = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.9/24' }] };
    const err = await invokeConflist('DEL', list, rt, { binDirs: [bin], run: r.run }, cached).catch((e) => e);
    expect(r.calls.map((c) => c.plugin)).toEqual(['b', 'a']);
    expect(r.calls[1].conf.prevResult).toEqual(cached);
    expect(err).toBeInstanceOf(CniInvokeError);
    expect(err.code).toBe(11);
    expect(err.message).toContain('try again');
  });

  it('ADD stops at the first failing plugin with its error', async () => {
    const r = recorder({
      'ADD a': { code: 1, stdout: JSON.stringify({ code: 7, msg: 'bad config', details: 'x' }) },
    });
    const err = await invokeConflist('ADD', list, rt, { binDirs: [bin], run: r.run }).catch((e) => e);
    expect(r.calls.map((c) => c.plugin)).toEqual(['a']);
    expect(err).toMatchObject({ code: 7, plugin: 'a', command: 'ADD' });
  });

  it('CHECK passes prevResult in order; disableCheck skips it', async () => {
    const r = recorder();
    await invokeConflist('CHECK', list, rt, { binDirs: [bin], run: r.run }, { cniVersion: '1.0.0' });
    expect(r.calls.map((c) => `${c.env.CNI_COMMAND} ${c.plugin}`)).toEqual(['CHECK a', 'CHECK b']);
    const r2 = recorder();
    await invokeConflist('CHECK', { ...list, disableCheck: true }, rt, { binDirs: [bin], run: r2.run });
    expect(r2.calls).toEqual([]);
  });

  it('names a missing plugin and rejects path-like types', () => {
    expect(() => findPlugin('nope', [bin])).toThrow(/nope not found/);
    expect(() => findPlugin('../a', [bin])).toThrow(/invalid plugin name/);
  });
});

describe('nodeConflist', () => {
  it('is a non-masquerading hairpin bridge on cni0 over the podCIDR, types swappable', () => {
    const c = nodeConflist({ name: 'pn-x', podCIDR: '10.244.1.0/24', dataDir: '/s/ipam' });
    expect(c.plugins[0]).toMatchObject({
      type: 'podnet-bridge',
      bridge: 'cni0',
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: 'podnet-host-local', ranges: [[{ subnet: '10.244.1.0/24' }]], dataDir: '/s/ipam' },
    });
    const ref = nodeConflist({
      name: 'pn-x',
      podCIDR: '10.244.1.0/24',
      dataDir: '/d',
      types: { bridge: 'bridge', ipam: 'host-local' },
    });
    expect([ref.plugins[0].type, (ref.plugins[0].ipam as any).type]).toEqual(['bridge', 'host-local']);
    expect(() => nodeConflist({ name: 'x', podCIDR: '', dataDir: '/d' })).toThrow(/podCIDR/);
  });
});
