/**
 * Label and field selectors, as the API server parses `?labelSelector=` / `?fieldSelector=` and as
 * controllers evaluate `spec.selector`. The label grammar is upstream's (k8s.io/apimachinery
 * labels.Parse): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`,
 * comma = AND. Field selectors support `=`, `==`, `!=` over the per-kind fields Kubernetes
 * indexes (pods: spec.nodeName, status.phase, ...). Every syntax error is a 400 BadRequest Status.
 */

import type { ObjectFilter } from '../store/types.ts';
import { errors } from './errors.ts';
import { labelValueErrors, qualifiedNameErrors } from './names.ts';
import type { ResourceInfo } from './resources.ts';
import type { KubeObject } from './types.ts';

/** Operators of a parsed label requirement (upstream selection.Operator spellings). */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

/** One requirement of a label selector; a selector is their conjunction (AND). */
export interface LabelSelectorReq {
  key: string;
  operator: LabelOperator;
  /** One value for = == != gt lt; one or more for in/notin; none for exists and !. */
  values: string[];
}

/** metav1.LabelSelectorRequirement */
export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

/** metav1.LabelSelector */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

// ---------------------------------------------------------------------------------------------
// Label selector lexer and parser

type TokKind = 'id' | '(' | ')' | ',' | '!' | '=' | '==' | '!=' | 'in' | 'notin' | '>' | '<' | 'eos';
interface Tok {
  kind: TokKind;
  lit: string;
}

const SPECIAL = new Set(['!', '=', '>', '<', '(', ')', ',']);

function lex(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (SPECIAL.has(c)) {
      // Longest match among the operator spellings: `==`, `!=`, then single characters.
      const two = s.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        toks.push({ kind: two, lit: two });
        i += 2;
      } else {
        toks.push({ kind: c as TokKind, lit: c });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < s.length && !/\s/.test(s[j]!) && !SPECIAL.has(s[j]!)) j++;
    const lit = s.slice(i, j);
    toks.push({ kind: lit === 'in' ? 'in' : lit === 'notin' ? 'notin' : 'id', lit });
    i = j;
  }
  toks.push({ kind: 'eos', lit: '' });
  return toks;
}

function tokName(t: Tok): string {
  return t.kind === 'eos' ? 'end of string' : t.lit;
}

class SelectorSyntaxError extends Error {}

function keyCheck(key: string): void {
  const errs = qualifiedNameErrors(key);
  if (errs.length)
    throw new SelectorSyntaxError(
      `unable to parse requirement: key: Invalid value: ${JSON.stringify(key)}: ${errs.join('; ')}`,
    );
}

function valueCheck(i: number, v: string): void {
  const errs = labelValueErrors(v);
  if (errs.length)
    throw new SelectorSyntaxError(
      `unable to parse requirement: values[${i}]: Invalid value: ${JSON.stringify(v)}: ${errs.join('; ')}`,
    );
}

/** Checks one requirement the way upstream's NewRequirement does. */
function checkRequirement(r: LabelSelectorReq): void {
  keyCheck(r.key);
  switch (r.operator) {
    case 'in':
    case 'notin':
      if (r.values.length === 0)
        throw new SelectorSyntaxError(
          "unable to parse requirement: values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
        );
      break;
    case '=':
    case '==':
    case '!=':
      if (r.values.length !== 1)
        throw new SelectorSyntaxError(
          `unable to parse requirement: values: Invalid value: ${JSON.stringify(r.values)}: exact-match compatibility requires one single value`,
        );
      break;
    case 'exists':
    case '!':
      if (r.values.length !== 0)
        throw new SelectorSyntaxError(
          'unable to parse requirement: values: Invalid value: values set must be empty for exists and does not exist',
        );
      break;
    case 'gt':
    case 'lt':
      if (r.values.length !== 1 || !/^-?\d+$/.test(r.values[0]!))
        throw new SelectorSyntaxError(
          `unable to parse requirement: values[0]: Invalid value: ${JSON.stringify(r.values[0] ?? '')}: for 'Gt', 'Lt' operators, the value must be an integer`,
        );
      return;
  }
  for (const [i, v] of r.values.entries()) valueCheck(i, v);
}

