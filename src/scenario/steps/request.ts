/**
 * The `request` step: traffic from a place (a pod, a node, the outside client on the LAN) to a
 * target (a pod, a Service by name / ClusterIP / NodePort / LoadBalancer IP, an Ingress host+path,
 * an IP), over http, https, tcp, udp or dns, `count` times — each on a fresh connection, so the
 * proxy balances every one — with expectations on the outcome (ok / refused / timeout / nxdomain),
 * the HTTP status and body, WHICH pods answered and how evenly, and the source IP the backend saw.
 *
 * Targets are resolved against the API at run time; the traffic is sent by the probe (probe.ts)
 * inside the place's namespace; `evaluateRequest` (pure, unit-tested) judges the results.
 */
import { findResource } from '../../api/resources.ts';
import type { KubeObject } from '../../api/types.ts';
import type { ProbeResult, ProbeSpec } from '../probe.ts';
import type { FieldReader, Place, RunContext, StepKind, StepOutcome } from '../types.ts';
import { checkSelector, formatMs, objectRefFromText, readObjectRef, readPlace, sleep } from './common.ts';
import { resolveRef } from './objects.ts';
import { notReadyReason } from './wait.ts';

const SERVICES = findResource('', 'v1', 'services')!;
const INGRESSES = findResource('networking.k8s.io', 'v1', 'ingresses')!;

