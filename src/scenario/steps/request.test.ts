// evaluateRequest: judging probe results against a request step's expectations, without a
// cluster. Address plan: client pod 10.244.1.5, nodes 172.31.0.11/.12 with pod gateways
// 10.244.1.1/10.244.2.1, outside client 172.31.0.5; backends web-a/b/c.
import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../probe.ts';
import { evaluateRequest, identify, type RequestExpect, type RequestFacts } from './request.ts';

const FACTS: RequestFacts = {
  clientIP: '10.244.1.5',
  nodeIPs: ['172.31.0.11', '10.244.1.1', '172.31.0.12', '10.244.2.1'],
  selectorPods: ['web-a', 'web-b', 'web-c'],
};

function expectOf(e: Partial<RequestExpect>): RequestExpect {
  return { result: 'ok', bodyContains: [], backendsAll: false, same: false, ...e };
}

/** A netexec JSON answer from `pod`, which saw `client`. */
function answer(pod: string, client = '10.244.1.5:40000', status = 200): ProbeResult {
  return { result: 'ok', status, body: JSON.stringify({ pod, client, podIP: '10.244.2.9' }), ms: 3 };
}

const http = (e: Partial<RequestExpect>) => ({ proto: 'http' as const, path: '/', expect: expectOf(e) });

