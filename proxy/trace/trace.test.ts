// Hand-written rulesets exercising the tracers' kernel semantics. Addresses: node 192.168.0.2,
// client 10.0.0.1, backends 10.1.0.1-3.
import { describe, expect, it } from 'vitest';
import { IptablesRuleset, parseRule, tokenize } from './iptables-ruleset.ts';
import { traceIptables } from './iptables-trace.ts';
import { NftRuleset, parseDuration, parsePriority } from './nft-ruleset.ts';
import { traceNftables } from './nft-trace.ts';
import { seededRandom, summarize } from './types.ts';

const opts = { localAddresses: ['192.168.0.2'] };
const pkt = { src: '10.0.0.1', dst: '10.9.0.1', proto: 'tcp' as const, dport: 80 };

describe('iptables parsing', () => {
  it('tokenizes quotes and parses negations and module options', () => {
    expect(tokenize('-m comment --comment "a b" -j X')).toEqual([
      '-m',
      'comment',
      '--comment',
      'a b',
      '-j',
      'X',
    ]);
    const r = parseRule(tokenize('! -s 10.0.0.0/8 -m mark ! --mark 0x4000/0x4000 -j RETURN'));
    expect(r.matches[0]).toMatchObject({ kind: 'src', negate: true });
    expect(r.matches[1]!.opts['!--mark']).toBe('1');
    expect(r.target).toBe('RETURN');
  });

  it('refuses deleting a chain that is still referenced', () => {
    const rs = new IptablesRuleset();
    rs.restore('*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\nCOMMIT\n', { noflush: true });
    expect(() => rs.restore('*nat\n-X B\nCOMMIT\n', { noflush: true })).toThrow(/still referenced/);
  });
});

describe('traceIptables', () => {
  const rules = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':SVC - [0:0]',
    ':SUB - [0:0]',
    ':SEP1 - [0:0]',
    ':SEP2 - [0:0]',
    ':SEP3 - [0:0]',
    '-A PREROUTING -d 10.9.0.1/32 -p tcp -m tcp --dport 80 -j SVC',
    '-A SVC -g SUB',
    '-A SVC -j MARK --set-xmark 0x1/0xffffffff',
    '-A SUB -m statistic --mode random --probability 0.33333333333 -j SEP1',
    '-A SUB -m statistic --mode random --probability 0.50000000000 -j SEP2',
    '-A SUB -j SEP3',
    '-A SEP1 -p tcp -j DNAT --to-destination 10.1.0.1:8080',
    '-A SEP2 -p tcp -j DNAT --to-destination 10.1.0.2:8080',
    '-A SEP3 -j RETURN',
    '-A POSTROUTING -m mark --mark 0x1 -j MASQUERADE',
    'COMMIT',
    '',
  ].join('\n');

  it('forks on statistic with the right probabilities; goto returns past the caller', () => {
    const res = traceIptables(rules, pkt, opts);
    const by = Object.fromEntries(res.map((r) => [r.dnat ?? 'none', r.probability]));
    expect(by['10.1.0.1:8080']).toBeCloseTo(1 / 3, 6);
    expect(by['10.1.0.2:8080']).toBeCloseTo(1 / 3, 6);
    // SEP3 returns into SUB, which was entered by -g: back to PREROUTING, skipping SVC's MARK rule.
    const none = res.find((r) => !r.dnat)!;
    expect(none.probability).toBeCloseTo(1 / 3, 6);
    expect(none.mark).toBe(0);
    expect(none.masquerade).toBe(false);
  });

  it('takes a single path with a seeded random source', () => {
    const a = traceIptables(rules, pkt, { ...opts, random: seededRandom(1) });
    const b = traceIptables(rules, pkt, { ...opts, random: seededRandom(1) });
    expect(a).toHaveLength(1);
    expect(a[0]!.dnat).toBe(b[0]!.dnat);
  });

  it('reports the rules hit in order', () => {
    const res = traceIptables(rules, pkt, opts).find((r) => r.dnat === '10.1.0.1:8080')!;
    expect(res.hits.map((h) => h.chain)).toEqual(['PREROUTING', 'SVC', 'SUB', 'SEP1']);
  });
});

