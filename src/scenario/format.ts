/**
 * The scenario file format: `parseScenario(text, file)` checks a whole file — top-level fields,
 * the `cluster:` section (through the cluster file's own resolver, so fields and defaults are the
 * same as `podnet up -f`), `manifests:` and every step (through its kind's parser) — before
 * anything runs, and returns plain data. Every error names file:line:col and the field path.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import { parseManifests } from '../cli/kubectl.ts';
import { type ClusterSpec, type ClusterSpecInput, resolveClusterSpec } from '../cluster/spec.ts';
import { PodnetError } from '../util/errors.ts';
import { fieldReader, formatPath, ScenarioError, SourceMap } from './fields.ts';
import { STEP_KINDS, stepKind } from './steps/index.ts';
import { setManifestParser } from './steps/objects.ts';
import type { FieldPath, FieldReader, ParsedStep } from './types.ts';

/** One Kubernetes object to create, with where it came from. */
export interface ScenarioManifest {
  obj: KubeObject;
  res: ResourceInfo;
  /** `quickstart.yaml:12 manifests[0] (document 2)`. */
  source: string;
}

/** A parsed, validated scenario. */
export interface Scenario {
  name: string;
  description: string;
  file: string;
  /** Directory of the file: `file:` paths resolve against it. */
  baseDir: string;
  /** The cluster, every default filled (its `name` is a placeholder the runner may replace). */
  cluster: ClusterSpec;
  /** True when the file named the cluster (`cluster.name`). */
  clusterNamed: boolean;
  /** Namespace for references that name none. */
  namespace: string;
  /** Deadline of the whole scenario (ms). */
  timeoutMs: number;
  manifests: ScenarioManifest[];
  steps: ParsedStep[];
}

/** Top-level fields of a scenario file. */
export const TOP_FIELDS = ['name', 'description', 'cluster', 'namespace', 'timeout', 'manifests', 'steps'];
/** Fields every step may carry next to its kind key. */
export const COMMON_STEP_FIELDS = ['name', 'eventually', 'interval', 'expectFailure'];
/** Default deadline of a scenario. */
export const DEFAULT_TIMEOUT_MS = 300_000;

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parses manifests given inline (a YAML string, one or more documents), as a mapping (one object)
 * or by file, reporting errors at `path`.
 */
