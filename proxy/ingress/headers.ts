/**
 * Header hygiene for the router, pure and unit-tested: refusing ambiguous message framing (the
 * request-smuggling shapes), stripping hop-by-hop headers in both directions, and adding the
 * X-Forwarded-* set. Node's parser already refuses several framing shapes itself; these checks
 * are the second line, so behaviour does not depend on the parser's leniency flags.
 */

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1, plus legacy ones). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers the edge sets itself; values sent by clients are dropped (XFF is appended to instead). */
const EDGE_SET = new Set([
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'x-forwarded-for',
]);

/**
 * Returns why a request's framing is ambiguous, or undefined when it is fine. Refused: both
 * Content-Length and Transfer-Encoding; several Content-Length values that differ (or any that is
 * not a plain decimal); a Transfer-Encoding other than exactly `chunked`; header values carrying
 * line breaks (obs-fold that slipped through).
 */
export function framingProblem(rawHeaders: readonly string[]): string | undefined {
  let cl: string | undefined;
  let te = 0;
  let teValue = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0)
      return `header ${name}: line folding is not allowed`;
    if (name === 'content-length') {
      for (const part of value.split(',')) {
        const v = part.trim();
        if (!/^\d+$/.test(v)) return `content-length: "${value}" is not a decimal number`;
        if (cl !== undefined && cl !== v) return 'content-length: conflicting values';
        cl = v;
      }
    } else if (name === 'transfer-encoding') {
      te++;
      teValue = teValue ? `${teValue},${value}` : value;
    }
  }
  if (te > 0 && cl !== undefined) return 'both content-length and transfer-encoding are present';
  if (te > 0 && teValue.trim().toLowerCase() !== 'chunked') {
    return `transfer-encoding: only "chunked" is accepted (got "${teValue}")`;
  }
  return undefined;
}

/** Lower-case tokens of a Connection header (the extra hop-by-hop headers it names). */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const s = new Set<string>();
  if (!value) return s;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(',')) {
      const x = t.trim().toLowerCase();
      if (x) s.add(x);
    }
  }
  return s;
}

/** Facts about the client connection that become X-Forwarded-* headers. */
export interface ForwardedInfo {
  clientIp: string;
  proto: 'http' | 'https';
  /** The Host header as received. */
  host: string;
  /** Our listener's port. */
  port: number;
}

/**
 * The request headers to send upstream: hop-by-hop removed (Upgrade and `Connection: upgrade`
 * kept when `upgrade` is true), X-Forwarded-For appended to, the other X-Forwarded-* and
 * X-Real-IP set by us. Returns a flat [name, value, …] list preserving names and order.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  info: ForwardedInfo,
  upgrade = false,
): string[] {
  const conn = connectionTokens(headerValues(rawHeaders, 'connection'));
  const out: string[] = [];
  let xff = '';
  let upgradeValue: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (lower === 'x-forwarded-for') {
      xff = xff ? `${xff}, ${value}` : value;
      continue;
    }
    if (lower === 'upgrade') upgradeValue = value;
    if (HOP_BY_HOP.has(lower) || conn.has(lower) || lower.startsWith('proxy-') || EDGE_SET.has(lower))
      continue;
    out.push(name, value);
  }
  out.push('X-Forwarded-For', xff ? `${xff}, ${info.clientIp}` : info.clientIp);
  out.push('X-Forwarded-Proto', info.proto);
  out.push('X-Forwarded-Host', info.host);
  out.push('X-Forwarded-Port', String(info.port));
  out.push('X-Real-IP', info.clientIp);
  if (upgrade && upgradeValue !== undefined) out.push('Connection', 'Upgrade', 'Upgrade', upgradeValue);
  return out;
}

/** The response headers to send to the client: hop-by-hop (and the ones Connection names) removed. */
export function downstreamResponseHeaders(rawHeaders: readonly string[]): string[] {
  const conn = connectionTokens(headerValues(rawHeaders, 'connection'));
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || conn.has(lower) || lower.startsWith('proxy-')) continue;
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

/** All values of header `name` in a raw list. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2)
    if (rawHeaders[i]!.toLowerCase() === name) out.push(rawHeaders[i + 1]!);
  return out;
}

/** The client's address without the IPv4-mapped prefix. */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return '';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}