describe('nft parsing and tracing', () => {
  it('parses priorities and durations as nft prints them', () => {
    expect(parsePriority(['dstnat', '-', '10'])).toBe(-110);
    expect(parsePriority(['srcnat'])).toBe(100);
    expect(parsePriority(['-110'])).toBe(-110);
    expect(parseDuration('3h')).toBe(10800);
    expect(parseDuration('1d2h3m4s')).toBe(93784);
  });

  const table = `table ip kube-proxy {
	set aff {
		type ipv4_addr
		flags dynamic,timeout
		timeout 1m
	}
	map svc {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.9.0.1 . tcp . 80 : goto pick,
			     10.9.0.2 . tcp . 80 : drop }
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr . meta l4proto . th dport vmap @svc
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & 0x00004000 == 0x00000000 return
		masquerade
	}
	chain pick {
		ip saddr @aff goto ep1
		meta mark set meta mark | 0x00004000
		numgen random mod 2 vmap { 0 : goto ep1, 1 : goto ep2 }
	}
	chain ep1 {
		update @aff { ip saddr }
		meta l4proto tcp dnat ip to 10.1.0.1:8080
	}
	chain ep2 {
		meta l4proto tcp dnat to 10.1.0.2:8080
	}
}
`;

  it('follows vmaps, numgen arms, marks and masquerade in nft list format', () => {
    const res = traceNftables(table, pkt, opts);
    expect(summarize(res)).toEqual({
      verdicts: new Set(['ACCEPT']),
      endpoints: ['10.1.0.1:8080', '10.1.0.2:8080'],
      masquerade: true,
    });
    expect(res.map((r) => r.probability)).toEqual([0.5, 0.5]);
    expect(summarize(traceNftables(table, { ...pkt, dst: '10.9.0.2' }, opts)).verdicts).toEqual(
      new Set(['DROP']),
    );
    expect(summarize(traceNftables(table, { ...pkt, proto: 'udp' }, opts)).endpoints).toEqual([]);
  });

  it('dynamic sets remember a client until their timeout', () => {
    const recent = new Map<string, Map<string, number>>();
    const rs = NftRuleset.parse(table);
    let first: string | undefined;
    for (let seed = 0; seed < 20 && first !== '10.1.0.1:8080'; seed++)
      first = traceNftables(rs, pkt, { ...opts, random: seededRandom(seed), recent, now: 0 })[0]!.dnat;
    expect(first).toBe('10.1.0.1:8080');
    expect(summarize(traceNftables(rs, pkt, { ...opts, recent, now: 30 })).endpoints).toEqual([
      '10.1.0.1:8080',
    ]);
    expect(summarize(traceNftables(rs, pkt, { ...opts, recent, now: 61 })).endpoints).toHaveLength(2);
  });
});

describe('IptablesRuleset restore semantics', () => {
  it('a built-in chain line sets the policy without flushing (noflush), a user chain line flushes', () => {
    const rs = new IptablesRuleset();
    rs.restore('*filter\n:U - [0:0]\n-A INPUT -j ACCEPT\n-A U -j ACCEPT\nCOMMIT\n', { noflush: true });
    rs.restore('*filter\n:INPUT DROP [0:0]\n:U - [0:0]\nCOMMIT\n', { noflush: true });
    const t = rs.table('filter');
    expect(t.get('INPUT')!.rules).toHaveLength(1);
    expect(t.get('INPUT')!.policy).toBe('DROP');
    expect(t.get('U')!.rules).toHaveLength(0);
  });
});

describe('formatTrace', () => {
  it('prints each path with its probability, fate and rules', async () => {
    const { formatTrace } = await import('./format.ts');
    const rules =
      '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.9.0.1/32 -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.1.0.1:80\nCOMMIT\n';
    const out = formatTrace(pkt, traceIptables(rules, pkt, opts));
    expect(out).toContain('tcp 10.0.0.1 -> 10.9.0.1:80: 2 paths');
    expect(out).toContain('path 1 (p=0.250): ACCEPT, DNAT to 10.1.0.1:80, no masquerade');
    expect(out).toContain('path 2 (p=0.750): ACCEPT, no DNAT, no masquerade');
    expect(out).toMatch(/nat PREROUTING\s+-d 10\.9\.0\.1\/32/);
  });
});
