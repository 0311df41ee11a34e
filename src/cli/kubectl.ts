/**
 * The pure parts of podnet's kubectl-like commands (`get`, `describe`, `apply`, `delete`,
 * `rollout undo`): parsing what the user typed into resources and names, reading manifests,
 * deciding whether an apply changes anything, and laying out `get` tables and `describe` text.
 * No I/O here, so all of it is unit-tested (kubectl.test.ts); the commands add the API calls.
 */
import { parseAllDocuments, stringify } from 'yaml';
import { type ResourceInfo, resolveResourceName, resourceForKind } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { age, printTable, renderTable, type Table } from '../apiserver/tables.ts';
import { PodnetError } from '../util/errors.ts';

/** A resource and the names the user asked for (empty = all). */
export interface Target {
  res: ResourceInfo;
  names: string[];
}

/** Resolves a resource word (`po`, `deploy`, `services`…) or fails with a one-line usage error. */
export function resolveResource(word: string): ResourceInfo {
  const res = resolveResourceName(word);
  if (!res)
    throw new PodnetError('PN_ERR_USAGE', `the server doesn't have a resource type "${word}"`, 'TYPE');
  return res;
}

/**
 * Parses `TYPE`, `TYPE NAME…`, `TYPE/NAME` or `TYPE/NAME TYPE/NAME` (all of the same type) as kubectl
 * does. Mixing `TYPE/NAME` with bare names is an error.
 */
export function parseTarget(args: string[]): Target {
  if (args.length === 0)
    throw new PodnetError('PN_ERR_USAGE', 'you must specify the type of resource (e.g. pods)', 'TYPE');
  const first = args[0]!;
  if (first.includes('/')) {
    let res: ResourceInfo | undefined;
    const names: string[] = [];
    for (const a of args) {
      const i = a.indexOf('/');
      if (i <= 0 || i === a.length - 1)
        throw new PodnetError('PN_ERR_USAGE', `"${a}": there is no need to mix TYPE/NAME with NAME`, 'NAME');
      const r = resolveResource(a.slice(0, i));
      if (res && r !== res)
        throw new PodnetError(
          'PN_ERR_USAGE',
          `"${a}": all arguments must name the same resource type`,
          'TYPE',
        );
      res = r;
      names.push(a.slice(i + 1));
    }
    return { res: res!, names };
  }
  const res = resolveResource(first);
  for (const n of args.slice(1))
    if (n.includes('/'))
      throw new PodnetError('PN_ERR_USAGE', `"${n}": there is no need to mix TYPE/NAME with NAME`, 'NAME');
  return { res, names: args.slice(1) };
}

/** kubectl's reference to a resource in messages: `pod`, `deployment.apps`. */
export function resourceRef(res: ResourceInfo): string {
  return res.group ? `${res.singular}.${res.group}` : res.singular;
}

/** Parses a positive integer flag (`--tail`, `--to-revision`); `undefined` stays undefined. */
export function intFlag(flag: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new PodnetError('PN_ERR_USAGE', `--${flag} "${v}" must be an integer >= ${min}`, flag);
  return n;
}

/** Output formats of `podnet get`. */
export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name';

/** Checks `-o`. */
export function outputFormat(v: string | undefined): OutputFormat {
  if (v === undefined || v === '') return 'table';
  if (v === 'wide' || v === 'yaml' || v === 'json' || v === 'name') return v;
  throw new PodnetError('PN_ERR_USAGE', `-o "${v}" is not supported: use wide, yaml, json or name`, 'output');
}

