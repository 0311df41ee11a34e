/**
 * The HTTP edge of the API server: bearer-token check, bounded body reading, Status responses and
 * content negotiation (plain JSON, meta.k8s.io Tables, PartialObjectMetadata, the OpenAPI protobuf).
 * Kept apart from routing so each piece can be tested alone.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errors } from '../api/errors.ts';
import type { Status } from '../api/types.ts';

/** Largest accepted request body (Kubernetes' own limit is 3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Compares the request's bearer token with `token` in constant time. */
export function checkBearer(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  // Hash both sides so the comparison has a fixed length and leaks neither length nor content.
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** Reads the whole body; 413 when it exceeds `limit` bytes (checked before and while reading). */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    // Drain nothing: the connection is closed after the 413 so the client stops sending.
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    });
  });
}

function tooLarge(limit: number): ApiError {
  return errors.requestEntityTooLarge(`request body too large: the limit is ${limit} bytes`);
}

/** Parses a JSON body; 400 with the parser's reason when malformed. */
export function parseJsonBody(buf: Buffer): any {
  const text = buf.toString('utf8');
  if (text.trim() === '') throw errors.badRequest('the request body is empty: an object was expected');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Writes `body` as JSON with `code`. */
export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  contentType = 'application/json',
): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(code, {
    'Content-Type': contentType,
    'Content-Length': data.length,
    'Cache-Control': 'no-cache, private',
  });
  res.end(data);
}

/** Writes a Status (its `code` is the HTTP status). */
export function sendStatus(res: ServerResponse, st: Status): void {
  sendJson(res, st.code, st);
}

/** Turns anything thrown into a Status: ApiError as is, everything else as 500. */
export function toStatus(e: unknown): Status {
  if (e instanceof ApiError) return e.status;
  return errors.internal(`internal error: ${(e as Error)?.message ?? String(e)}`).status;
}

/** One entry of an Accept header. */
export interface MediaRange {
  type: string;
  params: Record<string, string>;
}

/** Splits an Accept header into media ranges, in the client's order (q-values are rarely used by kube clients). */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [];
  return header
    .split(',')
    .map((part) => {
      const [type, ...ps] = part.split(';').map((s) => s.trim());
      const params: Record<string, string> = {};
      for (const p of ps) {
        const i = p.indexOf('=');
        if (i > 0) params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
      }
      return { type: (type ?? '').toLowerCase(), params };
    })
    .filter((m) => m.type !== '');
}

/** The representation a client asked for. */
export type Representation =
  | { as: 'object' }
  | { as: 'Table'; version: 'v1' | 'v1beta1' }
  | { as: 'PartialObjectMetadata'; version: 'v1' | 'v1beta1' };

const JSONISH = new Set(['application/json', 'application/*', '*/*', 'application/yaml']);

/**
 * Picks the first representation in the Accept header that we can produce. Ranges we cannot
 * serve (protobuf, aggregated discovery) are skipped, so a client that lists plain JSON after
 * them falls back to it. No usable range → 406; no Accept header → plain JSON.
 */
export function negotiate(header: string | undefined): Representation {
  const ranges = parseAccept(header);
  if (ranges.length === 0) return { as: 'object' };
  for (const r of ranges) {
    if (!JSONISH.has(r.type)) continue;
    const as = r.params.as;
    if (!as) return { as: 'object' };
    if (r.params.g !== 'meta.k8s.io') continue;
    const v = r.params.v;
    if (v !== 'v1' && v !== 'v1beta1') continue;
    if (as === 'Table') return { as: 'Table', version: v };
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') {
      return { as: 'PartialObjectMetadata', version: v };
    }
  }
  throw errors.notAcceptable(
    `only application/json is served here (also as=Table or as=PartialObjectMetadata[List] with g=meta.k8s.io); the request asked for: ${header}`,
  );
}