/**
 * Parses a label selector string. Throws a 400 BadRequest naming the selector and the reason.
 * The empty string is the empty selector (matches everything). Requirements come back sorted by
 * key, as upstream keeps them.
 */
export function parseLabelSelector(s: string): LabelSelectorReq[] {
  try {
    return parseLabels(s);
  } catch (e) {
    if (e instanceof SelectorSyntaxError)
      throw errors.badRequest(`unable to parse label selector ${JSON.stringify(s)}: ${e.message}`);
    throw e;
  }
}

function parseLabels(s: string): LabelSelectorReq[] {
  const toks = lex(s);
  let pos = 0;
  const peek = () => toks[pos]!;
  const next = () => toks[pos++]!;
  const reqs: LabelSelectorReq[] = [];
  if (peek().kind === 'eos') return reqs;
  for (;;) {
    reqs.push(parseRequirement());
    const t = next();
    if (t.kind === 'eos') break;
    if (t.kind !== ',')
      throw new SelectorSyntaxError(`found '${tokName(t)}', expected: ',' or 'end of string'`);
    if (peek().kind === 'eos')
      throw new SelectorSyntaxError(`found 'end of string', expected: identifier or '!'`);
  }
  return reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  function parseRequirement(): LabelSelectorReq {
    let t = next();
    if (t.kind === '!') {
      const k = next();
      if (k.kind !== 'id') throw new SelectorSyntaxError(`found '${tokName(k)}', expected: identifier`);
      const after = peek();
      if (after.kind !== ',' && after.kind !== 'eos')
        throw new SelectorSyntaxError(`found '${tokName(after)}', expected: ',' or 'end of string'`);
      const r: LabelSelectorReq = { key: k.lit, operator: '!', values: [] };
      checkRequirement(r);
      return r;
    }
    if (t.kind !== 'id')
      throw new SelectorSyntaxError(`found '${tokName(t)}', expected: !, identifier, or 'end of string'`);
    const key = t.lit;
    const op = peek();
    if (op.kind === ',' || op.kind === 'eos') {
      const r: LabelSelectorReq = { key, operator: 'exists', values: [] };
      checkRequirement(r);
      return r;
    }
    next();
    let operator: LabelOperator;
    switch (op.kind) {
      case '=':
      case '==':
      case '!=':
      case 'in':
      case 'notin':
        operator = op.kind;
        break;
      case '>':
        operator = 'gt';
        break;
      case '<':
        operator = 'lt';
        break;
      default:
        throw new SelectorSyntaxError(`found '${tokName(op)}', expected: in, notin, =, ==, !=, gt, lt`);
    }
    let values: string[];
    if (operator === 'in' || operator === 'notin') {
      t = next();
      if (t.kind !== '(') throw new SelectorSyntaxError(`found '${tokName(t)}', expected: '('`);
      values = [];
      if (peek().kind === ')') {
        next();
      } else {
        for (;;) {
          const v = peek();
          if (v.kind === 'id' || v.kind === 'in' || v.kind === 'notin') {
            next();
            values.push(v.lit);
          } else if (v.kind === ',' || v.kind === ')') {
            values.push(''); // `(a,,b)` and `(a,)` carry an empty value, as upstream
          } else {
            throw new SelectorSyntaxError(`found '${tokName(v)}', expected: ',', ')' or identifier`);
          }
          const sep = next();
          if (sep.kind === ')') break;
          if (sep.kind !== ',')
            throw new SelectorSyntaxError(`found '${tokName(sep)}', expected: ',' or ')'`);
        }
      }
      values = [...new Set(values)].sort();
    } else {
      const v = peek();
      if (v.kind === ',' || v.kind === 'eos') values = [''];
      else if (v.kind === 'id' || v.kind === 'in' || v.kind === 'notin') {
        next();
        values = [v.lit];
      } else throw new SelectorSyntaxError(`found '${tokName(v)}', expected: identifier`);
    }
    const r: LabelSelectorReq = { key, operator, values };
    checkRequirement(r);
    return r;
  }
}