/** Drops server bookkeeping nobody wants to read (managedFields), as kubectl does by default. */
export function forDisplay(obj: KubeObject): KubeObject {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _m, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/** The objects as `-o json|yaml` prints them: one object alone, several as a `v1/List`. */
export function formatObjects(objs: KubeObject[], format: 'yaml' | 'json', single: boolean): string {
  const shown = objs.map(forDisplay);
  const doc =
    single && shown.length === 1 ? shown[0] : { apiVersion: 'v1', kind: 'List', items: shown, metadata: {} };
  return format === 'json' ? `${JSON.stringify(doc, null, 4)}\n` : stringify(doc);
}

/**
 * The text of `podnet get` for a table format: kubectl's columns (from the same printers the API
 * server uses for `as=Table`), with a leading NAMESPACE column when listing all namespaces.
 */
export function formatTable(
  res: ResourceInfo,
  objs: KubeObject[],
  opts: { wide?: boolean; allNamespaces?: boolean; noHeaders?: boolean; now?: Date } = {},
): string {
  let table: Pick<Table, 'columnDefinitions' | 'rows'> = renderTable(res, objs, {
    includeObject: 'None',
    now: opts.now,
  });
  if (opts.allNamespaces && res.namespaced) {
    table = {
      columnDefinitions: [
        {
          name: 'Namespace',
          type: 'string',
          format: '',
          description: 'The namespace of the object.',
          priority: 0,
        },
        ...table.columnDefinitions,
      ],
      rows: table.rows.map((r, i) => ({ ...r, cells: [objs[i]!.metadata.namespace ?? '', ...r.cells] })),
    };
  }
  return printTable(table, { wide: opts.wide, noHeaders: opts.noHeaders });
}

/** One manifest from a file, with where it came from (for error messages). */
export interface Manifest {
  obj: KubeObject;
  res: ResourceInfo;
  source: string;
}

/**
 * Reads a multi-document YAML (or JSON) text into objects; `List` kinds are flattened and empty
 * documents skipped. Every object must have apiVersion, kind, metadata.name and a served kind.
 */
export function parseManifests(text: string, source: string): Manifest[] {
  const out: Manifest[] = [];
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const where = `${source} (document ${i + 1})`;
    if (doc.errors.length)
      throw new PodnetError('PN_ERR_CONFIG', `${where}: ${doc.errors[0]!.message.split('\n')[0]}`);
    const v = doc.toJS();
    if (v === null || v === undefined) return;
    const items =
      typeof v === 'object' && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)
        ? v.items
        : [v];
    for (const obj of items) out.push(checkManifest(obj, where));
  });
  return out;
}

function checkManifest(obj: any, where: string): Manifest {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    throw new PodnetError('PN_ERR_CONFIG', `${where}: expected an object with apiVersion and kind`);
  for (const f of ['apiVersion', 'kind'])
    if (typeof obj[f] !== 'string' || !obj[f])
      throw new PodnetError('PN_ERR_CONFIG', `${where}: ${f} is required`, f);
  if (typeof obj.metadata?.name !== 'string' || !obj.metadata.name)
    throw new PodnetError('PN_ERR_CONFIG', `${where}: metadata.name is required`, 'metadata.name');
  const res = resourceForKind(obj.apiVersion, obj.kind);
  if (!res)
    throw new PodnetError(
      'PN_ERR_CONFIG',
      `${where}: no resource for kind "${obj.kind}" in apiVersion "${obj.apiVersion}"`,
      'kind',
    );
  return { obj: obj as KubeObject, res, source: where };
}

/** RFC 7386 JSON merge patch applied to a copy of `target`. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => k in b && jsonEqual(a[k], b[k]));
}

/** The annotation where `podnet apply` (like `kubectl apply`) keeps the configuration it applied. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The configuration `podnet apply` records for a manifest: the manifest without the fields the
 * server owns (status, resourceVersion, uid, creationTimestamp…) and without the record itself.
 */
export function appliedConfig(obj: KubeObject): Record<string, unknown> {
  const { status: _s, ...rest } = obj as KubeObject & Record<string, unknown>;
  const {
    resourceVersion: _rv,
    uid: _u,
    creationTimestamp: _c,
    generation: _g,
    managedFields: _m,
    ...metadata
  } = obj.metadata;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _l, ...annotations } = metadata.annotations;
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
  }
  return { ...rest, metadata };
}

/** `config` with its last-applied record in metadata.annotations (what apply creates/patches). */
export function withLastApplied(config: Record<string, unknown>): KubeObject {
  const meta = (config.metadata ?? {}) as KubeObject['metadata'];
  return {
    ...config,
    metadata: {
      ...meta,
      annotations: { ...(meta.annotations ?? {}), [LAST_APPLIED]: JSON.stringify(config) },
    },
  } as unknown as KubeObject;
}

/**
 * True when every field `desired` sets is in `live` with the same value; extra fields in `live`
 * (server defaults such as a port's protocol) do not count. Lists must match element by element.
 */
export function coveredBy(desired: unknown, live: unknown): boolean {
  if (Array.isArray(desired))
    return (
      Array.isArray(live) && live.length === desired.length && desired.every((d, i) => coveredBy(d, live[i]))
    );
  if (isPlainObject(desired))
    return isPlainObject(live) && Object.entries(desired).every(([k, v]) => coveredBy(v, live[k]));
  return desired === live;
}

/**
 * A merge patch that sets every field of `next` and removes (null) the fields an earlier apply set
 * (`last`) that `next` no longer has: the client-side apply three-way rule, minus list merging.
 */
export function threeWayPatch(last: unknown, next: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...next };
  if (isPlainObject(last))
    for (const [k, v] of Object.entries(last)) {
      if (!(k in next)) out[k] = null;
      else if (isPlainObject(v) && isPlainObject(next[k]))
        out[k] = threeWayPatch(v, next[k] as Record<string, unknown>);
    }
  return out;
}

