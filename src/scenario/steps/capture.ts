/**
 * The `capture` step: tcpdump on an interface of a pod's, node's or the outside client's network
 * namespace while other steps run (or for a while), then assertions on the captured packets —
 * "the backend received the client pod's source IP", "the packet left the node SNATed to the node
 * IP", "nothing reached the pod on port 9090". The capture file is kept in the run's artifacts.
 *
 * Addresses in expectations are references resolved when the step runs: `pod:client` (every pod a
 * selector matches), `node:node-1` (all of the node's addresses: LAN, pod-bridge gateway, VXLAN),
 * `svc:web` (its ClusterIP), `outside`, `self` (the capturing namespace), an IP or a CIDR.
 *
 * Steps nested in `during:` are parsed and run through the step registry, like top-level steps.
 * That makes this module and the registry import each other: load the registry (`./index.ts`)
 * first — as the scenario parser does — and this module only reads it when a step is parsed.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { findResource } from '../../api/resources.ts';
import {
  type AddressSet,
  type CaptureResult,
  describeFilter,
  type PacketFilter,
  packetMatches,
  startCapture,
  TCP_FLAG_NAMES,
} from '../capture.ts';
import { describeFrame } from '../pcap.ts';
import type { FieldPath, FieldReader, Place, RunContext, StepKind, StepOutcome } from '../types.ts';
import { formatMs, readPlace, sleep } from './common.ts';
import { stepKind } from './index.ts';

const SERVICES = findResource('', 'v1', 'services')!;

/** An address reference as written; resolved to an AddressSet at run time. */
type AddressRef = string;

interface PacketExpectation {
  filter: Omit<PacketFilter, 'src' | 'dst'>;
  src?: AddressRef;
  dst?: AddressRef;
  /** Exactly this many (count), or within [min, max]. */
  count?: number;
  min?: number;
  max?: number;
}

interface NestedStep {
  kind: string;
  name: string;
  spec: unknown;
}

/** The parsed `capture` step. */
export interface CaptureSpec {
  in: string;
  interface?: string;
  filter: string;
  during: NestedStep[];
  durationMs: number;
  format: 'pcap' | 'pcapng';
  expect: PacketExpectation[];
  /** Packet summaries shown in the report (0 = none). */
  show: number;
}

const ADDRESS_RE = /^(pod:.+|node:[A-Za-z0-9.-]+|svc:.+|service:.+|clusterip:.+|outside|self|any)$/;

function readAddress(r: FieldReader, key: string): AddressRef | undefined {
  const v = r.string(key);
  if (v === undefined) return undefined;
  const isIP = (() => {
    try {
      if (v.includes('/')) ipaddr.parseCIDR(v);
      else ipaddr.parse(v);
      return true;
    } catch {
      return false;
    }
  })();
  if (!isIP && !ADDRESS_RE.test(v))
    r.fail(
      `"${v}" is not an address: use pod:NAME, pod:SELECTOR, node:NAME, svc:NAME, outside, self, an IP or a CIDR`,
      key,
    );
  return v;
}

function readExpectation(r: FieldReader): PacketExpectation {
  r.only([
    'src',
    'dst',
    'proto',
    'srcPort',
    'dstPort',
    'port',
    'flags',
    'direction',
    'layer',
    'count',
    'min',
    'max',
  ]);
  const port = (k: string) => r.int(k, { min: 1, max: 65535 });
  const flags = r.strings('flags')?.flatMap((f) => f.split(',').map((x) => x.trim().toLowerCase()));
  flags?.forEach((f, i) => {
    if (!(TCP_FLAG_NAMES as readonly string[]).includes(f.replace(/^!/, '')))
      r.fail(`"${f}" is not a TCP flag (${TCP_FLAG_NAMES.join(', ')}; prefix ! for "not set")`, ['flags', i]);
  });
  const e: PacketExpectation = {
    src: readAddress(r, 'src'),
    dst: readAddress(r, 'dst'),
    filter: {
      proto: r.oneOf('proto', ['tcp', 'udp', 'icmp', 'icmp6', 'arp', 'ip', 'ip6', 'any']),
      srcPort: port('srcPort'),
      dstPort: port('dstPort'),
      port: port('port'),
      flags,
      direction: r.oneOf('direction', ['in', 'out']),
      layer: r.oneOf('layer', ['any', 'outer', 'inner']) ?? 'any',
    },
    count: r.int('count', { min: 0 }),
    min: r.int('min', { min: 0 }),
    max: r.int('max', { min: 0 }),
  };
  if (e.count !== undefined && (e.min !== undefined || e.max !== undefined))
    r.fail('give count (exactly) or min/max, not both', 'count');
  if (e.min !== undefined && e.max !== undefined && e.min > e.max) r.fail(`must be ≤ max (${e.max})`, 'min');
  if (flags?.length && e.filter.proto && e.filter.proto !== 'tcp')
    r.fail('flags only apply to proto tcp', 'flags');
  return e;
}

