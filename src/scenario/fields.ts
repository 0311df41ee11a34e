/**
 * Reading scenario YAML with positions: `SourceMap` maps a field path to its line:column (through
 * the `yaml` package's node ranges and a LineCounter), `ScenarioError` is the one error a bad file
 * produces (`quickstart.yaml:14:9: steps[2].request.count: must be a positive integer`), and
 * `fieldReader` implements the typed `FieldReader` every step parser uses.
 */
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
} from 'yaml';
import { PodnetError } from '../util/errors.ts';
import type { FieldPath, FieldReader } from './types.ts';

/** A mistake in a scenario file, located at file:line:col and a field path. */
export class ScenarioError extends PodnetError {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | undefined,
    readonly col: number | undefined,
    readonly fieldPath: string,
  ) {
    super('PN_ERR_SCENARIO', message, fieldPath);
    this.name = 'ScenarioError';
  }
}

/** `['steps', 2, 'request', 'count']` → `steps[2].request.count`. */
export function formatPath(path: FieldPath): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${p}` : p;
  }
  return s;
}

/** Finds line:column of fields of one parsed YAML document. */
export class SourceMap {
  constructor(
    readonly file: string,
    private readonly doc: Document | undefined,
    private readonly lc: LineCounter,
    /** Offset added to positions (for a document embedded in another file). */
    private readonly lineOffset = 0,
  ) {}

  /** Parses `text` (one YAML document) and returns its data and source map; YAML syntax errors throw. */
  static parse(text: string, file: string): { data: unknown; map: SourceMap } {
    const lc = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    const list = Array.isArray(docs) ? docs : [];
    for (const d of list) {
      if (d.errors.length > 0) {
        const e = d.errors[0];
        const pos = lc.linePos(e.pos[0]);
        throw new ScenarioError(
          `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`,
          file,
          pos.line,
          pos.col,
          '',
        );
      }
    }
    if (list.length > 1)
      throw new ScenarioError(
        `${file}: a scenario is one YAML document (found ${list.length}; put manifests under manifests:)`,
        file,
        undefined,
        undefined,
        '',
      );
    const doc = list[0];
    return { data: doc ? doc.toJS() : undefined, map: new SourceMap(file, doc, lc) };
  }

  /** Position of the deepest existing node along `path` (a key's value, else its parent). */
  locate(path: FieldPath): { line: number; col: number } | undefined {
    if (!this.doc) return undefined;
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      const range = (node as Node | undefined)?.range;
      if (node && (isScalar(node) || isMap(node) || isSeq(node)) && range) {
        // For a missing key we stop at its parent mapping; point at the parent's key instead when
        // we can (the mapping's own range starts at its first key, which reads less clearly).
        const pos = this.lc.linePos(range[0]);
        return { line: pos.line + this.lineOffset, col: pos.col };
      }
    }
    return undefined;
  }

  /** Position of the KEY of `path` (e.g. an unknown field's name), else of its value. */
  locateKey(path: FieldPath): { line: number; col: number } | undefined {
    if (!this.doc || path.length === 0) return this.locate(path);
    const parent = path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true);
    if (parent && isMap(parent)) {
      const last = path[path.length - 1];
      for (const item of parent.items) {
        if (isPair(item) && isScalar(item.key) && item.key.value === last && item.key.range) {
          const pos = this.lc.linePos(item.key.range[0]);
          return { line: pos.line + this.lineOffset, col: pos.col };
        }
      }
    }
    return this.locate(path);
  }

  /** Builds the error for `path`: `file:line:col: path: reason`. */
  error(path: FieldPath, reason: string, atKey = false): ScenarioError {
    const pos = atKey ? this.locateKey(path) : this.locate(path);
    const field = formatPath(path);
    const where = pos ? `${this.file}:${pos.line}:${pos.col}` : this.file;
    return new ScenarioError(
      `${where}: ${field ? `${field}: ` : ''}${reason}`,
      this.file,
      pos?.line,
      pos?.col,
      field,
    );
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Parses a duration (`500ms`, `10s`, `2m`, `1h`, or a number of seconds) into ms; undefined if malformed. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const m = DURATION.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * A FieldReader over `raw`, located at `path` of the file `map` describes. With `scalar`, `raw`
 * holds a scalar body under `scalar.key`, and errors about that key point at `path` itself.
 */
export function fieldReader(
  raw: Record<string, unknown>,
  path: FieldPath,
  map: SourceMap,
  scalar?: { key: string },
): FieldReader {
  const at = (key: string | number | FieldPath | undefined): FieldPath =>
    key === undefined || (scalar && key === scalar.key)
      ? path
      : Array.isArray(key)
        ? [...path, ...key]
        : [...path, key];
  const fail = (reason: string, key?: string | number | FieldPath): never => {
    throw map.error(at(key), reason);
  };
  const present = (key: string) => raw[key] !== undefined && raw[key] !== null;
  const need = (key: string, required?: boolean): boolean => {
    if (present(key)) return true;
    if (required) throw map.error(at(key), 'required');
    return false;
  };
  const reader: FieldReader = {
    path,
    raw,
    has: (key) => Object.hasOwn(raw, key),
    get: (key) => raw[key],
    string(key: string, opts?: { required?: boolean }): any {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      if (typeof v !== 'string') fail(`must be a string, got ${typeName(v)}`, key);
      if (opts?.required && (v as string).trim() === '') fail('must not be empty', key);
      return v;
    },
    int(key: string, opts?: { required?: boolean; min?: number; max?: number }): any {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      const min = opts?.min ?? Number.MIN_SAFE_INTEGER;
      const max = opts?.max ?? Number.MAX_SAFE_INTEGER;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        const want =
          min === 1 && max === Number.MAX_SAFE_INTEGER
            ? 'a positive integer'
            : min === 0 && max === Number.MAX_SAFE_INTEGER
              ? 'a non-negative integer'
              : max === Number.MAX_SAFE_INTEGER
                ? `an integer ≥ ${min}`
                : `an integer from ${min} to ${max}`;
        fail(`must be ${want}, got ${typeName(v)}`, key);
      }
      return v;
    },
    number(key, opts) {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      const min = opts?.min ?? -Infinity;
      const max = opts?.max ?? Infinity;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
        fail(
          `must be a number${Number.isFinite(min) ? ` ≥ ${min}` : ''}${Number.isFinite(max) ? ` ≤ ${max}` : ''}, got ${typeName(v)}`,
          key,
        );
      return v as number;
    },
    bool(key) {
      if (!present(key)) return undefined;
      const v = raw[key];
      if (typeof v !== 'boolean') fail(`must be true or false, got ${typeName(v)}`, key);
      return v as boolean;
    },
    oneOf(key: string, allowed: readonly string[], opts?: { required?: boolean }): any {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      if (typeof v !== 'string' || !allowed.includes(v))
        fail(`must be one of ${allowed.join(', ')}, got ${typeName(v)}`, key);
      return v;
    },
    duration(key, opts) {
      if (!need(key, opts?.required)) return undefined;
      const ms = parseDuration(raw[key]);
      if (ms === undefined)
        fail(`must be a duration like 500ms, 10s, 2m (or seconds), got ${typeName(raw[key])}`, key);
      return ms;
    },
    strings(key, opts) {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      const list = Array.isArray(v) ? v : [v];
      return list.map((x, i) => {
        if (typeof x === 'number' || typeof x === 'boolean') return String(x);
        if (typeof x !== 'string')
          fail(
            `must be a string or a list of strings, got ${typeName(x)}`,
            Array.isArray(v) ? [key, i] : key,
          );
        return x as string;
      });
    },
    stringMap(key, opts) {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        fail(`must be a mapping of strings, got ${typeName(v)}`, key);
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
        else if (typeof x === 'string') out[k] = x;
        else fail(`must be a string, got ${typeName(x)}`, [key, k]);
      }
      return out;
    },
    map(key: string, opts?: { required?: boolean }): any {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        fail(`must be a mapping, got ${typeName(v)}`, key);
      return fieldReader(v as Record<string, unknown>, at(key), map);
    },
    list(key, opts) {
      if (!need(key, opts?.required)) return undefined;
      const v = raw[key];
      if (!Array.isArray(v)) fail(`must be a list, got ${typeName(v)}`, key);
      return (v as unknown[]).map((x, i) => {
        if (typeof x !== 'object' || x === null || Array.isArray(x))
          fail(`must be a mapping, got ${typeName(x)}`, [key, i]);
        return fieldReader(x as Record<string, unknown>, at([key, i]), map);
      });
    },
    only(known) {
      for (const k of Object.keys(raw))
        if (!known.includes(k)) throw map.error(at(k), `unknown field (known: ${known.join(', ')})`, true);
    },
    fail,
    isScalar: scalar !== undefined,
    scalarAs(key) {
      if (!scalar) return reader;
      return fieldReader({ [key]: raw[scalar.key] }, path, map, { key });
    },
  };
  return reader;
}
