// The fast path's request-head filter and chunked-framing scanner (pure). What is refused here is
// not an error: it goes to the general path, which accepts or refuses it strictly.
import { describe, expect, it } from 'vitest';
import { ChunkScanner, parseSimpleHead } from './fast.ts';

const head = (...lines: string[]) => lines.join('\r\n');

describe('parseSimpleHead', () => {
  it('accepts a plain keep-alive GET and keeps the headers as received', () => {
    const h = parseSimpleHead(
      head('GET /a/b?x=1 HTTP/1.1', 'Host: a.test', 'User-Agent: wrk', 'X-Forwarded-For: 1.2.3.4'),
    );
    expect(h).toMatchObject({ method: 'GET', target: '/a/b?x=1', close: false });
    expect(h!.raw).toEqual(['Host', 'a.test', 'User-Agent', 'wrk', 'X-Forwarded-For', '1.2.3.4']);
    expect(h!.headers.host).toBe('a.test');
    expect(parseSimpleHead(head('HEAD / HTTP/1.1', 'host: a', 'Connection: close'))?.close).toBe(true);
    expect(parseSimpleHead(head('GET / HTTP/1.1', 'host: a', 'Connection: keep-alive'))?.close).toBe(false);
  });

  it.each([
    ['a body (Content-Length)', head('GET / HTTP/1.1', 'Host: a', 'Content-Length: 0')],
    ['Transfer-Encoding', head('GET / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked')],
    [
      'CL and TE together',
      head('GET / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked'),
    ],
    ['POST', head('POST / HTTP/1.1', 'Host: a')],
    ['HTTP/1.0', head('GET / HTTP/1.0', 'Host: a')],
    ['absolute form', head('GET http://b.test/ HTTP/1.1', 'Host: a')],
    ['asterisk form', head('OPTIONS * HTTP/1.1', 'Host: a')],
    ['no Host', head('GET / HTTP/1.1', 'X: y')],
    ['two Hosts', head('GET / HTTP/1.1', 'Host: a', 'Host: b')],
    ['an empty Host', head('GET / HTTP/1.1', 'Host: ')],
    ['an upgrade', head('GET / HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket')],
    ['Connection naming a header', head('GET / HTTP/1.1', 'Host: a', 'Connection: X-Secret')],
    ['Expect', head('GET / HTTP/1.1', 'Host: a', 'Expect: 100-continue')],
    ['space before the colon', head('GET / HTTP/1.1', 'Host: a', 'Transfer-Encoding : chunked')],
    ['obs-fold', head('GET / HTTP/1.1', 'Host: a', 'X: y', ' z')],
    ['a bare LF inside a line', 'GET / HTTP/1.1\r\nHost: a\nX: y'],
    ['a NUL in a value', head('GET / HTTP/1.1', 'Host: a', 'X: a\x00b')],
    ['a control character in the target', head('GET /a\x01 HTTP/1.1', 'Host: a')],
    ['a space in the target', head('GET /a b HTTP/1.1', 'Host: a')],
    ['a lower-case method', head('get / HTTP/1.1', 'Host: a')],
  ])('sends %s to the general path', (_what, text) => {
    expect(parseSimpleHead(text)).toBeUndefined();
  });
});

describe('ChunkScanner', () => {
  it('finds the end after the last chunk and trailers, across any split', () => {
    const msg = Buffer.from('5\r\nhello\r\na;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n');
    expect(new ChunkScanner().feed(msg)).toBe(msg.length);
    for (let cut = 1; cut < msg.length; cut++) {
      const s = new ChunkScanner();
      expect(s.feed(msg.subarray(0, cut))).toBe(-1);
      expect(s.feed(msg.subarray(cut))).toBe(msg.length - cut);
    }
  });

  it('reports where the message ends when more bytes follow', () => {
    const msg = Buffer.from('3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK');
    expect(new ChunkScanner().feed(msg)).toBe(msg.indexOf('HTTP'));
  });

  it('throws on bad framing', () => {
    expect(() => new ChunkScanner().feed(Buffer.from('zz\r\n'))).toThrow(/chunk size/);
    expect(() => new ChunkScanner().feed(Buffer.from('3\r\nabcX'))).toThrow(/CRLF/);
    expect(() => new ChunkScanner().feed(Buffer.from('3\nabc'))).toThrow();
    expect(() => new ChunkScanner().feed(Buffer.from('fffffffffffff\r\n'))).toThrow(/too large/);
  });
});