/** A FieldReader for a scalar step body (`- delete: pod/x`): `value` stands for the step's key. */
function scalarBody(item: FieldReader, kind: string, alias = 'value'): FieldReader {
  const k = (key: string) => (key === alias ? kind : key);
  const kp = (key?: string | number | FieldPath): string | number | FieldPath =>
    key === undefined ? kind : typeof key === 'string' ? k(key) : key;
  return {
    path: [...item.path, kind],
    raw: { [alias]: item.get(kind) },
    isScalar: true,
    scalarAs: (key) => scalarBody(item, kind, key),
    has: (key) => item.has(k(key)),
    get: (key) => item.get(k(key)),
    string: ((key: string, o?: { required?: boolean }) => item.string(k(key), o)) as FieldReader['string'],
    int: ((key: string, o?: { required?: boolean; min?: number; max?: number }) =>
      item.int(k(key), o)) as FieldReader['int'],
    number: (key, o) => item.number(k(key), o),
    bool: (key) => item.bool(k(key)),
    oneOf: ((key: string, allowed: readonly string[], o?: { required?: boolean }) =>
      item.oneOf(k(key), allowed, o)) as FieldReader['oneOf'],
    duration: (key, o) => item.duration(k(key), o),
    strings: (key, o) => item.strings(k(key), o),
    stringMap: (key, o) => item.stringMap(k(key), o),
    map: ((key: string, o?: { required?: boolean }) => item.map(k(key), o)) as FieldReader['map'],
    list: (key, o) => item.list(k(key), o),
    only: () => {},
    fail: (reason, key) => item.fail(reason, kp(key)),
  };
}

function readDuring(body: FieldReader): NestedStep[] {
  const items = body.list('during') ?? [];
  return items.map((item) => {
    const kinds = Object.keys(item.raw).filter((key) => key !== 'name');
    if (kinds.length !== 1)
      item.fail(
        kinds.length === 0
          ? 'names no step kind (like request, exec, delete)'
          : `one step has one kind (found ${kinds.join(' and ')})`,
      );
    const kind = kinds[0]!;
    if (kind === 'capture') item.fail('a capture cannot run inside another capture', kind);
    const def = stepKind(kind);
    if (!def) return item.fail('unknown step kind', kind);
    const raw = item.get(kind);
    const b =
      raw && typeof raw === 'object' && !Array.isArray(raw)
        ? item.map(kind, { required: true })
        : scalarBody(item, kind);
    const spec = def.parse(b);
    return { kind, spec, name: item.string('name') ?? def.describe(spec) };
  });
}

