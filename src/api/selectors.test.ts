// Selector tests: pure parsing/matching, no addresses involved.
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { findResource } from './resources.ts';
import {
  compileFieldSelector,
  compileListFilter,
  labelSelectorFromObject,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  selectorToString,
} from './selectors.ts';
import type { KubeObject } from './types.ts';

const pods = findResource('', 'v1', 'pods')!;
const services = findResource('', 'v1', 'services')!;
const events = findResource('', 'v1', 'events')!;

function badRequest(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).code).toBe(400);
    return e as ApiError;
  }
  throw new Error('expected a BadRequest');
}

describe('parseLabelSelector', () => {
  it('parses every operator and sorts by key', () => {
    const r = parseLabelSelector('tier!=db, app=web,env==prod,zone in (b, a),x notin (q),has,!gone,n>3,m<9');
    expect(r.map((x) => [x.key, x.operator, x.values])).toEqual([
      ['app', '=', ['web']],
      ['env', '==', ['prod']],
      ['gone', '!', []],
      ['has', 'exists', []],
      ['m', 'lt', ['9']],
      ['n', 'gt', ['3']],
      ['tier', '!=', ['db']],
      ['x', 'notin', ['q']],
      ['zone', 'in', ['a', 'b']],
    ]);
  });

  it('accepts an empty value and the empty selector', () => {
    expect(parseLabelSelector('')).toEqual([]);
    expect(parseLabelSelector('a=')).toEqual([{ key: 'a', operator: '=', values: [''] }]);
    expect(parseLabelSelector('example.com/app=x')[0]!.key).toBe('example.com/app');
  });

  it('rejects syntax errors with the selector and the reason', () => {
    expect(badRequest(() => parseLabelSelector('a=b c')).message).toContain(
      `"a=b c": found 'c', expected: ',' or 'end of string'`,
    );
    expect(badRequest(() => parseLabelSelector('a b')).message).toContain("found 'b', expected: in, notin");
    expect(badRequest(() => parseLabelSelector('a in b')).message).toContain("expected: '('");
    expect(badRequest(() => parseLabelSelector('a=b,')).message).toContain('found');
    expect(badRequest(() => parseLabelSelector('a in ()')).message).toContain("values set can't be empty");
  });

  it('rejects invalid keys and values like NewRequirement', () => {
    expect(badRequest(() => parseLabelSelector('-a=b')).message).toContain(
      'unable to parse requirement: key',
    );
    expect(badRequest(() => parseLabelSelector('a=-b')).message).toContain(
      'unable to parse requirement: values[0]',
    );
    expect(badRequest(() => parseLabelSelector(`a=${'x'.repeat(64)}`)).message).toContain('no more than 63');
    expect(badRequest(() => parseLabelSelector('a>b')).message).toContain('must be an integer');
  });
});

describe('matchesLabels', () => {
  const l = { app: 'web', tier: 'front', n: '5' };
  const m = (s: string) => matchesLabels(parseLabelSelector(s), l);
  it('evaluates each operator', () => {
    expect(m('app=web')).toBe(true);
    expect(m('app=db')).toBe(false);
    expect(m('app!=db')).toBe(true);
    expect(m('missing!=x')).toBe(true);
    expect(m('app in (db,web)')).toBe(true);
    expect(m('app notin (db,web)')).toBe(false);
    expect(m('missing notin (x)')).toBe(true);
    expect(m('tier')).toBe(true);
    expect(m('!tier')).toBe(false);
    expect(m('n>4,n<6')).toBe(true);
    expect(m('n>5')).toBe(false);
    expect(m('app=web,tier=back')).toBe(false);
    expect(m('')).toBe(true);
  });

  it('round-trips through selectorToString', () => {
    const s = 'a in (x,y),b!=c,!d,e,f=g';
    expect(selectorToString(parseLabelSelector(s))).toBe(s);
  });
});

describe('labelSelectorFromObject', () => {
  it('combines matchLabels and matchExpressions', () => {
    const r = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'dev'] },
        { key: 'old', operator: 'DoesNotExist' },
      ],
    });
    expect(matchesLabels(r, { app: 'web', env: 'dev' })).toBe(true);
    expect(matchesLabels(r, { app: 'web', env: 'dev', old: '1' })).toBe(false);
    expect(matchesLabels(r, { app: 'web', env: 'qa' })).toBe(false);
  });

  it('rejects bad operators and value lists', () => {
    expect(
      badRequest(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo' }] }))
        .message,
    ).toContain('operator');
    expect(
      badRequest(() =>
        labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
      ).message,
    ).toContain('must be specified');
    expect(
      badRequest(() =>
        labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
      ).message,
    ).toContain('may not be specified');
  });
});

describe('field selectors', () => {
  const pod = (name: string, node: string | undefined, phase: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: node ? { nodeName: node } : {},
    status: { phase },
  });

  it('parses terms with escapes', () => {
    expect(parseFieldSelector('a=b,c!=d,e==f\\,g')).toEqual([
      { field: 'a', operator: '=', value: 'b' },
      { field: 'c', operator: '!=', value: 'd' },
      { field: 'e', operator: '==', value: 'f,g' },
    ]);
    expect(badRequest(() => parseFieldSelector('abc')).message).toContain("can't understand 'abc'");
  });

  it('filters pods by node and phase; empty nodeName means unscheduled', () => {
    const f = compileFieldSelector(pods, 'spec.nodeName=node-1,status.phase!=Failed');
    expect(f(pod('a', 'node-1', 'Running'))).toBe(true);
    expect(f(pod('a', 'node-1', 'Failed'))).toBe(false);
    expect(f(pod('a', 'node-2', 'Running'))).toBe(false);
    expect(compileFieldSelector(pods, 'spec.nodeName=')(pod('a', undefined, 'Pending'))).toBe(true);
  });

  it('supports event involvedObject fields', () => {
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'e' },
      involvedObject: { kind: 'Pod', name: 'p' },
      type: 'Warning',
    };
    expect(compileFieldSelector(events, 'involvedObject.name=p,type=Warning')(ev as KubeObject)).toBe(true);
  });

  it('rejects unknown fields listing the known ones', () => {
    expect(badRequest(() => compileFieldSelector(services, 'spec.type=ClusterIP')).message).toBe(
      '"spec.type" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
  });

  it('does not mistake inherited object properties for fields or operators', () => {
    expect(badRequest(() => compileFieldSelector(pods, 'constructor=x')).message).toContain(
      'not a known field selector',
    );
    expect(
      badRequest(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'constructor' }] }))
        .message,
    ).toContain('operator');
  });

  it('compileListFilter combines both and is undefined when empty', () => {
    expect(compileListFilter(pods, {})).toBeUndefined();
    expect(compileListFilter(pods, { labelSelector: '', fieldSelector: '' })).toBeUndefined();
    const f = compileListFilter(pods, { labelSelector: 'app=web', fieldSelector: 'metadata.name=a' })!;
    const p = pod('a', 'n', 'Running');
    expect(f(p)).toBe(false);
    p.metadata.labels = { app: 'web' };
    expect(f(p)).toBe(true);
    p.metadata.name = 'b';
    expect(f(p)).toBe(false);
  });
});
