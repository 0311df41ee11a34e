/**
 * The `matrix` step: a connectivity truth table. Each row is a source (a pod, every pod of a
 * selector, a node, the outside client), each column a target (a pod, a Service's ClusterIP, a
 * node port, an address, a DNS name) with a port and protocol; each cell is one short connection
 * attempt made inside the source's network namespace. The measured grid is printed, and compared
 * with the grid the scenario expects (✓ / ✗ / . per cell) with every differing cell named.
 * Grid parsing, rendering and diffing are pure (../matrix.ts); this file resolves and runs.
 */
import { findResource } from '../../api/resources.ts';
import type { KubeObject } from '../../api/types.ts';
import {
  type ActualCell,
  aggregate,
  type CellOutcome,
  cellCommand,
  cellGlyph,
  classifyCell,
  diffGrid,
  type ExpectedCell,
  GridError,
  MATRIX_PROTOCOLS,
  type MatrixProtocol,
  type MatrixTarget,
  parseExpectedGrid,
  parseTarget,
  renderDiff,
  renderGrid,
} from '../matrix.ts';
import type { FieldReader, Place, RunContext, StepKind, StepOutcome } from '../types.ts';

const SERVICES = findResource('', 'v1', 'services')!;

interface MatrixRow {
  from: string;
  label: string;
}
interface MatrixColumn {
  target: MatrixTarget;
  label: string;
  proto?: MatrixProtocol;
  path?: string;
}

/** The parsed `matrix` step. */
export interface MatrixSpec {
  rows: MatrixRow[];
  cols: MatrixColumn[];
  proto: MatrixProtocol;
  timeoutMs: number;
  path: string;
  /** Cells run at the same time (bounded: the machine may be small). */
  parallel: number;
  expect?: ExpectedCell[][];
}

const LABEL_RE = /^\S+$/;

function readRows(body: FieldReader): MatrixRow[] {
  const raw = body.get('from');
  if (raw === undefined || raw === null)
    body.fail('required: a list of sources (pod:NAME, pod:SELECTOR, node:NAME, outside)', 'from');
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) body.fail('must list at least one source', 'from');
  return list.map((item, i) => {
    if (typeof item === 'string') {
      checkPlace(body, item, ['from', i]);
      return { from: item, label: item };
    }
    // A mapping entry is checked by hand: FieldReader.list() wants every entry to be a mapping,
    // and a list may mix both forms.
    const at = (k?: string): (string | number)[] => (k ? ['from', i, k] : ['from', i]);
    if (!item || typeof item !== 'object' || Array.isArray(item))
      body.fail('must be a place (pod:NAME, …) or {place, label}', at());
    const m = item as Record<string, unknown>;
    for (const k of Object.keys(m))
      if (k !== 'place' && k !== 'label') body.fail('unknown field (known: place, label)', at(k));
    if (typeof m.place !== 'string')
      body.fail('required: a place (pod:NAME, pod:SELECTOR, node:NAME, outside)', at('place'));
    checkPlace(body, m.place as string, at('place'));
    const label = m.label === undefined ? (m.place as string) : String(m.label);
    if (!LABEL_RE.test(label)) body.fail('must be one word (no spaces): it labels a grid row', at('label'));
    return { from: m.place as string, label };
  });
}

function checkPlace(body: FieldReader, v: string, path: (string | number)[]): void {
  if (!/^(pod:.+|node:[A-Za-z0-9.-]+|outside|underlay)$/.test(v)) {
    body.fail(
      `"${v}" is not a place: use pod:NAME, pod:NS/NAME, pod:SELECTOR (like pod:app=client), node:NAME, outside`,
      path,
    );
  }
  if (/\s/.test(v)) body.fail('must be one word (no spaces): it labels a grid row', path);
}