describe('evaluateRequest', () => {
  it('passes when every request is ok with the wanted status, and summarises', () => {
    const out = evaluateRequest([answer('web-a'), answer('web-b')], http({ status: 200 }), FACTS);
    expect(out.ok).toBe(true);
    expect(out.message).toBe('2 requests: 2 ok, median 3ms');
  });

  it('fails on the wrong result, naming how many and the error', () => {
    const out = evaluateRequest(
      [answer('web-a'), { result: 'refused', error: 'ECONNREFUSED', ms: 1 }],
      http({}),
      FACTS,
    );
    expect(out.ok).toBe(false);
    expect(out.message).toBe('1/2 requests ended refused (want ok): ECONNREFUSED');
  });

  it('expects refusals when told to', () => {
    const r: ProbeResult = { result: 'refused', ms: 1 };
    expect(evaluateRequest([r, r], http({ result: 'refused' }), FACTS).ok).toBe(true);
    expect(evaluateRequest([answer('web-a')], http({ result: 'timeout' }), FACTS).message).toMatch(
      /1\/1 requests ended ok \(want timeout\)/,
    );
  });

  it('checks status and body', () => {
    const out = evaluateRequest(
      [answer('web-a', undefined, 503)],
      http({ status: 200, bodyContains: ['nope'] }),
      FACTS,
    );
    expect(out.message).toBe('1/1 answers had status 503 (want 200); 1/1 bodies lack "nope"');
  });

  it('all: every ready backend must answer; answers from other pods fail', () => {
    const some = [answer('web-a'), answer('web-b'), answer('web-a')];
    expect(
      evaluateRequest(some, http({ backendsSelector: 'app=web', backendsAll: true }), FACTS).message,
    ).toBe('1 of 3 backends never answered: web-c');
    const foreign = [answer('web-a'), answer('db-1')];
    expect(evaluateRequest(foreign, http({ backendsSelector: 'app=web' }), FACTS).message).toBe(
      'answers from pods outside app=web: db-1',
    );
    const all = [answer('web-a'), answer('web-b'), answer('web-c')];
    const ok = evaluateRequest(all, http({ backendsSelector: 'app=web', backendsAll: true }), FACTS);
    expect(ok.ok).toBe(true);
    expect(ok.details).toContain('answered by: web-a ×1, web-b ×1, web-c ×1');
  });

  it('evenness (maxShare), distinct counts and affinity (same)', () => {
    const skewed = [...Array(8)].map(() => answer('web-a')).concat([answer('web-b'), answer('web-c')]);
    expect(evaluateRequest(skewed, http({ maxShare: 0.6 }), FACTS).message).toBe(
      'web-a answered 80% of requests, want at most 60%',
    );
    expect(evaluateRequest(skewed, http({ distinct: 2 }), FACTS).message).toBe(
      '3 distinct pods answered, want 2',
    );
    expect(evaluateRequest(skewed, http({ minDistinct: 4 }), FACTS).message).toBe(
      '3 distinct pods answered, want at least 4',
    );
    expect(evaluateRequest(skewed, http({ same: true }), FACTS).message).toBe(
      'answers came from 3 pods, want one (affinity)',
    );
    const sticky = [answer('web-b'), answer('web-b')];
    expect(evaluateRequest(sticky, http({ same: true, distinct: 1 }), FACTS).ok).toBe(true);
  });

  it('source IP: client (no NAT), node (SNAT), not-client, explicit addresses', () => {
    const direct = [answer('web-a', '10.244.1.5:41000')];
    const snat = [answer('web-a', '172.31.0.11:41000')];
    expect(evaluateRequest(direct, http({ sourceIP: 'client' }), FACTS).ok).toBe(true);
    expect(evaluateRequest(snat, http({ sourceIP: 'client' }), FACTS).message).toBe(
      "backend saw source 172.31.0.11, want the client's own address 10.244.1.5 (no NAT)",
    );
    expect(evaluateRequest(snat, http({ sourceIP: 'node' }), FACTS).ok).toBe(true);
    expect(evaluateRequest(direct, http({ sourceIP: 'node' }), FACTS).message).toMatch(/want a node address/);
    expect(evaluateRequest(snat, http({ sourceIP: 'not-client' }), FACTS).ok).toBe(true);
    expect(evaluateRequest(direct, http({ sourceIP: 'not-client' }), FACTS).ok).toBe(false);
    const facts = { ...FACTS, sourceIPs: ['172.31.0.12', '10.244.2.1'] };
    expect(evaluateRequest(snat, http({ sourceIP: 'node:node-2' }), facts).message).toBe(
      'backend saw source 172.31.0.11, want 172.31.0.12 or 10.244.2.1',
    );
  });

  it('an answer that does not say who answered fails a backend expectation instead of passing silently', () => {
    const html: ProbeResult = { result: 'ok', status: 200, body: '<html>hi</html>', ms: 2 };
    expect(evaluateRequest([html], http({ backendsSelector: 'app=web' }), FACTS).message).toMatch(
      /1 answers do not say which pod answered/,
    );
    expect(evaluateRequest([html], http({ sourceIP: 'client' }), FACTS).message).toMatch(
      /1 answers do not say the client address/,
    );
  });

  it('dns: the answer set must equal the expected addresses (order does not matter)', () => {
    const r: ProbeResult = { result: 'ok', addresses: ['10.244.1.7', '10.244.2.4'], ms: 5 };
    const dns = { proto: 'dns' as const, expect: expectOf({ addresses: ['x'] }) };
    expect(evaluateRequest([r], dns, { ...FACTS, addresses: ['10.244.2.4', '10.244.1.7'] }).ok).toBe(true);
    expect(evaluateRequest([r], dns, { ...FACTS, addresses: ['10.244.2.4'] }).message).toBe(
      'DNS answered [10.244.1.7, 10.244.2.4], want [10.244.2.4]',
    );
  });

  it('no results is a failure, never a pass', () => {
    expect(evaluateRequest([], http({}), FACTS).ok).toBe(false);
  });
});

describe('identify', () => {
  it('reads netexec answers: JSON, /hostname, /clientip, udp', () => {
    expect(identify(answer('web-a', '1.2.3.4:5'), { proto: 'http' })).toEqual({
      pod: 'web-a',
      client: '1.2.3.4:5',
    });
    expect(identify({ result: 'ok', body: 'web-b\n', ms: 1 }, { proto: 'http', path: '/hostname' })).toEqual({
      pod: 'web-b',
    });
    expect(
      identify({ result: 'ok', body: '10.0.0.1:9', ms: 1 }, { proto: 'http', path: '/clientip?x=1' }),
    ).toEqual({
      client: '10.0.0.1:9',
    });
    expect(identify({ result: 'ok', body: 'web-c', ms: 1 }, { proto: 'udp', message: 'hostname' })).toEqual({
      pod: 'web-c',
    });
    expect(identify({ result: 'ok', body: 'plain', ms: 1 }, { proto: 'http', path: '/' })).toEqual({});
    expect(
      identify(
        { result: 'ok', status: 503, body: 'no endpoints', ms: 1 },
        { proto: 'http', path: '/hostname' },
      ),
    ).toEqual({});
  });
});
