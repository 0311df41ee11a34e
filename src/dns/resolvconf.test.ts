// resolv.conf generation, as kubelet does it. Cluster DNS 10.96.0.10, zone cluster.local.
import { describe, expect, it } from 'vitest';
import { parseResolvConf, podResolvConf, renderResolvConf, resolverConfigForPod } from './resolvconf.ts';
import { makePod } from './testing.ts';

describe('podResolvConf', () => {
  it('writes the Kubernetes search path, nameserver and ndots:5', () => {
    expect(podResolvConf({ nameserver: '10.96.0.10', namespace: 'shop' })).toBe(
      'search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
  });

  it('takes a custom domain, extra searches, ndots and options', () => {
    const text = podResolvConf({
      nameserver: ['10.96.0.10', 'fd00:96::a'],
      namespace: 'a',
      clusterDomain: 'corp.example.',
      searches: ['example.org'],
      ndots: 2,
      options: [
        { name: 'timeout', value: '1' },
        { name: 'ndots', value: '3' },
      ],
    });
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.96.0.10', 'fd00:96::a'],
      searches: ['a.svc.corp.example', 'svc.corp.example', 'corp.example', 'example.org'],
      options: [
        { name: 'ndots', value: '3' },
        { name: 'timeout', value: '1' },
      ],
    });
  });

  it('rejects bad input naming the field', () => {
    expect(() => podResolvConf({ nameserver: 'dns', namespace: 'a' })).toThrow(/nameserver: "dns"/);
    expect(() => podResolvConf({ nameserver: '10.96.0.10', namespace: 'A_b' })).toThrow(/namespace/);
    expect(() => podResolvConf({ nameserver: '10.96.0.10', namespace: 'a', ndots: 99 })).toThrow(/ndots/);
    expect(() =>
      podResolvConf({ nameserver: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4'], namespace: 'a' }),
    ).toThrow(/nameservers: at most 3/);
    expect(() =>
      podResolvConf({
        nameserver: '10.96.0.10',
        namespace: 'a',
        searches: Array.from({ length: 30 }, (_, i) => `d${i}.x`),
      }),
    ).toThrow(/searches: at most 32/);
    expect(() =>
      podResolvConf({ nameserver: '10.96.0.10', namespace: 'a', searches: ['bad domain'] }),
    ).toThrow(/searches/);
  });
});

describe('resolverConfigForPod', () => {
  const host = 'nameserver 192.168.1.1\nsearch lan\noptions edns0 # comment\n';
  const env = { nameserver: '10.96.0.10', hostResolvConf: host };

  it('ClusterFirst (default): cluster DNS, cluster searches then the node ones', () => {
    const c = resolverConfigForPod(makePod('web', 'p', '10.244.1.5'), env);
    expect(c).toEqual({
      nameservers: ['10.96.0.10'],
      searches: ['web.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'lan'],
      options: [{ name: 'ndots', value: '5' }],
    });
  });

  it('host-network pods fall back to the node unless ClusterFirstWithHostNet', () => {
    const hn = makePod('web', 'p', '172.31.0.2', (p) => {
      p.spec!.hostNetwork = true;
    });
    expect(resolverConfigForPod(hn, env).nameservers).toEqual(['192.168.1.1']);
    hn.spec!.dnsPolicy = 'ClusterFirstWithHostNet';
    expect(resolverConfigForPod(hn, env).nameservers).toEqual(['10.96.0.10']);
  });

  it('Default copies the node; None uses only dnsConfig, which merges into the others', () => {
    const def = makePod('web', 'p', '10.244.1.5', (p) => {
      p.spec!.dnsPolicy = 'Default';
    });
    expect(renderResolvConf(resolverConfigForPod(def, env))).toBe(
      'search lan\nnameserver 192.168.1.1\noptions edns0\n',
    );
    const none = makePod('web', 'p', '10.244.1.5', (p) => {
      p.spec!.dnsPolicy = 'None';
      p.spec!.dnsConfig = {
        nameservers: ['1.2.3.4'],
        searches: ['x.example'],
        options: [{ name: 'ndots', value: '1' }],
      };
    });
    expect(resolverConfigForPod(none, env)).toEqual({
      nameservers: ['1.2.3.4'],
      searches: ['x.example'],
      options: [{ name: 'ndots', value: '1' }],
    });
    const merged = makePod('web', 'p', '10.244.1.5', (p) => {
      p.spec!.dnsConfig = {
        searches: ['x.example'],
        options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }],
      };
    });
    const m = resolverConfigForPod(merged, { nameserver: '10.96.0.10' });
    expect(m.searches.at(-1)).toBe('x.example');
    expect(m.options).toEqual([{ name: 'ndots', value: '2' }, { name: 'rotate' }]);
  });
});