/** `capture`: tcpdump in a namespace during other steps; assertions on the packets. */
export const captureStep: StepKind<CaptureSpec> = {
  kind: 'capture',
  summary:
    'tcpdump on an interface of a pod / node / the outside client during other steps; assert on packets',
  schema: {
    type: 'object',
    properties: {
      in: { type: 'string', description: 'pod:NAME | pod:SELECTOR | node:NAME | outside | underlay' },
      interface: { type: 'string', description: 'default eth0 (pn0 in the underlay); any = every interface' },
      filter: { type: 'string', description: 'BPF filter, as tcpdump takes it (tcp port 8080)' },
      during: { type: 'array', items: { type: 'object' }, description: 'steps to run while capturing' },
      duration: { type: ['string', 'number'], description: 'capture this long (after the during steps)' },
      format: { enum: ['pcap', 'pcapng'], default: 'pcap' },
      show: { type: 'integer', minimum: 0, default: 20, description: 'packets listed in the report' },
      expect: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            src: {
              type: 'string',
              description: 'pod:REF | node:NAME | svc:NAME | outside | self | IP | CIDR | any',
            },
            dst: { type: 'string' },
            proto: { enum: ['tcp', 'udp', 'icmp', 'icmp6', 'arp', 'ip', 'ip6', 'any'] },
            srcPort: { type: 'integer' },
            dstPort: { type: 'integer' },
            port: { type: 'integer', description: 'source or destination port' },
            flags: {
              oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
              description: 'TCP flags set (syn) or clear (!ack)',
            },
            direction: { enum: ['in', 'out'], description: 'interface any only' },
            layer: { enum: ['any', 'outer', 'inner'], default: 'any', description: 'VXLAN: which frame' },
            count: { type: 'integer', minimum: 0, description: 'exactly this many' },
            min: { type: 'integer', minimum: 0, description: 'at least (default 1)' },
            max: { type: 'integer', minimum: 0 },
          },
          additionalProperties: false,
        },
      },
    },
    required: ['in'],
    additionalProperties: false,
  },
  parse(body) {
    body.only(['in', 'interface', 'filter', 'during', 'duration', 'format', 'show', 'expect']);
    const place = readPlace(body, 'in', { required: true })!;
    const iface = body.string('interface');
    if (iface !== undefined && !/^[A-Za-z0-9_.@-]{1,15}$/.test(iface))
      body.fail('must be an interface name (up to 15 characters) or any', 'interface');
    const during = readDuring(body);
    const durationMs = body.duration('duration') ?? 0;
    if (during.length === 0 && durationMs === 0)
      body.fail('give during: (steps to run while capturing) or duration: (how long to capture)', 'during');
    const expect = (body.list('expect') ?? []).map(readExpectation);
    for (const [i, e] of expect.entries()) {
      if (e.filter.direction && iface !== 'any')
        body.fail('direction needs interface: any (only cooked captures record it)', [
          'expect',
          i,
          'direction',
        ]);
    }
    return {
      in: place,
      interface: iface,
      filter: body.string('filter') ?? '',
      during,
      durationMs,
      format: body.oneOf('format', ['pcap', 'pcapng']) ?? 'pcap',
      expect,
      show: body.int('show', { min: 0 }) ?? 20,
    };
  },
  describe: (s) =>
    `capture on ${s.in}/${s.interface ?? 'eth0'}${s.filter ? ` "${s.filter}"` : ''}${
      s.during.length ? ` during ${s.during.map((d) => d.kind).join(', ')}` : ''
    }${s.durationMs ? ` for ${formatMs(s.durationMs)}` : ''}`,
  run: runCapture,
};

function nodeAddresses(ctx: RunContext, name: string): string[] {
  const n = ctx.cluster.plan.nodes.find((x) => x.name === name);
  if (!n) return [];
  return [n.lanIP, n.podGateway, ...(n.vxlan ? [n.vxlan.address] : [])];
}

/** Resolves an address reference to the IPs it stands for now. */
async function resolveAddress(ref: AddressRef, self: Place, ctx: RunContext): Promise<AddressSet> {
  const set: AddressSet = { label: ref, ips: [], cidrs: [] };
  if (ref === 'any') set.cidrs.push('0.0.0.0/0', '::/0');
  else if (ref === 'self') {
    if (self.kind === 'node' && self.node) set.ips.push(...nodeAddresses(ctx, self.node));
    else if (self.ip) set.ips.push(self.ip);
  } else if (ref === 'outside') set.ips.push(ctx.outside.ip);
  else if (ref.startsWith('node:')) {
    const p = await ctx.place(ref);
    set.ips.push(...nodeAddresses(ctx, p.node ?? p.label.replace(/^node:/, '')));
    if (p.ip && !set.ips.includes(p.ip)) set.ips.push(p.ip);
  } else if (ref.startsWith('pod:')) {
    const places = await ctx.places(ref);
    set.ips.push(...places.map((p) => p.ip).filter((x): x is string => !!x));
    if (set.ips.length === 0) throw new Error(`${ref}: no pod with an IP matches`);
  } else if (/^(svc|service|clusterip):/.test(ref)) {
    const nameRef = ref.slice(ref.indexOf(':') + 1);
    let ns = ctx.defaultNamespace;
    let name = nameRef;
    if (nameRef.includes('/')) [ns, name] = nameRef.split('/') as [string, string];
    else if (nameRef.includes('.')) [name, ns] = nameRef.split('.') as [string, string];
    const svc = await ctx.client.get(SERVICES, ns, name);
    const ips = ((svc.spec?.clusterIPs as string[] | undefined) ?? [svc.spec?.clusterIP]).filter(
      (x): x is string => !!x && x !== 'None',
    );
    if (ips.length === 0) throw new Error(`${ref}: the Service has no ClusterIP`);
    set.ips.push(...ips);
  } else if (ref.includes('/')) set.cidrs.push(ref);
  else set.ips.push(ref);
  if (set.ips.length > 0 && set.ips[0] !== ref) set.label = `${ref} (${set.ips.join(', ')})`;
  return set;
}

