// Address plan: see sampleCluster() in testing.ts — Services 10.96.0.0/12 (+ fd00:96::/108),
// pods 10.244.0.0/16, nameserver 10.96.0.10, zone cluster.local.
import type { Answer } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { makePod, makeService, makeSlice, sampleCluster } from './testing.ts';
import {
  buildSnapshot,
  type DnsSnapshot,
  ipFromReverseName,
  ipLabel,
  resolve,
  reverseName,
  type ZoneOptions,
} from './zone.ts';

function snap(opts: ZoneOptions = {}): DnsSnapshot {
  return buildSnapshot(sampleCluster(), opts);
}

const data = (as: Answer[], type?: string) =>
  as.filter((a) => !type || a.type === type).map((a) => (a as { data: unknown }).data);
const sorted = (xs: unknown[]) => [...xs].map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).sort();

describe('ClusterIP services', () => {
  const s = snap();
  it('answers A with the ClusterIP, authoritative, TTL 5', () => {
    const r = resolve({ name: 'web.default.svc.cluster.local', type: 'A' }, s);
    expect(r.rcode).toBe('NOERROR');
    expect(r.authoritative).toBe(true);
    expect(data(r.answers)).toEqual(['10.96.0.20']);
    expect(r.answers[0]!.name).toBe('web.default.svc.cluster.local');
    expect((r.answers[0] as { ttl: number }).ttl).toBe(5);
  });

  it('keeps namespaces apart', () => {
    expect(data(resolve({ name: 'web.other.svc.cluster.local', type: 'A' }, s).answers)).toEqual([
      '10.96.0.21',
    ]);
  });

  it('matches case-insensitively, with or without the trailing dot, echoing the asked spelling', () => {
    const r = resolve({ name: 'WEB.Default.SVC.cluster.LOCAL.', type: 'A' }, s);
    expect(data(r.answers)).toEqual(['10.96.0.20']);
    expect(r.answers[0]!.name).toBe('WEB.Default.SVC.cluster.LOCAL');
    expect(resolve({ name: 'web.default.svc.cluster.local', type: 'a' }, s).answers).toHaveLength(1);
  });

  it('answers AAAA of an IPv4-only service with NODATA (NOERROR, no answers, SOA)', () => {
    const r = resolve({ name: 'web.default.svc.cluster.local', type: 'AAAA' }, s);
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
    expect(r.authorities.map((a) => [a.name, a.type])).toEqual([['cluster.local', 'SOA']]);
  });

  it('serves both families of a dual-stack service', () => {
    expect(data(resolve({ name: 'dual.default.svc.cluster.local', type: 'A' }, s).answers)).toEqual([
      '10.96.0.30',
    ]);
    expect(data(resolve({ name: 'dual.default.svc.cluster.local', type: 'AAAA' }, s).answers)).toEqual([
      'fd00:96::30',
    ]);
  });

  it('does not publish endpoints of a ClusterIP service', () => {
    expect(resolve({ name: '10-244-1-30.web.default.svc.cluster.local', type: 'A' }, s).rcode).toBe(
      'NXDOMAIN',
    );
  });

  it('serves SRV for named ports pointing at the service name, with the address glued', () => {
    const r = resolve({ name: '_http._tcp.web.default.svc.cluster.local', type: 'SRV' }, s);
    expect(data(r.answers)).toEqual([
      { priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' },
    ]);
    expect(r.additionals.map((a) => [a.name, a.type, (a as { data: unknown }).data])).toEqual([
      ['web.default.svc.cluster.local', 'A', '10.96.0.20'],
    ]);
    const udp = resolve({ name: '_dns._udp.web.default.svc.cluster.local', type: 'SRV' }, s);
    expect(data(udp.answers)).toEqual([
      { priority: 0, weight: 100, port: 53, target: 'web.default.svc.cluster.local' },
    ]);
    // Wrong protocol for a named port: that name does not exist.
    expect(resolve({ name: '_dns._tcp.web.default.svc.cluster.local', type: 'SRV' }, s).rcode).toBe(
      'NXDOMAIN',
    );
  });

  it('treats _tcp.<svc> as an empty non-terminal (NODATA)', () => {
    const r = resolve({ name: '_tcp.web.default.svc.cluster.local', type: 'SRV' }, s);
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
  });

  it('answers NXDOMAIN with the SOA for a missing service', () => {
    const r = resolve({ name: 'nope.default.svc.cluster.local', type: 'A' }, s);
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.authoritative).toBe(true);
    expect(r.authorities).toHaveLength(1);
    expect(r.authorities[0]!.type).toBe('SOA');
    expect((r.authorities[0] as { data: { minimum: number } }).data.minimum).toBe(5);
  });

  it('sees a deleted service disappear in the next snapshot', () => {
    const c = sampleCluster();
    c.services = c.services.filter((x) => x.metadata.name !== 'web' || x.metadata.namespace !== 'default');
    const r = resolve({ name: 'web.default.svc.cluster.local', type: 'A' }, buildSnapshot(c));
    expect(r.rcode).toBe('NXDOMAIN');
  });

  it('answers NODATA for a service without an address yet', () => {
    const c = sampleCluster();
    c.services.push(makeService('default', 'pending', ''));
    const r = resolve({ name: 'pending.default.svc.cluster.local', type: 'A' }, buildSnapshot(c));
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
  });
});

