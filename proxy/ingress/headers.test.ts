/** Header hygiene without sockets: framing checks, hop-by-hop stripping, X-Forwarded-* (no addresses used). */
import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, framingProblem, upstreamRequestHeaders } from './headers.ts';

describe('framingProblem', () => {
  it.each([
    [['Content-Length', '5', 'Transfer-Encoding', 'chunked'], /both/],
    [['Content-Length', '5', 'Content-Length', '6'], /conflicting/],
    [['Content-Length', '5, 6'], /conflicting/],
    [['Content-Length', '-1'], /decimal/],
    [['Transfer-Encoding', 'gzip, chunked'], /only "chunked"/],
    [['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'], /only "chunked"/],
    [['X-A', 'a\r\n b'], /folding/],
  ])('refuses %j', (raw, why) => {
    expect(framingProblem(raw)).toMatch(why);
  });
  it.each([
    [['Content-Length', '5', 'Content-Length', '5']],
    [['Transfer-Encoding', 'Chunked']],
    [['Host', 'a']],
  ])('accepts %j', (raw) => {
    expect(framingProblem(raw)).toBeUndefined();
  });
});

describe('upstreamRequestHeaders', () => {
  const info = { clientIp: '192.0.2.7', proto: 'https' as const, host: 'a.test', port: 8443 };
  it('strips hop-by-hop and Connection-named headers, appends XFF, sets the rest', () => {
    const out = upstreamRequestHeaders(
      [
        'Host',
        'a.test',
        'Connection',
        'keep-alive, X-Private',
        'X-Private',
        'p',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Authorization',
        'x',
        'TE',
        'trailers',
        'Trailer',
        'X-T',
        'Upgrade',
        'websocket',
        'X-Forwarded-For',
        '198.51.100.1',
        'X-Forwarded-For',
        '198.51.100.2',
        'X-Real-IP',
        '6.6.6.6',
        'X-Forwarded-Host',
        'evil',
        'Accept',
        '*/*',
      ],
      info,
    );
    const pairs = Object.fromEntries(
      out.flatMap((v, i) => (i % 2 === 0 ? [[v.toLowerCase(), out[i + 1]]] : [])),
    );
    expect(pairs).toEqual({
      host: 'a.test',
      accept: '*/*',
      'x-forwarded-for': '198.51.100.1, 198.51.100.2, 192.0.2.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'a.test',
      'x-forwarded-port': '8443',
      'x-real-ip': '192.0.2.7',
    });
  });
  it('keeps Upgrade when relaying an upgrade', () => {
    const out = upstreamRequestHeaders(
      ['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket'],
      info,
      true,
    );
    expect(out.join('|')).toContain('Connection|Upgrade|Upgrade|websocket');
  });
  it('response side strips hop-by-hop', () => {
    expect(
      downstreamResponseHeaders([
        'Connection',
        'close, X-Y',
        'X-Y',
        '1',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'a=b',
      ]),
    ).toEqual(['Set-Cookie', 'a=b']);
  });
});
