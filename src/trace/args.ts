/**
 * Parsing what the user typed for `podnet trace FROM TO[:PORT]` into references, before anything
 * is looked up. FROM is a pod, a node or `lan`; TO is a pod, a Service, a node (with a port: a
 * NodePort) or an address. Resource prefixes follow kubectl (`pod/`, `svc/`, `node/`), and
 * `ns/name` names a pod or Service in another namespace. Errors name the argument and the reason.
 */
import { PodnetError } from '../util/errors.ts';
import type { TraceProto } from './types.ts';

/** A named thing; `kind: 'any'` when the user gave no prefix (pods are tried first, then Services, then nodes). */
export interface NamedRef {
  kind: 'pod' | 'service' | 'node' | 'any';
  namespace?: string;
  name: string;
}

/** FROM after parsing. */
export type FromRef = { kind: 'lan' } | NamedRef;

/** TO after parsing. */
export type ToRef = { kind: 'ip'; ip: string } | NamedRef;

/** The parsed command line. */
export interface TraceArgs {
  from: FromRef;
  to: ToRef;
  /** A number, or a port name (Service port name or container port name); undefined = the target's first port. */
  port?: number | string;
  proto: TraceProto;
  /** How to find the answer: kernel trace (root), interpreter only, or kernel with interpreter fallback. */
  method: 'auto' | 'kernel' | 'interpreter';
}

const PREFIXES: Record<string, NamedRef['kind']> = {
  pod: 'pod',
  pods: 'pod',
  po: 'pod',
  svc: 'service',
  service: 'service',
  services: 'service',
  node: 'node',
  nodes: 'node',
  no: 'node',
};

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Whether `s` is a dotted IPv4 address. */
export function isIPv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}

function usage(arg: string, msg: string): PodnetError {
  return new PodnetError('PN_ERR_USAGE', `${arg}: ${msg}`, arg);
}

/** Parses `pod/ns/name`, `svc/name`, `node/name`, `ns/name` or `name`. */
export function parseNamedRef(s: string, arg: string): NamedRef {
  if (s === '') throw usage(arg, 'is empty');
  const parts = s.split('/');
  let kind: NamedRef['kind'] = 'any';
  if (parts.length > 1 && PREFIXES[parts[0]!.toLowerCase()]) kind = PREFIXES[parts.shift()!.toLowerCase()]!;
  if (parts.length > 2 || parts.some((p) => p === ''))
    throw usage(arg, `"${s}" is not TYPE/NAME, NAMESPACE/NAME or NAME`);
  if (kind === 'node' && parts.length === 2) throw usage(arg, `"${s}": nodes have no namespace`);
  for (const p of parts)
    if (!NAME_RE.test(p))
      throw usage(arg, `"${p}" is not a valid name (lower-case letters, digits, '-' and '.')`);
  return parts.length === 2 ? { kind, namespace: parts[0]!, name: parts[1]! } : { kind, name: parts[0]! };
}

/** Parses FROM: `lan`, a pod or a node. */
export function parseFrom(s: string): FromRef {
  if (s.toLowerCase() === 'lan') return { kind: 'lan' };
  if (isIPv4(s)) throw usage('FROM', `"${s}": name a pod, a node or "lan", not an address`);
  const r = parseNamedRef(s, 'FROM');
  if (r.kind === 'service')
    throw usage('FROM', `"${s}": a Service cannot send packets; name a pod, a node or "lan"`);
  return r;
}

/** Splits `TARGET[:PORT]` and parses both parts. */
export function parseTo(s: string): { to: ToRef; port?: number | string } {
  let target = s;
  let port: number | string | undefined;
  const colon = s.lastIndexOf(':');
  if (colon >= 0) {
    target = s.slice(0, colon);
    const p = s.slice(colon + 1);
    if (p === '') throw usage('TO', `"${s}": the port after ':' is empty`);
    if (/^\d+$/.test(p)) {
      port = Number(p);
      if (port < 1 || port > 65535) throw usage('TO', `port ${p} is out of range 1-65535`);
    } else if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p) && p.length <= 15) port = p;
    else throw usage('TO', `"${p}" is not a port number or port name`);
  }
  if (target === '') throw usage('TO', `"${s}" names no target`);
  if (isIPv4(target)) return { to: { kind: 'ip', ip: target }, port };
  if (/^[\d.]+$/.test(target)) throw usage('TO', `"${target}" is not a valid IPv4 address`);
  return { to: parseNamedRef(target, 'TO'), port };
}

/** Parses `--proto`. */
export function parseProto(v: string | undefined): TraceProto {
  const p = (v ?? 'tcp').toLowerCase();
  if (p !== 'tcp' && p !== 'udp') throw usage('--proto', `"${v}" is not supported: use tcp or udp`);
  return p;
}

/** Parses the whole command line. */
export function parseTraceArgs(
  from: string,
  to: string,
  flags: { proto?: string; method?: string } = {},
): TraceArgs {
  const method = (flags.method ?? 'auto') as TraceArgs['method'];
  if (!['auto', 'kernel', 'interpreter'].includes(method))
    throw usage('--method', `"${flags.method}" is not supported: use auto, kernel or interpreter`);
  return { from: parseFrom(from), ...parseTo(to), proto: parseProto(flags.proto), method };
}