/** What `podnet apply` does with one manifest given the live object (if any). */
export type ApplyPlan =
  | { action: 'create'; body: KubeObject }
  | { action: 'unchanged' }
  | { action: 'patch'; patch: Record<string, unknown> };

/**
 * Decides create / unchanged / merge patch: unchanged when the recorded last-applied configuration
 * equals this one and the live object still has every field it sets.
 */
export function planApply(obj: KubeObject, live: KubeObject | undefined): ApplyPlan {
  const config = appliedConfig(obj);
  if (!live) return { action: 'create', body: withLastApplied(config) };
  const raw = live.metadata.annotations?.[LAST_APPLIED];
  let last: unknown;
  try {
    last = raw ? JSON.parse(raw) : undefined;
  } catch {
    last = undefined;
  }
  if (last !== undefined && jsonEqual(last, config) && coveredBy(config, live))
    return { action: 'unchanged' };
  return { action: 'patch', patch: threeWayPatch(last, withLastApplied(config) as never) };
}

// ---------------------------------------------------------------------------------------------
// describe

function kv(m: Record<string, string> | undefined, sep = '='): string[] {
  const e = Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return e.length ? e.map(([k, v]) => `${k}${sep}${v}`) : ['<none>'];
}

/** Aligned `Key:  value` lines; multi-valued keys continue on indented lines. */
function section(rows: Array<[string, string | string[] | undefined | null]>, indent = ''): string[] {
  const w = Math.max(18, ...rows.map(([k]) => k.length + 2));
  const lines: string[] = [];
  for (const [k, v] of rows) {
    if (v === null) continue;
    const vals = Array.isArray(v) ? v : [v ?? '<none>'];
    vals.forEach((val, i) => {
      lines.push(`${indent}${(i === 0 ? `${k}:` : '').padEnd(w)}${val}`);
    });
  }
  return lines;
}

function grid(header: string[], rows: string[][], indent = '  '): string[] {
  const all = [header, header.map((h) => '-'.repeat(h.length)), ...rows];
  const widths = header.map((_, j) => Math.max(...all.map((r) => (r[j] ?? '').length)));
  return all.map(
    (r) =>
      indent +
      r
        .map((c, j) => (j === r.length - 1 ? c : (c ?? '').padEnd(widths[j]! + 2)))
        .join('')
        .trimEnd(),
  );
}