function readCols(body: FieldReader): MatrixColumn[] {
  const raw = body.get('to');
  if (raw === undefined || raw === null)
    body.fail('required: a list of targets (svc:NAME:PORT, pod:NAME:PORT, IP:PORT, …)', 'to');
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) body.fail('must list at least one target', 'to');
  return list.map((item, i) => {
    const at = (k?: string): (string | number)[] =>
      k ? ['to', i, k] : Array.isArray(raw) ? ['to', i] : ['to'];
    const target = (text: unknown, where: (string | number)[]): MatrixTarget => {
      if (typeof text !== 'string') return body.fail('required: a target like svc:web:80', where);
      try {
        return parseTarget(text);
      } catch (e) {
        return body.fail((e as Error).message, where);
      }
    };
    if (typeof item === 'string') return { target: target(item, at()), label: item.trim() };
    if (!item || typeof item !== 'object' || Array.isArray(item))
      body.fail('must be a target (svc:web:80, …) or {target, label, protocol, path}', at());
    const m = item as Record<string, unknown>;
    const known = ['target', 'label', 'protocol', 'path'];
    for (const k of Object.keys(m))
      if (!known.includes(k)) body.fail(`unknown field (known: ${known.join(', ')})`, at(k));
    const t = target(m.target, at('target'));
    const label = m.label === undefined ? t.text.trim() : String(m.label);
    if (!LABEL_RE.test(label))
      body.fail('must be one word (no spaces): it labels a grid column', at('label'));
    if (m.protocol !== undefined && !(MATRIX_PROTOCOLS as readonly unknown[]).includes(m.protocol))
      body.fail(`must be one of ${MATRIX_PROTOCOLS.join(', ')}`, at('protocol'));
    if (m.path !== undefined && typeof m.path !== 'string') body.fail('must be a string', at('path'));
    return {
      target: t,
      label,
      proto: m.protocol as MatrixProtocol | undefined,
      path: m.path as string | undefined,
    };
  });
}

/** `matrix`: `{from: [pod:a, pod:b], to: [svc:web:80, pod:db:5432], expect: "✓ ✗\n✗ ✓"}`. */
export const matrixStep: StepKind<MatrixSpec> = {
  kind: 'matrix',
  summary:
    'connectivity truth table: sources × targets, each cell one connection; compared with an expected grid',
  schema: {
    type: 'object',
    properties: {
      from: {
        description: 'rows: places (pod:NAME, pod:SELECTOR = every matching pod, node:NAME, outside)',
        type: 'array',
        items: {
          oneOf: [
            { type: 'string' },
            {
              type: 'object',
              properties: { place: { type: 'string' }, label: { type: 'string' } },
              required: ['place'],
              additionalProperties: false,
            },
          ],
        },
      },
      to: {
        description:
          'columns: pod:REF[:PORT] | svc:NAME[:PORT|:PORTNAME] | clusterip:NAME:PORT | node:NAME:PORT | IP:PORT | host:DNSNAME:PORT, optionally /tcp /udp /http',
        type: 'array',
        items: {
          oneOf: [
            { type: 'string' },
            {
              type: 'object',
              properties: {
                target: { type: 'string' },
                label: { type: 'string' },
                protocol: { enum: [...MATRIX_PROTOCOLS] },
                path: { type: 'string' },
              },
              required: ['target'],
              additionalProperties: false,
            },
          ],
        },
      },
      protocol: { enum: [...MATRIX_PROTOCOLS], default: 'tcp' },
      timeout: { type: ['string', 'number'], default: '2s', description: 'per cell' },
      path: { type: 'string', default: '/', description: 'http cells' },
      parallel: { type: 'integer', minimum: 1, maximum: 16, default: 4 },
      expect: {
        description:
          'expected grid: one line per row of ✓ (y/1) ✗ (x/n/0) . (any); optional header and row labels',
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
      },
    },
    required: ['from', 'to'],
    additionalProperties: false,
  },
  parse(body) {
    body.only(['from', 'to', 'protocol', 'timeout', 'path', 'parallel', 'expect']);
    const rows = readRows(body);
    const cols = readCols(body);
    const dupe = (labels: string[]) => labels.find((l, i) => labels.indexOf(l) !== i);
    const dr = dupe(rows.map((r) => r.label));
    if (dr) body.fail(`two rows are labelled "${dr}": give one a label`, 'from');
    const dc = dupe(cols.map((c) => c.label));
    if (dc) body.fail(`two columns are labelled "${dc}": give one a label`, 'to');
    const timeoutMs = body.duration('timeout') ?? 2000;
    if (timeoutMs <= 0) body.fail('must be more than 0', 'timeout');
    const spec: MatrixSpec = {
      rows,
      cols,
      proto: body.oneOf('protocol', MATRIX_PROTOCOLS) ?? 'tcp',
      timeoutMs,
      path: body.string('path') ?? '/',
      parallel: body.int('parallel', { min: 1, max: 16 }) ?? 4,
    };
    if (body.has('expect') && body.get('expect') !== null) {
      const e = body.get('expect');
      const input = typeof e === 'string' ? e : body.strings('expect')!;
      try {
        spec.expect = parseExpectedGrid(
          input,
          rows.map((r) => r.label),
          cols.map((c) => c.label),
        );
      } catch (err) {
        if (!(err instanceof GridError)) throw err;
        // A list points at the bad row; a text block at the block.
        const at = Array.isArray(e) && err.row !== undefined ? ['expect', err.row] : 'expect';
        body.fail(`expected grid: ${err.message}`, at);
      }
    }
    return spec;
  },
  describe: (s) =>
    `matrix ${s.rows.length}×${s.cols.length}: ${s.rows.map((r) => r.label).join(', ')} → ${s.cols.map((c) => c.label).join(', ')}`,
  run: runMatrix,
};