const PROTOS = ['http', 'https', 'tcp', 'udp', 'dns'] as const;
const RESULTS = ['ok', 'refused', 'timeout', 'nxdomain', 'error'] as const;
const TARGET_RE =
  /^(pods?:.+|service:[a-z0-9.-]+|svc:[a-z0-9.-]+|clusterip:[a-z0-9.-]+|nodeport:[a-z0-9.-]+|lb:[a-z0-9.-]+|ingress:[a-z0-9.-]+|node:[A-Za-z0-9.-]+|ip:[0-9.]+|[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|dns:[A-Za-z0-9.-]+)$/;

/** Expectations of a request step (all optional). */
export interface RequestExpect {
  /** Every request must end this way (default ok). */
  result: (typeof RESULTS)[number];
  status?: number;
  bodyContains: string[];
  /** Answers only from pods matching this selector… */
  backendsSelector?: string;
  /** …and every Ready one of them answered. */
  backendsAll: boolean;
  /** Exactly / at least this many distinct pods answered. */
  distinct?: number;
  minDistinct?: number;
  /** Every answer from one and the same pod. */
  same: boolean;
  /** No pod answered more than this share of requests (0-1]. */
  maxShare?: number;
  /** The source IP the backend saw: client | not-client | node | a place | an IP. */
  sourceIP?: string;
  /** DNS: the set of addresses every answer holds (IPs, clusterip:SVC, pods:SELECTOR). */
  addresses?: string[];
}

/** The parsed step. */
export interface RequestSpec {
  from: string;
  to: string;
  proto: (typeof PROTOS)[number];
  port?: number | string;
  path?: string;
  host?: string;
  /** NodePort target: the node whose address is used (default: the first node). */
  node?: string;
  count: number;
  timeoutMs: number;
  gapMs: number;
  message?: string;
  /** Keep sending batches of `count` until this Deployment is rolled out (or the window ends). */
  duringRollout?: { target: string; namespace?: string; timeoutMs: number };
  duringMs?: number;
  expect: RequestExpect;
}

/** Run-time facts the evaluation compares against. */
export interface RequestFacts {
  /** The address of the place the requests came from. */
  clientIP?: string;
  /** Every address of every node (LAN IPs, pod-bridge gateways, VXLAN addresses). */
  nodeIPs: string[];
  /** Addresses a `sourceIP: <place>` names. */
  sourceIPs?: string[];
  /** Names of the Ready pods matching backends.selector. */
  selectorPods?: string[];
  /** Expected DNS answer set. */
  addresses?: string[];
}

/** Who answered and from where, extracted from a response body. */
export function identify(
  r: ProbeResult,
  spec: Pick<RequestSpec, 'proto' | 'path' | 'message'>,
): { pod?: string; client?: string } {
  const body = (r.body ?? '').trim();
  // An error page (a proxy's 503) names no backend, whatever its text.
  if (!body || (r.status !== undefined && r.status >= 400)) return {};
  if (spec.proto === 'udp')
    return (spec.message ?? 'hostname') === 'clientip' ? { client: body } : { pod: body };
  const path = (spec.path ?? '/').split('?')[0];
  if (path === '/hostname') return { pod: body };
  if (path === '/clientip') return { client: body };
  try {
    const j = JSON.parse(body) as { pod?: unknown; client?: unknown };
    return {
      ...(typeof j.pod === 'string' ? { pod: j.pod } : {}),
      ...(typeof j.client === 'string' ? { client: j.client } : {}),
    };
  } catch {
    return {};
  }
}

/** Strips the port of `addr:port` (and the brackets of `[v6]:port`). */
function hostOf(addr: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(addr) ?? /^([^:]+):\d+$/.exec(addr);
  return m ? m[1] : addr;
}

/** Judges the results of a request step (pure). */
export function evaluateRequest(
  results: ProbeResult[],
  spec: Pick<RequestSpec, 'proto' | 'path' | 'message' | 'expect'>,
  facts: RequestFacts,
): StepOutcome {
  const e = spec.expect;
  const problems: string[] = [];
  const details: string[] = [];
  const n = results.length;
  const byResult = new Map<string, number>();
  for (const r of results) byResult.set(r.result, (byResult.get(r.result) ?? 0) + 1);
  const resultLine = [...byResult].map(([k, v]) => `${v} ${k}`).join(', ');
  const wrong = results.filter((r) => r.result !== e.result);
  if (wrong.length > 0) {
    const sample = wrong[0];
    problems.push(
      `${wrong.length}/${n} requests ended ${[...new Set(wrong.map((w) => w.result))].join('/')} (want ${e.result})${sample.error ? `: ${sample.error}` : ''}`,
    );
  }
  const okOnes = results.filter((r) => r.result === 'ok');
  if (e.status !== undefined) {
    const bad = okOnes.filter((r) => r.status !== e.status);
    if (bad.length)
      problems.push(
        `${bad.length}/${okOnes.length} answers had status ${[...new Set(bad.map((b) => b.status))].join(', ')} (want ${e.status})`,
      );
  }
  for (const c of e.bodyContains) {
    const bad = okOnes.filter((r) => !(r.body ?? '').includes(c));
    if (bad.length) problems.push(`${bad.length}/${okOnes.length} bodies lack "${c}"`);
  }
  // Who answered.
  const ids = okOnes.map((r) => identify(r, spec));
  const counts = new Map<string, number>();
  for (const id of ids) if (id.pod) counts.set(id.pod, (counts.get(id.pod) ?? 0) + 1);
  const needPods =
    e.backendsSelector !== undefined ||
    e.distinct !== undefined ||
    e.minDistinct !== undefined ||
    e.same ||
    e.maxShare !== undefined;
  if (needPods && okOnes.length > 0) {
    const unknown = ids.filter((i) => !i.pod).length;
    if (unknown)
      problems.push(
        `${unknown} answers do not say which pod answered (use a netexec backend, path / or /hostname)`,
      );
    const share = [...counts].sort((a, b) => b[1] - a[1]);
    details.push(`answered by: ${share.map(([p, c]) => `${p} ×${c}`).join(', ') || 'nobody'}`);
    if (facts.selectorPods) {
      const foreign = [...counts.keys()].filter((p) => !facts.selectorPods!.includes(p));
      if (foreign.length)
        problems.push(`answers from pods outside ${e.backendsSelector}: ${foreign.join(', ')}`);
      if (e.backendsAll) {
        const silent = facts.selectorPods.filter((p) => !counts.has(p));
        if (silent.length)
          problems.push(
            `${silent.length} of ${facts.selectorPods.length} backends never answered: ${silent.join(', ')}`,
          );
      }
    }
    if (e.distinct !== undefined && counts.size !== e.distinct)
      problems.push(`${counts.size} distinct pods answered, want ${e.distinct}`);
    if (e.minDistinct !== undefined && counts.size < e.minDistinct)
      problems.push(`${counts.size} distinct pods answered, want at least ${e.minDistinct}`);
    if (e.same && counts.size > 1)
      problems.push(`answers came from ${counts.size} pods, want one (affinity)`);
    if (e.maxShare !== undefined && share.length > 0 && okOnes.length > 0) {
      const top = share[0][1] / okOnes.length;
      if (top > e.maxShare + 1e-9)
        problems.push(
          `${share[0][0]} answered ${(top * 100).toFixed(0)}% of requests, want at most ${(e.maxShare * 100).toFixed(0)}%`,
        );
    }
  }
  // The source address the backend saw.
  if (e.sourceIP !== undefined && okOnes.length > 0) {
    const seen = ids.map((i) => (i.client ? hostOf(i.client) : undefined));
    const unknown = seen.filter((s) => !s).length;
    const uniq = [...new Set(seen.filter((s): s is string => !!s))];
    details.push(`backend saw source: ${uniq.join(', ') || 'unknown'}`);
    if (unknown)
      problems.push(`${unknown} answers do not say the client address (use netexec, path / or /clientip)`);
    const want = e.sourceIP;
    const bad = uniq.filter((ip) => {
      if (want === 'client') return ip !== facts.clientIP;
      if (want === 'not-client') return ip === facts.clientIP;
      if (want === 'node') return !facts.nodeIPs.includes(ip);
      return !(facts.sourceIPs ?? [want]).includes(ip);
    });
    if (bad.length) {
      const wantText =
        want === 'client'
          ? `the client's own address ${facts.clientIP} (no NAT)`
          : want === 'not-client'
            ? `anything but the client's ${facts.clientIP} (SNAT)`
            : want === 'node'
              ? 'a node address (SNAT to the node)'
              : (facts.sourceIPs ?? [want]).join(' or ');
      problems.push(`backend saw source ${bad.join(', ')}, want ${wantText}`);
    }
  }
  if (e.addresses !== undefined && facts.addresses) {
    const want = [...facts.addresses].sort().join(', ');
    for (const r of okOnes) {
      const got = (r.addresses ?? []).join(', ');
      if (got !== want) {
        problems.push(`DNS answered [${got}], want [${want}]`);
        break;
      }
    }
    if (okOnes[0]) details.push(`DNS answer: ${(okOnes[0].addresses ?? []).join(', ')}`);
  }
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const p50 = ms.length ? ms[Math.floor(ms.length / 2)] : 0;
  const summary = `${n} requests: ${resultLine || 'none'}${n ? `, median ${formatMs(p50)}` : ''}`;
  return {
    ok: problems.length === 0 && n > 0,
    message: problems.length ? problems.join('; ') : n === 0 ? 'no request was sent' : summary,
    details: problems.length ? [summary, ...details] : details,
    data: {
      results: byResult.size ? Object.fromEntries(byResult) : {},
      answeredBy: Object.fromEntries(counts),
    },
  };
}

function readExpect(r: FieldReader | undefined, proto: RequestSpec['proto']): RequestExpect {
  r?.only(['result', 'status', 'bodyContains', 'backends', 'sourceIP', 'addresses']);
  const b = r?.map('backends');
  b?.only(['selector', 'all', 'distinct', 'minDistinct', 'same', 'maxShare']);
  const selector = b?.string('selector');
  if (selector !== undefined) checkSelector(b!, 'selector', selector);
  const all = b?.bool('all') ?? false;
  if (all && selector === undefined) b!.fail('all: true needs selector: (which pods must all answer)', 'all');
  const sourceIP = r?.string('sourceIP');
  if (
    sourceIP !== undefined &&
    !/^(client|not-client|node|outside|node:[A-Za-z0-9.-]+|pod:.+|[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$/.test(
      sourceIP,
    )
  )
    r!.fail(
      `"${sourceIP}" is not one of client, not-client, node, node:NAME, pod:REF, outside, or an IP`,
      'sourceIP',
    );
  const addresses = r?.strings('addresses');
  if (addresses && proto !== 'dns') r!.fail('only with protocol: dns', 'addresses');
  const status = r?.int('status', { min: 100, max: 599 });
  if (status !== undefined && proto !== 'http' && proto !== 'https')
    r!.fail('only with protocol http or https', 'status');
  return {
    result: r?.oneOf('result', RESULTS) ?? 'ok',
    status,
    bodyContains: r?.strings('bodyContains') ?? [],
    backendsSelector: selector,
    backendsAll: all,
    distinct: b?.int('distinct', { min: 1 }),
    minDistinct: b?.int('minDistinct', { min: 1 }),
    same: b?.bool('same') ?? false,
    maxShare: b?.number('maxShare', { min: 0.01, max: 1 }),
    sourceIP,
    addresses,
  };
}

/** `request`: traffic with expectations (see the module comment and README.md). */
export const requestStep: StepKind<RequestSpec> = {
  kind: 'request',
  summary:
    'send http/https/tcp/udp/dns requests from a pod, node or outside client; check who answered and what they saw',
  schema: {
    type: 'object',
    properties: {
      from: { type: 'string', description: 'pod:NAME | pod:SELECTOR | node:NAME | outside' },
      to: {
        type: 'string',
        description:
          'pod:REF | pods:SELECTOR (each pod) | service:NAME[.NS] | clusterip:NAME | nodeport:NAME | lb:NAME | ingress:NAME | node:NAME | IP | dns:NAME',
      },
      protocol: { enum: [...PROTOS], default: 'http' },
      port: {
        type: ['integer', 'string'],
        description: 'service port (number or name) for Service targets, else the port',
      },
      path: { type: 'string', default: '/' },
      host: { type: 'string', description: 'HTTP Host header (Ingress targets default to the rule host)' },
      node: { type: 'string', description: 'nodeport: the node whose address to use' },
      count: { type: 'integer', minimum: 1, default: 1 },
      timeout: { type: ['string', 'number'], default: '2s', description: 'per request' },
      gap: { type: ['string', 'number'], description: 'pause between requests' },
      message: { type: 'string', description: 'udp payload (netexec: hostname | clientip | echo TEXT)' },
      during: {
        type: 'object',
        properties: {
          rollout: { type: 'string', description: 'deployment/NAME: keep sending until it is rolled out' },
          namespace: { type: 'string' },
          duration: { type: ['string', 'number'], description: 'keep sending for this long' },
          timeout: { type: ['string', 'number'], default: '120s' },
        },
        additionalProperties: false,
      },
      expect: {
        type: 'object',
        properties: {
          result: { enum: [...RESULTS], default: 'ok' },
          status: { type: 'integer' },
          bodyContains: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
          backends: {
            type: 'object',
            properties: {
              selector: { type: 'string' },
              all: { type: 'boolean' },
              distinct: { type: 'integer', minimum: 1 },
              minDistinct: { type: 'integer', minimum: 1 },
              same: { type: 'boolean' },
              maxShare: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            },
            additionalProperties: false,
          },
          sourceIP: {
            type: 'string',
            description: 'client | not-client | node | node:NAME | pod:REF | outside | IP',
          },
          addresses: {
            type: 'array',
            items: { type: 'string' },
            description: 'dns: IPs, clusterip:SVC, pods:SELECTOR',
          },
        },
        additionalProperties: false,
      },
    },
    required: ['from', 'to'],
    additionalProperties: false,
  },
  parse(body) {
    body.only([
      'from',
      'to',
      'protocol',
      'port',
      'path',
      'host',
      'node',
      'count',
      'timeout',
      'gap',
      'message',
      'during',
      'expect',
    ]);
    const from = readPlace(body, 'from', { required: true })!;
    const to = body.string('to', { required: true });
    if (!TARGET_RE.test(to))
      body.fail(
        `"${to}" is not a target: use pod:REF, pods:SELECTOR, service:NAME, clusterip:NAME, nodeport:NAME, lb:NAME, ingress:NAME, node:NAME, an IP, or dns:NAME`,
        'to',
      );
    const proto = body.oneOf('protocol', PROTOS) ?? (to.startsWith('dns:') ? 'dns' : 'http');
    if (to.startsWith('dns:') && proto !== 'dns') body.fail('a dns: target needs protocol: dns', 'protocol');
    const rawPort = body.get('port');
    let port: number | string | undefined;
    if (rawPort !== undefined && rawPort !== null) {
      port =
        typeof rawPort === 'string' && !/^\d+$/.test(rawPort)
          ? rawPort
          : body.int('port', { min: 1, max: 65535 });
      if (typeof rawPort === 'string' && /^\d+$/.test(rawPort)) port = Number(rawPort);
    }
    const path = body.string('path');
    if (path !== undefined && !path.startsWith('/')) body.fail('must start with /', 'path');
    if (path !== undefined && proto !== 'http' && proto !== 'https')
      body.fail('only with protocol http or https', 'path');
    const node = body.string('node');
    if (node !== undefined && !to.startsWith('nodeport:')) body.fail('only with a nodeport: target', 'node');
    const message = body.string('message');
    if (message !== undefined && proto !== 'udp') body.fail('only with protocol: udp', 'message');
    const d = body.map('during');
    d?.only(['rollout', 'namespace', 'duration', 'timeout']);
    let duringRollout: RequestSpec['duringRollout'];
    const duringMs = d?.duration('duration');
    if (d?.has('rollout')) {
      const ref = readObjectRef(d, 'rollout');
      if (ref.res.kind !== 'Deployment') d.fail('must be deployment/NAME', 'rollout');
      duringRollout = {
        target: ref.text,
        namespace: ref.namespace,
        timeoutMs: d.duration('timeout') ?? 120_000,
      };
    }
    if (d && !duringRollout && duringMs === undefined) d.fail('give rollout: deployment/NAME or duration:');
    if (d && to.startsWith('pods:')) d.fail('only with a single target (not pods:)');
    if (duringRollout && duringMs !== undefined) d!.fail('give rollout: or duration:, not both', 'duration');
    const expect = readExpect(body.map('expect'), proto);
    if (proto === 'tcp' && (expect.backendsSelector || expect.sourceIP || expect.same || expect.distinct))
      body.fail('plain tcp cannot tell who answered: use protocol http or udp against netexec', 'expect');
    return {
      from,
      to,
      proto,
      port,
      path,
      host: body.string('host'),
      node,
      count: body.int('count', { min: 1 }) ?? 1,
      timeoutMs: body.duration('timeout') ?? 2000,
      gapMs: body.duration('gap') ?? 0,
      message: message ?? (proto === 'udp' ? (expect.sourceIP ? 'clientip' : 'hostname') : undefined),
      duringRollout,
      duringMs,
      expect,
    };
  },
  describe: (s) =>
    `${s.proto.toUpperCase()} ${s.to}${s.port !== undefined ? `:${s.port}` : ''}${s.path && s.path !== '/' ? s.path : ''} from ${s.from}${s.count > 1 ? ` ×${s.count}` : ''}${s.duringRollout ? ` during rollout of ${s.duringRollout.target}` : s.duringMs ? ` for ${formatMs(s.duringMs)}` : ''}`,
  run: runRequest,
};

function servicePort(svc: KubeObject, want: number | string | undefined, text: string): any {
  const ports = (svc.spec?.ports ?? []) as Array<{
    name?: string;
    port: number;
    nodePort?: number;
    protocol?: string;
  }>;
  if (ports.length === 0) throw new Error(`${text}: the Service has no ports`);
  if (want === undefined) return ports[0];
  const p = ports.find((x) => x.port === want || x.name === want);
  if (!p)
    throw new Error(
      `${text}: the Service has no port ${want} (ports: ${ports.map((x) => x.name ?? x.port).join(', ')})`,
    );
  return p;
}

async function getService(ctx: RunContext, nameNs: string): Promise<KubeObject> {
  const [name, ns] = nameNs.split('.');
  return ctx.client.get(SERVICES, ns ?? ctx.defaultNamespace, name);
}

interface Target {
  host: string;
  port: number;
  hostHeader?: string;
  label: string;
}

/** Resolves `to:` to the addresses to send to (several for `pods:SELECTOR`). */
async function resolveTargets(s: RequestSpec, ctx: RunContext): Promise<Target[]> {
  if (s.to.startsWith('pods:')) {
    const all = await ctx.places(`pod:${s.to.slice(5)}`);
    return all.map((p) => {
      const declared = p.pod?.spec?.containers?.[0]?.ports?.[0]?.containerPort as number | undefined;
      return {
        host: p.ip!,
        port: typeof s.port === 'number' ? s.port : (declared ?? 8080),
        label: `${p.label} (${p.ip})`,
      };
    });
  }
  return [await resolveTarget(s, ctx)];
}

/** Resolves a single-address `to:` to an address, port and (for Ingress) Host header. */
async function resolveTarget(s: RequestSpec, ctx: RunContext): Promise<Target> {
  const [kind, ...restParts] = s.to.split(':');
  const rest = restParts.join(':');
  const numPort = (dflt: number) => (typeof s.port === 'number' ? s.port : dflt);
  if (/^[0-9.]+$/.test(s.to)) return { host: s.to, port: numPort(80), label: s.to };
  switch (kind) {
    case 'ip':
      return { host: rest, port: numPort(80), label: rest };
    case 'dns':
      return { host: rest, port: 0, label: rest };
    case 'pod': {
      const p = await ctx.place(s.to);
      if (!p.ip) throw new Error(`${s.to}: the pod has no IP yet`);
      const declared = p.pod?.spec?.containers?.[0]?.ports?.[0]?.containerPort as number | undefined;
      return { host: p.ip, port: numPort(declared ?? 8080), label: `${p.label} (${p.ip})` };
    }
    case 'node': {
      const p = await ctx.place(s.to);
      return { host: p.ip!, port: numPort(80), label: `${p.label} (${p.ip})` };
    }
    case 'service':
    case 'svc': {
      const svc = await getService(ctx, rest);
      if (s.proto === 'dns') return { host: rest, port: 0, label: rest };
      const p = servicePort(svc, s.port, s.to);
      return { host: rest, port: p.port, label: `${rest}:${p.port}` };
    }
    case 'clusterip': {
      const svc = await getService(ctx, rest);
      const ip = svc.spec?.clusterIP;
      if (!ip || ip === 'None') throw new Error(`${s.to}: the Service has no ClusterIP (headless?)`);
      const p = servicePort(svc, s.port, s.to);
      return { host: ip, port: p.port, label: `${ip}:${p.port} (ClusterIP of ${rest})` };
    }
    case 'nodeport': {
      const svc = await getService(ctx, rest);
      const p = servicePort(svc, s.port, s.to);
      if (!p.nodePort)
        throw new Error(`${s.to}: the Service port ${p.port} has no nodePort (type ${svc.spec?.type})`);
      const node = s.node
        ? await ctx.place(`node:${s.node.replace(/^node:/, '')}`)
        : await ctx.place(`node:${ctx.nodes[0].name}`);
      return {
        host: node.ip!,
        port: p.nodePort,
        label: `${node.ip}:${p.nodePort} (NodePort of ${rest} on ${node.node})`,
      };
    }
    case 'lb': {
      const svc = await getService(ctx, rest);
      const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
      if (!ip)
        throw new Error(`${s.to}: the Service has no LoadBalancer IP (status.loadBalancer.ingress is empty)`);
      const p = servicePort(svc, s.port, s.to);
      return { host: ip, port: p.port, label: `${ip}:${p.port} (LoadBalancer IP of ${rest})` };
    }
    case 'ingress': {
      const [name, ns] = rest.split('.');
      const ing = await ctx.client.get(INGRESSES, ns ?? ctx.defaultNamespace, name);
      const lb = ing.status?.loadBalancer?.ingress?.[0];
      const ip = lb?.ip;
      if (!ip)
        throw new Error(`${s.to}: the Ingress has no address yet (status.loadBalancer.ingress is empty)`);
      const hostHeader = s.host ?? ing.spec?.rules?.find((r: { host?: string }) => r.host)?.host;
      const port = numPort(s.proto === 'https' ? 443 : 80);
      return { host: ip, port, hostHeader, label: `${hostHeader ?? ip}${s.path ?? '/'} via ${ip}:${port}` };
    }
  }
  throw new Error(`${s.to}: unknown target`);
}

/** Every address of every node: LAN IP, pod-bridge gateway, VXLAN address. */
function nodeAddresses(ctx: RunContext, only?: string): string[] {
  const out: string[] = [];
  for (const n of ctx.cluster.plan.nodes) {
    if (only && n.name !== only) continue;
    out.push(n.lanIP, n.podGateway);
    if (n.vxlan) out.push(n.vxlan.address);
  }
  return out;
}

async function facts(s: RequestSpec, ctx: RunContext, from: Place): Promise<RequestFacts> {
  const f: RequestFacts = { clientIP: from.ip, nodeIPs: nodeAddresses(ctx) };
  const src = s.expect.sourceIP;
  if (src && !['client', 'not-client', 'node'].includes(src)) {
    if (/^[0-9.]+$/.test(src)) f.sourceIPs = [src];
    else if (src.startsWith('node:')) {
      const p = await ctx.place(src);
      f.sourceIPs = nodeAddresses(ctx, p.node);
    } else {
      const p = await ctx.place(src);
      f.sourceIPs = p.ip ? [p.ip] : [];
    }
  }
  if (s.expect.backendsSelector) {
    const [nsPart, selPart] = s.expect.backendsSelector.includes('/')
      ? s.expect.backendsSelector.split('/')
      : [undefined, s.expect.backendsSelector];
    const pods = await ctx.pods(selPart!, nsPart);
    f.selectorPods = pods
      .filter((p) => !p.metadata.deletionTimestamp && notReadyReason(p as KubeObject) === undefined)
      .map((p) => p.metadata.name!);
  }
  if (s.expect.addresses) {
    const want: string[] = [];
    for (const a of s.expect.addresses) {
      if (a.startsWith('clusterip:')) {
        const svc = await getService(ctx, a.slice('clusterip:'.length));
        want.push(svc.spec?.clusterIP);
      } else if (a.startsWith('pods:')) {
        const sel = a.slice('pods:'.length);
        const pods = await ctx.pods(sel);
        want.push(
          ...pods
            .filter(
              (p) =>
                !p.metadata.deletionTimestamp &&
                p.status?.podIP &&
                notReadyReason(p as KubeObject) === undefined,
            )
            .map((p) => p.status!.podIP!),
        );
      } else want.push(a);
    }
    f.addresses = want;
  }
  return f;
}

/** Runs the probe once in `from`'s namespace. */
async function sendBatch(ctx: RunContext, from: Place, probe: ProbeSpec): Promise<ProbeResult[]> {
  const { probeCommand } = await import('../context.ts');
  const cmd = await probeCommand(probe);
  const budget = probe.count * (probe.timeoutMs + (probe.gapMs ?? 0)) + 15_000;
  const r = await ctx.execIn(from, cmd, { timeoutMs: budget });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(line) as { results: ProbeResult[] }).results;
  } catch {
    throw new Error(
      `the probe in ${from.label} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 300)}`,
    );
  }
}

async function runRequest(s: RequestSpec, ctx: RunContext): Promise<StepOutcome> {
  const from = await ctx.place(s.from);
  const targets = await resolveTargets(s, ctx);
  const probeFor = (target: Target): ProbeSpec => ({
    proto: s.proto,
    host: target.host,
    port: target.port,
    path: s.path,
    hostHeader: target.hostHeader ?? s.host,
    count: s.count,
    timeoutMs: s.timeoutMs,
    message: s.message,
    gapMs: s.gapMs,
  });
  const results: ProbeResult[] = [];
  if (targets.length > 1 || (s.duringRollout === undefined && s.duringMs === undefined)) {
    for (const target of targets) {
      ctx.log(`${s.proto} ${target.label} from ${from.label}${from.ip ? ` (${from.ip})` : ''}`);
      results.push(...(await sendBatch(ctx, from, probeFor(target))));
    }
  } else {
    const target = targets[0];
    ctx.log(`${s.proto} ${target.label} from ${from.label}${from.ip ? ` (${from.ip})` : ''}`);
    const probe = probeFor(target);
    const t0 = Date.now();
    const limit = s.duringRollout ? s.duringRollout.timeoutMs : s.duringMs!;
    let rolledOut = false;
    let batches = 0;
    let lastWhy = '';
    for (;;) {
      results.push(...(await sendBatch(ctx, from, probe)));
      batches++;
      if (ctx.signal.aborted) break;
      if (s.duringRollout) {
        const ref = objectRefFromText(s.duringRollout.target, s.duringRollout.namespace);
        const [dep] = await resolveRef(ctx, ref);
        const why = dep ? notReadyReason(dep) : `${s.duringRollout.target} not found`;
        if (why !== lastWhy && why) ctx.log(`${why} (${results.length} requests so far)`);
        lastWhy = why ?? '';
        // Keep going one more batch after the rollout finished: the last old pods are still terminating.
        if (why === undefined) {
          if (rolledOut) break;
          rolledOut = true;
        }
      }
      if (Date.now() - t0 >= limit) break;
      await sleep(50, ctx.signal);
    }
    if (s.duringRollout && !rolledOut) {
      const out = evaluateRequest(results, s, await facts(s, ctx, from));
      return {
        ...out,
        ok: false,
        message: `${s.duringRollout.target} did not finish rolling out within ${formatMs(limit)} (${lastWhy}); ${out.message}`,
      };
    }
    ctx.log(`${batches} batches, ${results.length} requests`);
  }
  return evaluateRequest(results, s, await facts(s, ctx, from));
}