function judge(e: PacketExpectation, n: number): { ok: boolean; want: string } {
  if (e.count !== undefined)
    return { ok: n === e.count, want: e.count === 0 ? 'none' : `exactly ${e.count}` };
  const min = e.min ?? (e.max !== undefined ? 0 : 1);
  const ok = n >= min && (e.max === undefined || n <= e.max);
  const want = e.max !== undefined ? `${min}..${e.max}` : `≥${min}`;
  return { ok, want };
}

async function runCapture(spec: CaptureSpec, ctx: RunContext): Promise<StepOutcome> {
  const place = await ctx.place(spec.in);
  const iface = spec.interface ?? (place.kind === 'underlay' ? ctx.underlay.bridge : 'eth0');
  await mkdir(ctx.artifactsDir, { recursive: true });
  const safe = `${place.label}-${iface}`.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const file = join(ctx.artifactsDir, `capture-${safe}-${Date.now()}.${spec.format}`);
  const cap = await startCapture({
    netns: place.netns,
    interface: iface,
    filter: spec.filter,
    file,
    format: spec.format,
  });
  ctx.defer(() => cap.dispose());
  ctx.log(`tcpdump on ${place.label}/${iface}${spec.filter ? ` "${spec.filter}"` : ''} → ${file}`);

  let failed: StepOutcome | undefined;
  let result: CaptureResult;
  try {
    for (const [i, d] of spec.during.entries()) {
      if (ctx.signal.aborted) break;
      ctx.log(`during ${i + 1}: ${d.name}`);
      let out: StepOutcome;
      try {
        out = await stepKind(d.kind)!.run(d.spec, ctx);
      } catch (e) {
        out = { ok: false, message: (e as Error).message };
      }
      if (!out.ok) {
        failed = {
          ok: false,
          message: `during step ${i + 1} (${d.name}) failed: ${out.message}`,
          details: out.details,
        };
        break;
      }
    }
    if (!failed && spec.durationMs > 0) await sleep(spec.durationMs, ctx.signal);
  } finally {
    result = await cap.stop();
  }
  const packets = result.packets;
  const t0 = packets[0]?.timestampNs ?? 0n;
  const listing = packets
    .slice(0, spec.show)
    .map(
      (p) => `  ${(Number(p.timestampNs - t0) / 1e6).toFixed(3).padStart(9)}ms  ${describeFrame(p.frame)}`,
    );
  if (packets.length > spec.show) listing.push(`  … ${packets.length - spec.show} more in ${result.file}`);
  const summary = `${packets.length} packets captured on ${place.label}/${iface}`;
  if (failed) {
    return { ...failed, details: [...(failed.details ?? []), summary, ...listing], artifacts: [result.file] };
  }

  const lines: string[] = [];
  let bad = 0;
  for (const e of spec.expect) {
    const filter: PacketFilter = {
      ...e.filter,
      src: e.src ? await resolveAddress(e.src, place, ctx) : undefined,
      dst: e.dst ? await resolveAddress(e.dst, place, ctx) : undefined,
    };
    const n = packets.filter((p) => packetMatches(p, filter)).length;
    const { ok, want } = judge(e, n);
    if (!ok) bad++;
    lines.push(
      `${ok ? '✓' : '✗'} ${describeFilter(filter)}: ${n} packet${n === 1 ? '' : 's'} (want ${want})`,
    );
  }
  const dropped = result.stats.droppedByKernel
    ? ` (${result.stats.droppedByKernel} dropped by the kernel)`
    : '';
  return {
    ok: bad === 0,
    message:
      bad === 0
        ? `${summary}${spec.expect.length ? `; all ${spec.expect.length} expectations met` : ''}${dropped}`
        : `${bad} of ${spec.expect.length} packet expectations not met (${summary})${dropped}`,
    details: [...lines, ...(packets.length ? ['packets:', ...listing] : [])],
    data: { file: result.file, packets: packets.length, stats: result.stats },
    artifacts: [result.file],
  };
}