function containersOf(spec: any, status: any): string[] {
  const lines: string[] = [];
  const statuses: any[] = status?.containerStatuses ?? [];
  for (const c of spec?.containers ?? []) {
    lines.push(`  ${c.name}:`);
    const st = statuses.find((s) => s.name === c.name);
    const state = st?.state ? Object.keys(st.state)[0] : undefined;
    const ports = (c.ports ?? []).map((p: any) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(', ');
    lines.push(
      ...section(
        [
          ['Image', c.image ?? '<none>'],
          ['Command', c.command?.length ? c.command.join(' ') : null],
          ['Args', c.args?.length ? c.args.join(' ') : null],
          ['Port', ports || '<none>'],
          ...(st
            ? ([
                ['State', state ? state[0]!.toUpperCase() + state.slice(1) : '<unknown>'],
                ['Ready', String(!!st.ready)],
                ['Restart Count', String(st.restartCount ?? 0)],
              ] as Array<[string, string]>)
            : []),
        ],
        '    ',
      ),
    );
  }
  return lines;
}

function kindDetails(obj: any): string[] {
  const spec = obj.spec ?? {};
  const status = obj.status ?? {};
  switch (obj.kind) {
    case 'Pod':
      return [
        ...section([
          ['Node', spec.nodeName ? `${spec.nodeName}${status.hostIP ? `/${status.hostIP}` : ''}` : '<none>'],
          ['Status', obj.metadata.deletionTimestamp ? 'Terminating' : (status.phase ?? 'Pending')],
          ['IP', status.podIP ?? '<none>'],
          [
            'IPs',
            (status.podIPs ?? []).map((p: any) => p.ip).length
              ? status.podIPs.map((p: any) => p.ip)
              : '<none>',
          ],
          ['Controlled By', controllerRef(obj)],
        ]),
        'Containers:',
        ...containersOf(spec, status),
      ];
    case 'Deployment':
    case 'ReplicaSet':
      return [
        ...section([
          ['Selector', spec.selector?.matchLabels ? kv(spec.selector.matchLabels).join(',') : '<none>'],
          [
            'Replicas',
            obj.kind === 'Deployment'
              ? `${spec.replicas ?? 1} desired | ${status.updatedReplicas ?? 0} updated | ${status.replicas ?? 0} total | ${status.availableReplicas ?? 0} available | ${status.unavailableReplicas ?? 0} unavailable`
              : `${status.replicas ?? 0} current / ${spec.replicas ?? 1} desired`,
          ],
          ...(obj.kind === 'Deployment'
            ? ([['StrategyType', spec.strategy?.type ?? 'RollingUpdate']] as Array<[string, string]>)
            : ([['Controlled By', controllerRef(obj)]] as Array<[string, string]>)),
        ]),
        'Pod Template:',
        ...section([['  Labels', kv(spec.template?.metadata?.labels)]]),
        '  Containers:',
        ...containersOf(spec.template?.spec, undefined).map((l) => `  ${l}`),
      ];
    case 'Service':
      return section([
        ['Selector', kv(spec.selector).join(',')],
        ['Type', spec.type ?? 'ClusterIP'],
        ['IP', spec.clusterIP ?? '<none>'],
        [
          'LoadBalancer Ingress',
          (status.loadBalancer?.ingress ?? []).map((i: any) => i.ip ?? i.hostname).join(', ') || null,
        ],
        [
          'Ports',
          (spec.ports ?? []).length
            ? spec.ports.map(
                (p: any) =>
                  `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol ?? 'TCP'} -> ${p.targetPort ?? p.port}${p.nodePort ? ` (NodePort ${p.nodePort})` : ''}`,
              )
            : '<none>',
        ],
        ['Session Affinity', spec.sessionAffinity ?? 'None'],
      ]);
    default: {
      const lines: string[] = [];
      if (obj.spec !== undefined) lines.push('Spec:', ...indentYaml(obj.spec));
      const { conditions: _c, ...restStatus } = status;
      if (Object.keys(restStatus).length) lines.push('Status:', ...indentYaml(restStatus));
      if (obj.kind !== 'Pod' && obj.spec === undefined && obj.status === undefined) {
        // Spec-less kinds (ConfigMap, EndpointSlice, Event…): show their other top-level fields.
        const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = obj;
        if (Object.keys(rest).length) lines.push(...stringify(rest).trimEnd().split('\n'));
      }
      return lines;
    }
  }
}

function indentYaml(v: unknown): string[] {
  return stringify(v)
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`);
}

function controllerRef(obj: KubeObject): string {
  const o = obj.metadata.ownerReferences?.find((r) => r.controller);
  return o ? `${o.kind}/${o.name}` : '<none>';
}

/** True when an Event is about `obj` (by uid, else by kind + name). */
export function eventIsFor(ev: any, obj: KubeObject): boolean {
  const io = ev.involvedObject ?? ev.regarding ?? {};
  if (io.uid && obj.metadata.uid) return io.uid === obj.metadata.uid;
  return (
    io.kind === obj.kind &&
    io.name === obj.metadata.name &&
    (io.namespace ?? '') === (obj.metadata.namespace ?? '')
  );
}

/**
 * `podnet describe` text: metadata, the kind's essentials (pods: node, IPs, containers;
 * deployments: replicas, template; services: type, IPs, ports; others: spec and status as YAML),
 * conditions and the object's events, oldest first.
 */
export function describeObject(obj: KubeObject, events: any[], now = new Date()): string {
  const m = obj.metadata;
  const lines = section([
    ['Name', m.name],
    ...(m.namespace ? ([['Namespace', m.namespace]] as Array<[string, string]>) : []),
    ['Kind', `${obj.kind} (${obj.apiVersion})`],
    ['Labels', kv(m.labels)],
    ['Annotations', kv(m.annotations, ': ')],
    ['CreationTimestamp', m.creationTimestamp],
  ]);
  lines.push(...kindDetails(obj));
  const conds: any[] = obj.status?.conditions ?? [];
  if (conds.length) {
    lines.push('Conditions:');
    lines.push(
      ...grid(
        ['Type', 'Status', 'Reason', 'Message'],
        conds.map((c) => [c.type ?? '', c.status ?? '', c.reason ?? '', c.message ?? '']),
      ),
    );
  }
  const evs = events.filter((e) => eventIsFor(e, obj)).sort((a, b) => stamp(a).localeCompare(stamp(b)));
  if (evs.length === 0) lines.push('Events:  <none>');
  else {
    lines.push('Events:');
    lines.push(
      ...grid(
        ['Type', 'Reason', 'Age', 'From', 'Message'],
        evs.map((e) => [
          e.type ?? '',
          e.reason ?? '',
          age(stamp(e) || undefined, now),
          e.source?.component ?? e.reportingComponent ?? '',
          e.message ?? e.note ?? '',
        ]),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

function stamp(e: any): string {
  return e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? '';
}