export function parseManifestEntry(
  v: unknown,
  path: FieldPath,
  map: SourceMap,
  baseDir: string,
): ScenarioManifest[] {
  const pos = map.locate(path);
  const at = `${map.file}${pos ? `:${pos.line}` : ''} ${formatPath(path)}`;
  const wrap = (fn: () => ReturnType<typeof parseManifests>, src: string): ScenarioManifest[] => {
    try {
      return fn().map((m, i) => ({ obj: m.obj, res: m.res, source: `${src}${i > 0 ? ` #${i + 1}` : ''}` }));
    } catch (e) {
      if (e instanceof ScenarioError) throw e;
      // parseManifests names "<source> (document N)"; keep its reason, add our position.
      const msg = (e as Error).message;
      throw map.error(path, msg.startsWith(src) ? msg.slice(src.length).replace(/^:?\s*/, '') : msg);
    }
  };
  if (typeof v === 'string') return wrap(() => parseManifests(v, at), at);
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const r = v as Record<string, unknown>;
    if ('file' in r) {
      const extra = Object.keys(r).filter((k) => k !== 'file');
      if (extra.length)
        throw map.error([...path, extra[0]], 'unknown field (a file entry has only file:)', true);
      if (typeof r.file !== 'string' || !r.file) throw map.error([...path, 'file'], 'must be a file path');
      const p = isAbsolute(r.file) ? r.file : resolve(baseDir, r.file);
      let text: string;
      try {
        text = readFileSync(p, 'utf8');
      } catch (e) {
        throw map.error(
          [...path, 'file'],
          `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      return wrap(() => parseManifests(text, r.file as string), r.file);
    }
    // A Kubernetes object written as YAML right here.
    return wrap(() => parseManifests(JSON.stringify(r), at), at);
  }
  throw map.error(path, 'must be inline YAML text, a Kubernetes object, or {file: PATH}');
}

function parseStep(raw: unknown, index: number, map: SourceMap): ParsedStep {
  const path: FieldPath = ['steps', index];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw map.error(
      path,
      `must be a mapping with one step kind (${STEP_KINDS.map((k) => k.kind).join(', ')})`,
    );
  const r = raw as Record<string, unknown>;
  const kinds = Object.keys(r).filter((k) => !COMMON_STEP_FIELDS.includes(k));
  if (kinds.length === 0)
    throw map.error(path, `names no step kind: add one of ${STEP_KINDS.map((k) => k.kind).join(', ')}`);
  if (kinds.length > 1) {
    const known = kinds.filter((k) => stepKind(k));
    const bad = kinds.find((k) => !stepKind(k)) ?? kinds[1];
    throw map.error(
      [...path, bad],
      known.length > 1
        ? `one step has one kind (found ${known.join(' and ')}): split it into two steps`
        : `unknown field (a step has one kind: ${STEP_KINDS.map((k) => k.kind).join(', ')}, and ${COMMON_STEP_FIELDS.join(', ')})`,
      true,
    );
  }
  const kind = kinds[0];
  const def = stepKind(kind);
  if (!def)
    throw map.error(
      [...path, kind],
      `unknown step kind (known: ${STEP_KINDS.map((k) => k.kind).join(', ')})`,
      true,
    );
  const common = fieldReader(r, path, map);
  const name = common.string('name');
  const eventuallyMs = common.duration('eventually') ?? 0;
  const intervalMs = common.duration('interval') ?? 500;
  if (intervalMs <= 0) common.fail('must be more than 0', 'interval');
  const expectFailure = common.bool('expectFailure') ?? false;
  const bodyRaw = r[kind];
  const bodyPath: FieldPath = [...path, kind];
  const body: FieldReader =
    bodyRaw && typeof bodyRaw === 'object' && !Array.isArray(bodyRaw)
      ? fieldReader(bodyRaw as Record<string, unknown>, bodyPath, map)
      : fieldReader({ value: bodyRaw }, bodyPath, map, { key: 'value' });
  const spec = def.parse(body);
  const pos = map.locate(path);
  return {
    index,
    kind,
    name: name ?? def.describe(spec),
    spec,
    eventuallyMs,
    intervalMs,
    expectFailure,
    line: pos?.line ?? 0,
  };
}

/** Parses and checks a scenario file's text. Throws ScenarioError (file:line:col: field: reason). */
export function parseScenario(text: string, file: string, baseDir = dirname(resolve(file))): Scenario {
  const { data, map } = SourceMap.parse(text, file);
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw map.error([], 'a scenario is a mapping with name, cluster, manifests and steps');
  const top = fieldReader(data as Record<string, unknown>, [], map);
  top.only(TOP_FIELDS);
  const name = top.string('name', { required: true });
  if (!NAME_RE.test(name) || name.length > 63)
    top.fail('must be lower-case letters, digits and "-" (like my-scenario)', 'name');
  const description = top.string('description') ?? '';
  const namespace = top.string('namespace') ?? 'default';
  if (!NAME_RE.test(namespace))
    top.fail('must be a namespace name (lower-case letters, digits, "-")', 'namespace');
  const timeoutMs = top.duration('timeout') ?? DEFAULT_TIMEOUT_MS;
  if (timeoutMs <= 0) top.fail('must be more than 0', 'timeout');

  // The cluster section goes through the cluster file's resolver; we only translate its errors
  // (`nodes[1].capacity.pods: must be …`) into our file:line:col form.
  const clusterRaw = (data as Record<string, unknown>).cluster ?? {};
  if (typeof clusterRaw !== 'object' || Array.isArray(clusterRaw) || clusterRaw === null)
    top.fail('must be a mapping of cluster fields (nodes, proxyMode, overlay, …)', 'cluster');
  const clusterNamed = typeof (clusterRaw as ClusterSpecInput).name === 'string';
  let lastPath: FieldPath = [];
  let cluster: ClusterSpec;
  try {
    cluster = resolveClusterSpec({ name: 'scenario', ...(clusterRaw as ClusterSpecInput) }, (p) => {
      lastPath = p;
      return '';
    });
  } catch (e) {
    if (!(e instanceof PodnetError)) throw e;
    const reason = e.message.replace(/^[^:]*:\s*/, '');
    throw map.error(['cluster', ...lastPath], reason, /unknown field/.test(reason));
  }

  const baseDir2 = baseDir;
  const manifests: ScenarioManifest[] = [];
  const mRaw = (data as Record<string, unknown>).manifests;
  if (mRaw !== undefined && mRaw !== null) {
    if (!Array.isArray(mRaw)) top.fail('must be a list of inline YAML, objects or {file: PATH}', 'manifests');
    for (const [i, m] of (mRaw as unknown[]).entries())
      manifests.push(...parseManifestEntry(m, ['manifests', i], map, baseDir2));
  }
  const sRaw = (data as Record<string, unknown>).steps;
  if (!Array.isArray(sRaw) || sRaw.length === 0)
    top.fail(
      sRaw === undefined || sRaw === null ? 'required: a list of steps' : 'must be a non-empty list of steps',
      'steps',
    );
  setManifestParser((raw, path) => parseManifestEntry(raw, path, map, baseDir2));
  let steps: ParsedStep[];
  try {
    steps = (sRaw as unknown[]).map((s, i) => parseStep(s, i, map));
  } finally {
    setManifestParser(undefined);
  }
  return {
    name,
    description,
    file,
    baseDir: baseDir2,
    cluster,
    clusterNamed,
    namespace,
    timeoutMs,
    manifests,
    steps,
  };
}

/** Reads and parses a scenario file. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PodnetError(
      'PN_ERR_NOT_FOUND',
      `${path}: cannot read the scenario (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return parseScenario(text, path, dirname(resolve(path)));
}