interface ResolvedColumn {
  host: string;
  port: number;
  proto: MatrixProtocol;
  path: string;
  /** The address it stands for, for the report (`10.96.4.2:80`). */
  shown: string;
}

async function getService(ctx: RunContext, ref: string): Promise<KubeObject> {
  let ns = ctx.defaultNamespace;
  let name = ref;
  if (ref.includes('/')) [ns, name] = ref.split('/') as [string, string];
  else if (ref.includes('.')) [name, ns] = ref.split('.') as [string, string];
  return ctx.client.get(SERVICES, ns, name);
}

/** Resolves a column to an address, port and protocol in the running cluster. */
async function resolveColumn(col: MatrixColumn, spec: MatrixSpec, ctx: RunContext): Promise<ResolvedColumn> {
  const t = col.target;
  let proto = col.proto ?? t.proto ?? spec.proto;
  const path = col.path ?? spec.path;
  const out = (host: string, port: number): ResolvedColumn => ({
    host,
    port,
    proto,
    path,
    shown: `${host}:${port}`,
  });
  switch (t.kind) {
    case 'ip':
    case 'host':
      return out(t.ref, t.port as number);
    case 'node': {
      const p = await ctx.place(`node:${t.ref}`);
      return out(p.ip!, t.port as number);
    }
    case 'pod': {
      const p = await ctx.place(`pod:${t.ref}`);
      if (!p.ip) throw new Error(`column ${col.label}: the pod has no IP yet`);
      const declared = p.pod?.spec?.containers?.[0]?.ports?.[0]?.containerPort as number | undefined;
      return out(p.ip, (t.port as number | undefined) ?? declared ?? 8080);
    }
    case 'svc': {
      const svc = await getService(ctx, t.ref);
      const ip = svc.spec?.clusterIP as string | undefined;
      if (!ip || ip === 'None')
        throw new Error(`column ${col.label}: the Service has no ClusterIP (headless?)`);
      const ports = (svc.spec?.ports ?? []) as Array<{ name?: string; port: number; protocol?: string }>;
      const sp = t.port === undefined ? ports[0] : ports.find((p) => p.port === t.port || p.name === t.port);
      if (!sp) {
        throw new Error(
          `column ${col.label}: the Service has no port ${t.port ?? ''} (ports: ${ports.map((p) => p.name ?? p.port).join(', ') || 'none'})`,
        );
      }
      // A UDP Service port is tested over UDP unless the scenario said otherwise.
      if (!col.proto && !t.proto && sp.protocol === 'UDP') proto = 'udp';
      return { ...out(ip, sp.port), proto };
    }
  }
}

