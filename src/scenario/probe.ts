/**
 * The traffic probe: a tiny, dependency-free client the `request` step runs INSIDE a pod's, node's
 * or outside client's network namespace (`ip netns exec NS node probe.mjs '<json>'`), so the
 * traffic really starts there and name lookups use that namespace's resolv.conf. It sends `count`
 * requests, each on a fresh connection/socket (so the proxy balances every one), and prints one
 * JSON line: the outcome of each request — ok / refused / timeout / nxdomain / error, HTTP status
 * and body, DNS addresses. It is bundled to plain JavaScript once per run (fast start-up).
 */

import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

/** What one probe run does. */
export interface ProbeSpec {
  proto: 'http' | 'https' | 'tcp' | 'udp' | 'dns';
  host: string;
  port: number;
  path?: string;
  /** HTTP Host header (Ingress routing). */
  hostHeader?: string;
  count: number;
  timeoutMs: number;
  /** UDP payload. */
  message?: string;
  /** Pause between requests (ms). */
  gapMs?: number;
}

/** The outcome of one request. */
export interface ProbeResult {
  result: 'ok' | 'refused' | 'timeout' | 'nxdomain' | 'error';
  status?: number;
  body?: string;
  addresses?: string[];
  error?: string;
  ms: number;
}

const BODY_MAX = 4096;

function classify(e: NodeJS.ErrnoException): ProbeResult['result'] {
  if (e.code === 'ECONNREFUSED') return 'refused';
  if (e.code === 'ETIMEDOUT' || e.code === 'PROBE_TIMEOUT') return 'timeout';
  if (e.code === 'ENOTFOUND') return 'nxdomain';
  // ICMP unreachable (e.g. REJECT with icmp-host-unreachable) surfaces as EHOSTUNREACH.
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return 'refused';
  return 'error';
}

function timeoutError(): NodeJS.ErrnoException {
  const e = new Error('timed out') as NodeJS.ErrnoException;
  e.code = 'PROBE_TIMEOUT';
  return e;
}

function http1(s: ProbeSpec): Promise<ProbeResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = (s.proto === 'https' ? httpsRequest : httpRequest)(
      {
        host: s.host,
        port: s.port,
        path: s.path ?? '/',
        method: 'GET',
        agent: false,
        rejectUnauthorized: false,
        servername: s.hostHeader,
        headers: { connection: 'close', ...(s.hostHeader ? { host: s.hostHeader } : {}) },
        timeout: s.timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < BODY_MAX) body += c;
        });
        res.on('end', () => resolve({ result: 'ok', status: res.statusCode, body, ms: Date.now() - t0 }));
        res.on('error', (e) => resolve({ result: classify(e), error: e.message, ms: Date.now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(timeoutError()));
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ result: classify(e), error: e.code ?? e.message, ms: Date.now() - t0 }),
    );
    req.end();
  });
}

function tcp(s: ProbeSpec): Promise<ProbeResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = connect({ host: s.host, port: s.port, timeout: s.timeoutMs });
    sock.on('connect', () => {
      sock.destroy();
      resolve({ result: 'ok', ms: Date.now() - t0 });
    });
    sock.on('timeout', () => sock.destroy(timeoutError()));
    sock.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ result: classify(e), error: e.code ?? e.message, ms: Date.now() - t0 }),
    );
  });
}

function udp(s: ProbeSpec): Promise<ProbeResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const done = (r: ProbeResult) => {
      clearTimeout(t);
      sock.close();
      resolve(r);
    };
    const t = setTimeout(() => done({ result: 'timeout', ms: Date.now() - t0 }), s.timeoutMs);
    sock.on('message', (m) => done({ result: 'ok', body: m.toString(), ms: Date.now() - t0 }));
    // A connected UDP socket reports ICMP port unreachable as ECONNREFUSED.
    sock.on('error', (e: NodeJS.ErrnoException) =>
      done({ result: classify(e), error: e.code, ms: Date.now() - t0 }),
    );
    sock.connect(s.port, s.host, () => sock.send(s.message ?? 'hostname'));
  });
}

async function dns(s: ProbeSpec): Promise<ProbeResult> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      // getaddrinfo, as applications resolve: search path and ndots from resolv.conf apply.
      lookup(s.host, { all: true, family: 4 }),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(timeoutError()), s.timeoutMs);
      }),
    ]);
    return { result: 'ok', addresses: r.map((a) => a.address).sort(), ms: Date.now() - t0 };
  } catch (e) {
    return { result: classify(e as NodeJS.ErrnoException), error: (e as Error).message, ms: Date.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the probe: `count` requests, one after the other. */
export async function probe(s: ProbeSpec): Promise<ProbeResult[]> {
  const one =
    s.proto === 'http' || s.proto === 'https'
      ? http1
      : s.proto === 'tcp'
        ? tcp
        : s.proto === 'udp'
          ? udp
          : dns;
  const out: ProbeResult[] = [];
  for (let i = 0; i < s.count; i++) {
    out.push(await one(s));
    if (s.gapMs && i + 1 < s.count) await new Promise((r) => setTimeout(r, s.gapMs));
  }
  return out;
}

// Run as a program: the spec is argv[2]; prints {"results": [...]}.
if (process.argv[1] && /probe(-[0-9a-f]+)?\.(mjs|ts|js)$/.test(process.argv[1]) && process.argv[2]) {
  probe(JSON.parse(process.argv[2]) as ProbeSpec).then(
    (results) => process.stdout.write(`${JSON.stringify({ results })}\n`),
    (e) => {
      process.stderr.write(`probe: ${(e as Error).message}\n`);
      process.exit(2);
    },
  );
}