/**
 * Converts a metav1.LabelSelector (`matchLabels` + `matchExpressions`) to requirements.
 * Throws 400 BadRequest for an unknown operator or a values list that does not fit it.
 * `{}` gives no requirements (matches everything); callers treat a missing selector themselves.
 */
export function labelSelectorFromObject(sel: LabelSelector | null | undefined): LabelSelectorReq[] {
  const causes = validateLabelSelector(sel, 'selector');
  if (causes.length) throw errors.badRequest(causes.map((c) => `${c.field}: ${c.message}`).join(', '));
  const reqs: LabelSelectorReq[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {}))
    reqs.push({ key: k, operator: '=', values: [v] });
  for (const e of sel?.matchExpressions ?? []) {
    const op = EXPR_OPS[e.operator]!;
    reqs.push({
      key: e.key,
      operator: op,
      values: op === 'in' || op === 'notin' ? [...new Set(e.values)].sort() : [],
    });
  }
  return reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Requirements for a plain map selector (Service `spec.selector`): every pair must match. */
export function labelSelectorFromMap(m: Record<string, string> | null | undefined): LabelSelectorReq[] {
  return Object.entries(m ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => ({ key: k, operator: '=' as const, values: [v] }));
}

// A prototype-less map, so an operator spelled like an Object method is simply unknown.
const EXPR_OPS: Record<string, LabelOperator> = Object.assign(Object.create(null), {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
});

/**
 * Validation causes for a metav1.LabelSelector at field path `path` (used by object validation
 * and by labelSelectorFromObject).
 */
export function validateLabelSelector(
  sel: LabelSelector | null | undefined,
  path: string,
): Array<{ reason: string; field: string; message: string }> {
  const out: Array<{ reason: string; field: string; message: string }> = [];
  if (sel === undefined || sel === null) return out;
  if (typeof sel !== 'object' || Array.isArray(sel)) {
    out.push({
      reason: 'FieldValueInvalid',
      field: path,
      message: `Invalid value: ${JSON.stringify(sel)}: must be an object`,
    });
    return out;
  }
  if (
    sel.matchLabels !== undefined &&
    sel.matchLabels !== null &&
    (typeof sel.matchLabels !== 'object' || Array.isArray(sel.matchLabels))
  )
    out.push({
      reason: 'FieldValueInvalid',
      field: `${path}.matchLabels`,
      message: `Invalid value: ${JSON.stringify(sel.matchLabels)}: must be a map of string keys to string values`,
    });
  if (
    sel.matchExpressions !== undefined &&
    sel.matchExpressions !== null &&
    !Array.isArray(sel.matchExpressions)
  ) {
    out.push({
      reason: 'FieldValueInvalid',
      field: `${path}.matchExpressions`,
      message: `Invalid value: ${JSON.stringify(sel.matchExpressions)}: must be a list`,
    });
    return out;
  }
  if (out.length) return out;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    for (const m of qualifiedNameErrors(k))
      out.push({
        reason: 'FieldValueInvalid',
        field: `${path}.matchLabels`,
        message: `Invalid value: ${JSON.stringify(k)}: ${m}`,
      });
    for (const m of labelValueErrors(String(v)))
      out.push({
        reason: 'FieldValueInvalid',
        field: `${path}.matchLabels`,
        message: `Invalid value: ${JSON.stringify(v)}: ${m}`,
      });
  }
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (typeof e !== 'object' || e === null) {
      out.push({
        reason: 'FieldValueInvalid',
        field: p,
        message: `Invalid value: ${JSON.stringify(e)}: must be an object`,
      });
      return;
    }
    if (e.values !== undefined && e.values !== null && !Array.isArray(e.values)) {
      out.push({
        reason: 'FieldValueInvalid',
        field: `${p}.values`,
        message: `Invalid value: ${JSON.stringify(e.values)}: must be a list`,
      });
      return;
    }
    const op = EXPR_OPS[e?.operator];
    if (!op) {
      out.push({
        reason: 'FieldValueInvalid',
        field: `${p}.operator`,
        message: `Invalid value: ${JSON.stringify(e?.operator)}: not a valid selector operator`,
      });
      return;
    }
    const n = e.values?.length ?? 0;
    if ((op === 'in' || op === 'notin') && n === 0)
      out.push({
        reason: 'FieldValueRequired',
        field: `${p}.values`,
        message: "Required value: must be specified when `operator` is 'In' or 'NotIn'",
      });
    if ((op === 'exists' || op === '!') && n > 0)
      out.push({
        reason: 'FieldValueForbidden',
        field: `${p}.values`,
        message: "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
      });
    for (const m of qualifiedNameErrors(String(e.key ?? '')))
      out.push({
        reason: 'FieldValueInvalid',
        field: `${p}.key`,
        message: `Invalid value: ${JSON.stringify(e.key)}: ${m}`,
      });
    (e.values ?? []).forEach((v, j) => {
      for (const m of labelValueErrors(String(v)))
        out.push({
          reason: 'FieldValueInvalid',
          field: `${p}.values[${j}]`,
          message: `Invalid value: ${JSON.stringify(v)}: ${m}`,
        });
    });
  });
  return out;
}

