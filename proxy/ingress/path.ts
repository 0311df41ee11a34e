/**
 * Request-target normalisation for the ingress router. Matching and forwarding use one canonical
 * form of the path, so a rule cannot be bypassed by spelling a path differently:
 * - percent-escapes of unreserved characters (`%41`, `%2e`, `%7E`) are decoded, every other escape
 *   is kept and upper-cased (`%2f` → `%2F`); an encoded slash therefore stays data, never a
 *   separator: `/a%2Fb` does not match a `/a` Prefix rule element-wise, and is forwarded as is;
 * - characters that must be escaped in a path (space, non-ASCII, `"`, `<`…) are escaped;
 * - dot-segments are resolved (RFC 3986 §5.2.4), also when written `%2e%2e`; they cannot climb
 *   above the root; runs of slashes are merged (as nginx's `merge_slashes on`);
 * - `%00`, bad escapes, and control characters are refused (the caller answers 400).
 */

/** Why a target was refused. */
export class BadPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadPathError';
  }
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
// pchar (RFC 3986) minus '%' plus '/': what may appear literally in a normalised path.
const LITERAL_OK = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;

/** Canonical escaped form of a raw path (no query). Throws BadPathError. */
export function canonicalEscapes(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new BadPathError(`path: bad percent-escape at offset ${i}`);
      const code = Number.parseInt(hex, 16);
      if (code === 0) throw new BadPathError('path: %00 is not allowed');
      const ch = String.fromCharCode(code);
      out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
      i += 2;
      continue;
    }
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) throw new BadPathError('path: control character');
    if (LITERAL_OK.test(c)) out += c;
    else out += encodeURIComponent(c);
  }
  return out;
}

/** Resolves `.` and `..` segments and merges slashes; the result starts with `/`. */
export function removeDotSegments(path: string): string {
  const parts = path.split('/');
  const out: string[] = [];
  const last = parts[parts.length - 1];
  for (const seg of parts) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  // Keep a trailing slash ("/foo/" and "/foo/." and "/foo/bar/.." all mean the directory).
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

/** Normalises a path (no query): canonical escapes then dot-segments. Throws BadPathError. */
export function normalizePath(raw: string): string {
  if (!raw.startsWith('/')) throw new BadPathError('path: must start with "/"');
  return removeDotSegments(canonicalEscapes(raw));
}

// Canonical already: literal pchars only in the path (no '%'), then an optional printable query.
const SIMPLE_TARGET = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(\?[\x21\x22\x24-\x7e]*)?$/;

/** A parsed request target. */
export interface RequestTarget {
  /** Normalised path, used for matching and forwarded upstream. */
  path: string;
  /** The query including its `?`, or ''. Passed through unchanged. */
  query: string;
  /** For absolute-form targets (`GET http://host/path`): the authority's host, lower-case, no port. */
  absoluteHost?: string;
}

/**
 * Parses an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target. `*` (OPTIONS) and
 * authority-form (CONNECT) are refused: we are not a forward proxy.
 */
export function parseTarget(target: string): RequestTarget {
  // Fast path: a plain origin-form path that is already canonical (the common case).
  if (SIMPLE_TARGET.test(target) && !target.includes('//') && !target.includes('/.')) {
    const q = target.indexOf('?');
    return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) };
  }
  let rest = target;
  let absoluteHost: string | undefined;
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(target);
  if (m) {
    const authority = m[2]!;
    if (authority.includes('@')) throw new BadPathError('target: userinfo is not allowed');
    absoluteHost = hostOnly(authority);
    rest = m[3] || '/';
    if (rest.startsWith('?')) rest = `/${rest}`;
  } else if (!target.startsWith('/')) {
    throw new BadPathError('target: only origin-form and absolute-form are accepted');
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) throw new BadPathError('target: fragment is not allowed');
  const q = rest.indexOf('?');
  const rawPath = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q) : '';
  for (let i = 0; i < query.length; i++) {
    const code = query.charCodeAt(i);
    if (code < 0x21 || code === 0x7f) throw new BadPathError('query: control character or space');
  }
  return { path: normalizePath(rawPath), query, ...(absoluteHost !== undefined ? { absoluteHost } : {}) };
}

/** The host part of a Host header or authority: lower-case, port and trailing dot removed. */
export function hostOnly(hostHeader: string): string {
  let h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}