describe('empty non-terminals and the zone apex', () => {
  const s = snap();
  for (const name of [
    'default.svc.cluster.local',
    'svc.cluster.local',
    'pod.cluster.local',
    'other.svc.cluster.local',
  ]) {
    it(`${name} exists without records: NODATA`, () => {
      const r = resolve({ name, type: 'A' }, s);
      expect(r.rcode).toBe('NOERROR');
      expect(r.answers).toEqual([]);
      expect(r.authorities[0]!.type).toBe('SOA');
    });
  }

  it('a namespace without services is NXDOMAIN', () => {
    expect(resolve({ name: 'nons.svc.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
    expect(resolve({ name: 'foo.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
  });

  it('serves SOA and NS at the apex, with the nameserver address glued', () => {
    const soa = resolve({ name: 'cluster.local', type: 'SOA' }, s);
    expect(soa.answers).toHaveLength(1);
    expect(data(soa.answers)[0]).toMatchObject({
      mname: 'ns.dns.cluster.local',
      rname: 'hostmaster.cluster.local',
      minimum: 5,
    });
    const ns = resolve({ name: 'cluster.local.', type: 'NS' }, s);
    expect(data(ns.answers)).toEqual(['ns.dns.cluster.local']);
    expect(data(ns.additionals)).toEqual(['10.96.0.10']);
    expect(data(resolve({ name: 'ns.dns.cluster.local', type: 'A' }, s).answers)).toEqual(['10.96.0.10']);
  });

  it('uses the configured TTL for records and the SOA minimum', () => {
    const t = snap({ ttl: 30 });
    expect((resolve({ name: 'web.default.svc.cluster.local', type: 'A' }, t).answers[0] as any).ttl).toBe(30);
    expect((resolve({ name: 'x.cluster.local', type: 'A' }, t).authorities[0] as any).data.minimum).toBe(30);
  });

  it('serves the schema version as TXT', () => {
    expect(data(resolve({ name: 'dns-version.cluster.local', type: 'TXT' }, s).answers)).toEqual(['1.1.0']);
  });

  it('answers ANY with every record of the name', () => {
    const r = resolve({ name: 'dual.default.svc.cluster.local', type: 'ANY' }, s);
    expect(sorted(data(r.answers))).toEqual(['10.96.0.30', 'fd00:96::30']);
  });

  it('honours a custom cluster domain', () => {
    const t = snap({ clusterDomain: 'Corp.Example.' });
    expect(data(resolve({ name: 'web.default.svc.corp.example', type: 'A' }, t).answers)).toEqual([
      '10.96.0.20',
    ]);
    expect(resolve({ name: 'web.default.svc.cluster.local', type: 'A' }, t).rcode).toBe('REFUSED');
  });

  it('rejects a bad TTL or domain with the field named', () => {
    expect(() => snap({ ttl: -1 })).toThrow(/ttl/);
    expect(() => snap({ clusterDomain: 'a..b' })).toThrow(/clusterDomain/);
  });
});

describe('out of zone', () => {
  const s = snap();
  it('refuses names outside the zones and marks them forwardable', () => {
    const r = resolve({ name: 'example.com', type: 'A' }, s);
    expect(r).toMatchObject({ rcode: 'REFUSED', authoritative: false, forward: true });
    // A suffix match on a label boundary only.
    expect(resolve({ name: 'evilcluster.local', type: 'A' }, s).rcode).toBe('REFUSED');
  });
  it('refuses non-IN classes and zone transfers', () => {
    expect(resolve({ name: 'web.default.svc.cluster.local', type: 'A', class: 'CH' }, s).rcode).toBe(
      'REFUSED',
    );
    expect(resolve({ name: 'cluster.local', type: 'AXFR' }, s).rcode).toBe('REFUSED');
  });
});

describe('headless services', () => {
  const s = snap();
  it('answers the ready endpoint addresses, excluding not-ready ones', () => {
    const r = resolve({ name: 'db.default.svc.cluster.local', type: 'A' }, s);
    expect(sorted(data(r.answers))).toEqual(['10.244.1.10', '10.244.2.11']);
  });

  it('includes not-ready endpoints with publishNotReadyAddresses', () => {
    const r = resolve({ name: 'peers.default.svc.cluster.local', type: 'A' }, s);
    expect(sorted(data(r.answers))).toEqual(['10.244.1.20', '10.244.1.21']);
  });

  it('treats a missing ready condition as ready', () => {
    expect(sorted(data(resolve({ name: 'anon.default.svc.cluster.local', type: 'A' }, s).answers))).toEqual([
      '10.244.3.5',
      '10.244.3.6',
    ]);
  });

  it('serves per-endpoint hostnames (StatefulSet style) and nothing for not-ready ones', () => {
    expect(data(resolve({ name: 'db-0.db.default.svc.cluster.local', type: 'A' }, s).answers)).toEqual([
      '10.244.1.10',
    ]);
    expect(data(resolve({ name: 'db-1.db.default.svc.cluster.local', type: 'A' }, s).answers)).toEqual([
      '10.244.2.11',
    ]);
    expect(resolve({ name: 'db-2.db.default.svc.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
  });

  it('names endpoints without a hostname by their dashed IP', () => {
    expect(
      data(resolve({ name: '10-244-3-5.anon.default.svc.cluster.local', type: 'A' }, s).answers),
    ).toEqual(['10.244.3.5']);
  });

  it('serves SRV per endpoint, pointing at each endpoint name with the endpoint port', () => {
    const r = resolve({ name: '_pg._tcp.db.default.svc.cluster.local', type: 'SRV' }, s);
    expect(sorted(data(r.answers))).toEqual(
      sorted([
        { priority: 0, weight: 50, port: 5432, target: 'db-0.db.default.svc.cluster.local' },
        { priority: 0, weight: 50, port: 5432, target: 'db-1.db.default.svc.cluster.local' },
      ]),
    );
    expect(sorted(data(r.additionals))).toEqual(['10.244.1.10', '10.244.2.11']);
    const anon = resolve({ name: '_http._tcp.anon.default.svc.cluster.local', type: 'SRV' }, s);
    expect(sorted(data(anon.answers).map((d: any) => d.target))).toEqual([
      '10-244-3-5.anon.default.svc.cluster.local',
      '10-244-3-6.anon.default.svc.cluster.local',
    ]);
  });

  it('answers NODATA for a headless service without endpoints', () => {
    const r = resolve({ name: 'empty.default.svc.cluster.local', type: 'A' }, s);
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
  });

  it('merges several slices and families, deduplicating addresses', () => {
    const c = sampleCluster();
    c.endpointSlices.push(
      makeSlice('default', 'empty', [{ addresses: ['10.244.5.1'] }, { addresses: ['10.244.5.2'] }]),
      makeSlice('default', 'empty', [{ addresses: ['10.244.5.2'] }]),
      makeSlice('default', 'empty', [{ addresses: ['fd00:244::5'] }]),
      // FQDN slices and slices of other namespaces are ignored.
      makeSlice('default', 'empty', [{ addresses: ['x.example.com'] }], (x) => {
        x.addressType = 'FQDN';
      }),
      makeSlice('other', 'empty', [{ addresses: ['10.244.9.9'] }]),
    );
    const t = buildSnapshot(c);
    expect(sorted(data(resolve({ name: 'empty.default.svc.cluster.local', type: 'A' }, t).answers))).toEqual([
      '10.244.5.1',
      '10.244.5.2',
    ]);
    expect(data(resolve({ name: 'empty.default.svc.cluster.local', type: 'AAAA' }, t).answers)).toEqual([
      'fd00:244::5',
    ]);
  });
});

describe('ExternalName', () => {
  const s = snap();
  it('answers a CNAME for any type, leaving an outside target to others', () => {
    for (const type of ['A', 'AAAA', 'CNAME']) {
      const r = resolve({ name: 'ext.default.svc.cluster.local', type }, s);
      expect(r.rcode).toBe('NOERROR');
      expect(r.answers.map((a) => [a.type, (a as any).data])).toEqual([['CNAME', 'example.com']]);
    }
    expect(resolve({ name: 'ext.default.svc.cluster.local', type: 'A' }, s).externalTarget).toBe(
      'example.com',
    );
  });

  it('chases an in-zone target', () => {
    const r = resolve({ name: 'alias.default.svc.cluster.local', type: 'A' }, s);
    expect(r.answers.map((a) => [a.name, a.type, (a as any).data])).toEqual([
      ['alias.default.svc.cluster.local', 'CNAME', 'web.other.svc.cluster.local'],
      ['web.other.svc.cluster.local', 'A', '10.96.0.21'],
    ]);
  });

  it('fails a CNAME loop with SERVFAIL and reports a dangling in-zone target as NXDOMAIN', () => {
    const c = sampleCluster();
    c.services.push(
      makeService('loop', 'a', '', (x) => {
        x.spec = { type: 'ExternalName', externalName: 'b.loop.svc.cluster.local' };
      }),
      makeService('loop', 'b', '', (x) => {
        x.spec = { type: 'ExternalName', externalName: 'a.loop.svc.cluster.local' };
      }),
      makeService('loop', 'c', '', (x) => {
        x.spec = { type: 'ExternalName', externalName: 'gone.loop.svc.cluster.local' };
      }),
    );
    const t = buildSnapshot(c);
    expect(resolve({ name: 'a.loop.svc.cluster.local', type: 'A' }, t).rcode).toBe('SERVFAIL');
    const dangling = resolve({ name: 'c.loop.svc.cluster.local', type: 'A' }, t);
    expect(dangling.rcode).toBe('NXDOMAIN');
    expect(dangling.answers.map((a) => a.type)).toEqual(['CNAME']);
  });
});

describe('pod records', () => {
  it('verified: answers a-b-c-d.<ns>.pod only for a pod of that namespace with that IP', () => {
    const s = snap();
    expect(data(resolve({ name: '10-244-1-5.default.pod.cluster.local', type: 'A' }, s).answers)).toEqual([
      '10.244.1.5',
    ]);
    expect(resolve({ name: '10-244-1-5.other.pod.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
    expect(resolve({ name: '10-244-7-7.default.pod.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
    // Finished pods hold no IP.
    expect(resolve({ name: '10-244-1-99.default.pod.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
    expect(resolve({ name: '10-244-1-5.default.pod.cluster.local', type: 'AAAA' }, s)).toMatchObject({
      rcode: 'NOERROR',
      answers: [],
    });
    expect(resolve({ name: 'default.pod.cluster.local', type: 'A' }, s).rcode).toBe('NOERROR');
    expect(resolve({ name: 'nons.pod.cluster.local', type: 'A' }, s).rcode).toBe('NXDOMAIN');
  });

  it('verified: IPv6 pod names in any spelling', () => {
    const s = snap();
    expect(data(resolve({ name: 'fd00-244--7.default.pod.cluster.local', type: 'AAAA' }, s).answers)).toEqual(
      ['fd00:244::7'],
    );
    expect(
      data(resolve({ name: 'fd00-244-0-0-0-0-0-7.default.pod.cluster.local', type: 'AAAA' }, s).answers),
    ).toEqual(['fd00:244::7']);
  });

  it('insecure: answers any well-formed name; disabled: none', () => {
    const ins = snap({ pods: 'insecure' });
    expect(data(resolve({ name: '1-2-3-4.anyns.pod.cluster.local', type: 'A' }, ins).answers)).toEqual([
      '1.2.3.4',
    ]);
    expect(resolve({ name: '1-2-3.anyns.pod.cluster.local', type: 'A' }, ins).rcode).toBe('NXDOMAIN');
    const off = snap({ pods: 'disabled' });
    expect(resolve({ name: '10-244-1-5.default.pod.cluster.local', type: 'A' }, off).rcode).toBe('NXDOMAIN');
  });

  it('skips host-network pods', () => {
    const c = sampleCluster();
    c.pods.push(
      makePod('default', 'hn', '172.31.0.2', (p) => {
        p.spec!.hostNetwork = true;
      }),
    );
    expect(resolve({ name: '172-31-0-2.default.pod.cluster.local', type: 'A' }, buildSnapshot(c)).rcode).toBe(
      'NXDOMAIN',
    );
  });
});

describe('PTR', () => {
  const s = snap();
  const ptr = (ip: string) => resolve({ name: reverseName(ip), type: 'PTR' }, s);

  it('names a ClusterIP by its service (v4 and v6)', () => {
    expect(data(ptr('10.96.0.20').answers)).toEqual(['web.default.svc.cluster.local']);
    expect(ptr('10.96.0.20').authoritative).toBe(true);
    expect(data(ptr('fd00:96::30').answers)).toEqual(['dual.default.svc.cluster.local']);
  });

  it('names a headless endpoint by its endpoint name, before its pod name', () => {
    expect(data(ptr('10.244.1.10').answers)).toEqual(['db-0.db.default.svc.cluster.local']);
    expect(data(ptr('10.244.3.5').answers)).toEqual(['10-244-3-5.anon.default.svc.cluster.local']);
  });

  it('names any other pod by its pod name (v4 and v6)', () => {
    expect(data(ptr('10.244.1.5').answers)).toEqual(['10-244-1-5.default.pod.cluster.local']);
    expect(data(ptr('fd00:244::7').answers)).toEqual(['fd00-244--7.default.pod.cluster.local']);
  });

  it('answers NXDOMAIN (forwardable) for unknown addresses and NODATA for reverse non-terminals', () => {
    const r = ptr('192.168.1.1');
    expect(r).toMatchObject({ rcode: 'NXDOMAIN', forward: true, authoritative: true });
    expect(r.authorities[0]!.name).toBe('in-addr.arpa');
    expect(resolve({ name: '96.10.in-addr.arpa', type: 'PTR' }, s)).toMatchObject({
      rcode: 'NOERROR',
      answers: [],
    });
    expect(resolve({ name: '20.0.96.10.IN-ADDR.ARPA.', type: 'PTR' }, s).answers).toHaveLength(1);
  });

  it('reverse names round-trip', () => {
    expect(reverseName('10.96.0.20')).toBe('20.0.96.10.in-addr.arpa');
    expect(reverseName('fd00:96::30')).toBe(
      '0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa',
    );
    expect(ipFromReverseName(reverseName('fd00:96::30'))).toBe('fd00:96::30');
    expect(ipFromReverseName('20.0.96.10.in-addr.arpa.')).toBe('10.96.0.20');
    expect(ipFromReverseName('0.96.10.in-addr.arpa')).toBeUndefined();
    expect(ipLabel('fd00:244::7')).toBe('fd00-244--7');
  });
});
