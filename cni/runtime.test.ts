// Network lists: prevResult chaining, capabilities → runtimeConfig, reverse DEL, GC to every plugin.
// Address plan: 10.1.0.0/24 from the in-memory host-local; plugins run in-process over the fake kernel.
import { describe, expect, it } from 'vitest';
import { fakeKernel } from '../src/kernel/index.ts';
import { makeDelegate } from './delegate.ts';
import { MemoryStore } from './ipam/store.ts';
import { makePlugins } from './plugins/index.ts';
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  type NetConfList,
} from './runtime.ts';

const list: NetConfList = {
  cniVersion: '1.1.0',
  name: 'pn-cni-list',
  plugins: [
    {
      type: 'podnet-bridge',
      bridge: 'pn-cni-br0',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'podnet-host-local', subnet: '10.1.0.0/24' },
    },
    { type: 'podnet-portmap', capabilities: { portMappings: true } },
  ],
};

describe('network lists', () => {
  it('chains ADD, passes portMappings only to the plugin that declares it, and DELs in reverse', async () => {
    const k = fakeKernel();
    k.netns.names.add('pn-cni-pod');
    k.ip.addNs('pn-cni-pod');
    const store = new MemoryStore();
    const plugins = makePlugins({ kernel: k, hostLocal: { store: () => store } });
    const seen: string[] = [];
    const inner = makeDelegate(plugins);
    const delegate: typeof inner = (type, command, stdin, a) => {
      const c = JSON.parse(stdin);
      seen.push(
        `${command} ${type} prev=${c.prevResult ? 'y' : 'n'} rc=${c.runtimeConfig ? Object.keys(c.runtimeConfig) : '-'}`,
      );
      return inner(type, command, stdin, a);
    };
    const rt = {
      containerId: 'c1',
      netns: '/run/netns/pn-cni-pod',
      ifname: 'eth0',
      capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    };
    const opts = { cniPath: ['/nonexistent'], delegate };
    const res = await addNetworkList(list, rt, opts);
    expect(res.ips?.[0].address).toBe('10.1.0.2/24');
    await checkNetworkList(list, rt, opts, res);
    await delNetworkList(list, rt, opts, res);
    await gcNetworkList(list, [], opts);
    expect(seen.filter((s) => !s.includes('podnet-host-local'))).toEqual([
      'ADD podnet-bridge prev=n rc=-',
      'ADD podnet-portmap prev=y rc=portMappings',
      'CHECK podnet-bridge prev=y rc=-',
      'CHECK podnet-portmap prev=y rc=portMappings',
      'DEL podnet-portmap prev=y rc=portMappings',
      'DEL podnet-bridge prev=y rc=-',
      'GC podnet-bridge prev=n rc=-',
      'GC podnet-portmap prev=n rc=-',
    ]);
    expect(store.allocations.size).toBe(0);
  });
});