/** Does a label set satisfy every requirement? (No requirements: always true.) */
export function matchesLabels(
  reqs: readonly LabelSelectorReq[],
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.hasOwn(l, r.key);
    const v = has ? l[r.key]! : undefined;
    switch (r.operator) {
      case '=':
      case '==':
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case '!=':
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const a = Number(v);
        const b = Number(r.values[0]);
        if (r.operator === 'gt' ? !(a > b) : !(a < b)) return false;
        break;
      }
    }
  }
  return true;
}

/** The canonical string form (what `kubectl` and upstream's `Selector.String()` print). */
export function selectorToString(reqs: readonly LabelSelectorReq[]): string {
  return reqs
    .map((r) => {
      switch (r.operator) {
        case 'in':
        case 'notin':
          return `${r.key} ${r.operator} (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
        default:
          return `${r.key}${r.operator}${r.values[0]}`;
      }
    })
    .join(',');
}

// ---------------------------------------------------------------------------------------------
// Field selectors

/** One term of a field selector. */
export interface FieldSelectorReq {
  field: string;
  operator: '=' | '==' | '!=';
  value: string;
}

/** Splits on `sep` not preceded by a backslash escape. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unescapeFieldValue(v: string, whole: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\') {
      const n = v[i + 1];
      if (n === '\\' || n === ',' || n === '=') {
        out += n;
        i++;
        continue;
      }
      throw errors.badRequest(`invalid field selector: '${whole}'; invalid escape sequence in value '${v}'`);
    }
    if (c === ',' || c === '=')
      throw errors.badRequest(`invalid field selector: '${whole}'; unescaped '${c}' in value '${v}'`);
    out += c;
  }
  return out;
}

/**
 * Parses a field selector (`a=b,c!=d`). Values may escape `\,`, `\=`, `\\`. Throws a 400
 * BadRequest for a term without an operator. The empty string gives no terms.
 */
export function parseFieldSelector(s: string): FieldSelectorReq[] {
  const out: FieldSelectorReq[] = [];
  if (s.trim() === '') return out;
  for (const term of splitUnescaped(s, ',')) {
    let found: FieldSelectorReq | undefined;
    for (let i = 0; i < term.length && !found; i++) {
      for (const op of ['!=', '==', '='] as const) {
        if (term.startsWith(op, i)) {
          found = {
            field: term.slice(0, i).trim(),
            operator: op,
            value: unescapeFieldValue(term.slice(i + op.length), s),
          };
          break;
        }
      }
    }
    if (!found || found.field === '')
      throw errors.badRequest(`invalid field selector: '${s}'; can't understand '${term}'`);
    out.push(found);
  }
  return out;
}

type FieldGetter = (o: KubeObject) => string;
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const bool = (v: unknown): string => (v ? 'true' : 'false');

const COMMON_FIELDS: Record<string, FieldGetter> = {
  'metadata.name': (o) => str(o.metadata?.name),
  'metadata.namespace': (o) => str(o.metadata?.namespace),
};

/** The field selectors each kind supports beyond metadata.name/namespace (upstream's field sets). */
const KIND_FIELDS: Record<string, Record<string, FieldGetter>> = {
  Pod: {
    'spec.nodeName': (o) => str(o.spec?.nodeName),
    'spec.restartPolicy': (o) => str(o.spec?.restartPolicy),
    'spec.schedulerName': (o) => str(o.spec?.schedulerName),
    'spec.serviceAccountName': (o) => str(o.spec?.serviceAccountName),
    'spec.hostNetwork': (o) => bool(o.spec?.hostNetwork),
    'status.phase': (o) => str(o.status?.phase),
    'status.podIP': (o) => str(o.status?.podIP),
    'status.nominatedNodeName': (o) => str(o.status?.nominatedNodeName),
  },
  Event: {
    'involvedObject.kind': (o: any) => str(o.involvedObject?.kind),
    'involvedObject.namespace': (o: any) => str(o.involvedObject?.namespace),
    'involvedObject.name': (o: any) => str(o.involvedObject?.name),
    'involvedObject.uid': (o: any) => str(o.involvedObject?.uid),
    'involvedObject.apiVersion': (o: any) => str(o.involvedObject?.apiVersion),
    'involvedObject.resourceVersion': (o: any) => str(o.involvedObject?.resourceVersion),
    'involvedObject.fieldPath': (o: any) => str(o.involvedObject?.fieldPath),
    reason: (o: any) => str(o.reason),
    reportingComponent: (o: any) => str(o.reportingComponent),
    source: (o: any) => str(o.source?.component),
    type: (o: any) => str(o.type),
  },
  Secret: { type: (o: any) => str(o.type) },
  Node: { 'spec.unschedulable': (o) => bool(o.spec?.unschedulable) },
  Namespace: { 'status.phase': (o) => str(o.status?.phase) },
  ReplicaSet: { 'status.replicas': (o) => str(o.status?.replicas ?? 0) },
};

/** The field selector names a resource supports. */
export function supportedFields(res: ResourceInfo): string[] {
  return [...Object.keys(COMMON_FIELDS), ...Object.keys(KIND_FIELDS[res.kind] ?? {})];
}

/**
 * Compiles a field selector for `res` into a predicate. Throws 400 BadRequest for bad syntax or a
 * field the kind does not index.
 */
export function compileFieldSelector(res: ResourceInfo, s: string): (obj: KubeObject) => boolean {
  const terms = parseFieldSelector(s);
  const fields: Record<string, FieldGetter> = Object.assign(
    Object.create(null),
    COMMON_FIELDS,
    KIND_FIELDS[res.kind] ?? {},
  );
  const checks = terms.map((t) => {
    const get = fields[t.field];
    if (!get)
      throw errors.badRequest(
        `"${t.field}" is not a known field selector: only ${supportedFields(res)
          .map((f) => `"${f}"`)
          .join(', ')}`,
      );
    return t.operator === '!='
      ? (o: KubeObject) => get(o) !== t.value
      : (o: KubeObject) => get(o) === t.value;
  });
  return (obj) => checks.every((c) => c(obj));
}

/**
 * The store filter for a list/watch request, or undefined when neither selector restricts
 * anything. Throws 400 BadRequest for a malformed selector.
 */
export function compileListFilter(
  res: ResourceInfo,
  opts: { labelSelector?: string; fieldSelector?: string },
): ObjectFilter | undefined {
  const labels = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : [];
  const fieldsPred = opts.fieldSelector?.trim() ? compileFieldSelector(res, opts.fieldSelector) : undefined;
  if (labels.length === 0 && !fieldsPred) return undefined;
  return (obj) =>
    (labels.length === 0 || matchesLabels(labels, obj.metadata?.labels)) && (!fieldsPred || fieldsPred(obj));
}
