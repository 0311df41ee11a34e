/**
 * Chain-name hashing as upstream kube-proxy does it: SHA-256, RFC 4648 base32 (standard alphabet),
 * truncated. Same inputs give the same names as a real kube-proxy, so users can match them.
 */
import { createHash } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with padding (Go's base32.StdEncoding). */
export function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/**
 * Remembered digests: every sync names the chains of every service and endpoint again, and at
 * 10,000 services × 5 endpoints hashing them afresh is a large share of a render. Bounded: the
 * map is dropped when it grows past MEMO_LIMIT (the names are recomputed, never wrong).
 */
const memo = new Map<string, string>();
const MEMO_LIMIT = 200_000;

/** First `n` characters of base32(sha256(s)). */
export function hashBase32(s: string, n: number): string {
  let full = memo.get(s);
  if (full === undefined) {
    full = base32(createHash('sha256').update(s).digest());
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(s, full);
  }
  return full.slice(0, n);
}

/** Upstream portProtoHash: 16 chars of base32(sha256(servicePortName + lowercase protocol)). */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hashBase32(servicePortName + protocol.toLowerCase(), 16);
}

/** KUBE-SEP-<hash16> for one endpoint (`ip:port`) of one service port. */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return 'KUBE-SEP-' + hashBase32(servicePortName + protocol.toLowerCase() + endpoint, 16);
}