/** Runs `fn` over `items` with at most `n` at a time, keeping order. */
async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

async function runMatrix(spec: MatrixSpec, ctx: RunContext): Promise<StepOutcome> {
  const rowPlaces: Place[][] = [];
  for (const r of spec.rows) {
    const places = await ctx.places(r.from);
    if (places.length === 0) throw new Error(`row ${r.label}: no place matches ${r.from}`);
    rowPlaces.push(places);
  }
  const cols: ResolvedColumn[] = [];
  for (const c of spec.cols) cols.push(await resolveColumn(c, spec, ctx));
  ctx.log(
    `columns: ${spec.cols.map((c, i) => `${c.label} = ${cols[i]!.proto} ${cols[i]!.shown}`).join(', ')}`,
  );

  const jobs: { r: number; c: number; place: Place }[] = [];
  rowPlaces.forEach((places, r) => {
    cols.forEach((_, c) => {
      for (const place of places) jobs.push({ r, c, place });
    });
  });
  const results = await pool(jobs, spec.parallel, async (j) => {
    if (ctx.signal.aborted) return { ...j, outcome: { ok: false, reason: 'interrupted' } as CellOutcome };
    const col = cols[j.c]!;
    const cmd = cellCommand(col.proto, col.host, col.port, spec.timeoutMs, col.path);
    const res = await ctx.execIn(j.place, cmd, { timeoutMs: spec.timeoutMs + 10_000 });
    return { ...j, outcome: classifyCell(col.proto, res.code, res.stdout, res.stderr) };
  });

  const rows = spec.rows.map((r) => r.label);
  const colLabels = spec.cols.map((c) => c.label);
  const actual: ActualCell[][] = rows.map(() => colLabels.map(() => 'fail' as ActualCell));
  const shown: string[][] = rows.map(() => colLabels.map(() => ''));
  const why: string[][] = rows.map(() => colLabels.map(() => ''));
  rows.forEach((_, r) => {
    colLabels.forEach((_, c) => {
      const cell = results.filter((x) => x.r === r && x.c === c);
      const a = aggregate(cell.map((x) => x.outcome));
      actual[r]![c] = a;
      const okCount = cell.filter((x) => x.outcome.ok).length;
      shown[r]![c] = a === 'mixed' ? `~${okCount}/${cell.length}` : cellGlyph(a);
      why[r]![c] = cell
        .filter((x) => !x.outcome.ok)
        .map((x) => (cell.length > 1 ? `${x.place.label}: ${x.outcome.reason}` : x.outcome.reason))
        .join('; ');
    });
  });
  const data = { rows, cols: colLabels, cells: actual };
  if (!spec.expect) {
    return {
      ok: true,
      message: `${rows.length}×${colLabels.length} grid measured (no expected grid given)`,
      details: renderGrid(rows, colLabels, shown),
      data,
    };
  }
  const diff = diffGrid(rows, colLabels, spec.expect, actual);
  if (diff.length === 0) {
    return {
      ok: true,
      message: `all ${rows.length * colLabels.length} cells as expected`,
      details: renderGrid(rows, colLabels, shown),
      data,
    };
  }
  const details = [
    'measured (! marks a cell that differs from the expected grid):',
    ...renderDiff(rows, colLabels, actual, diff),
    'expected:',
    ...renderGrid(
      rows,
      colLabels,
      spec.expect.map((row) => row.map(cellGlyph)),
    ),
    ...diff.map(
      (m) =>
        `${m.rowLabel} → ${m.colLabel} (${cols[m.col]!.proto} ${cols[m.col]!.shown}): expected ${cellGlyph(m.expected)}, got ${cellGlyph(m.actual)}${why[m.row]![m.col] ? ` (${why[m.row]![m.col]})` : ''}`,
    ),
  ];
  return {
    ok: false,
    message: `${diff.length} of ${rows.length * colLabels.length} cells differ from the expected grid`,
    details,
    data,
  };
}
