/**
 * Unit tests for the matrix step's pure parts: expected-grid parsing, rendering, diffing, target
 * parsing, and the per-cell command and its classification.
 * Rows are sources (client, web, outside); columns are targets (svc:web:80, pod:db:5432, 10.96.0.10:53/udp).
 */
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  cellCommand,
  classifyCell,
  diffGrid,
  GridError,
  parseExpectedGrid,
  parseTarget,
  renderDiff,
  renderGrid,
} from './matrix.ts';

const ROWS = ['client', 'web', 'outside'];
const COLS = ['svc:web:80', 'pod:db:5432', '10.96.0.10:53/udp'];

describe('parseExpectedGrid', () => {
  it('reads a text block with a header and row labels', () => {
    const text = `
              svc:web:80  pod:db:5432  10.96.0.10:53/udp
      client  ✓           ✗            .
      web     ✓           ✓            ✓
      outside ✗           ✗            ✗
    `;
    expect(parseExpectedGrid(text, ROWS, COLS)).toEqual([
      ['ok', 'fail', 'any'],
      ['ok', 'ok', 'ok'],
      ['fail', 'fail', 'fail'],
    ]);
  });

  it('reads bare rows, compact rows, ASCII spellings, and skips comments', () => {
    const grid = parseExpectedGrid(
      ['y n .', '# the web pods reach everything', '✓✓✓', 'outside 0 x -'],
      ROWS,
      COLS,
    );
    expect(grid).toEqual([
      ['ok', 'fail', 'any'],
      ['ok', 'ok', 'ok'],
      ['fail', 'fail', 'fail'],
    ]);
    expect(parseExpectedGrid(['client ✓✗.', 'web ...', '✗✗✗'], ROWS, COLS)[0]).toEqual(['ok', 'fail', 'any']);
  });

  it('accepts a corner word before the header (a YAML block cannot start indented)', () => {
    const text =
      'from\\to svc:web:80 pod:db:5432 10.96.0.10:53/udp\nclient ✓ ✗ .\nweb ✓ ✓ ✓\noutside ✗ ✗ ✗\n';
    expect(parseExpectedGrid(text, ROWS, COLS)[0]).toEqual(['ok', 'fail', 'any']);
  });

  it('names the row and column of a bad symbol', () => {
    try {
      parseExpectedGrid(['✓ ✗ .', '✓ maybe ✓', '✗ ✗ ✗'], ROWS, COLS);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GridError);
      expect((e as GridError).message).toMatch(
        /row 2 \(web\), column 2 \(pod:db:5432\): "maybe" is not a cell/,
      );
      expect([(e as GridError).row, (e as GridError).col]).toEqual([1, 1]);
    }
  });

  it('rejects a wrong number of rows or cells', () => {
    expect(() => parseExpectedGrid(['✓ ✗ .', '✓ ✓ ✓'], ROWS, COLS)).toThrow(
      /has 2 rows but the matrix has 3/,
    );
    expect(() => parseExpectedGrid(['✓ ✗', '✓ ✓ ✓', '✗ ✗ ✗'], ROWS, COLS)).toThrow(
      /row 1 \(client\) has 2 cells/,
    );
  });

  it('catches labels that do not match the matrix (a reordered grid)', () => {
    expect(() => parseExpectedGrid(['web ✓ ✗ .', 'client ✓ ✓ ✓', 'outside ✗ ✗ ✗'], ROWS, COLS)).toThrow(
      /row 1 is labelled "web" but the matrix's row 1 is "client"/,
    );
    const header = 'pod:db:5432 svc:web:80 10.96.0.10:53/udp';
    expect(() => parseExpectedGrid([header, '✓ ✗ .', '✓ ✓ ✓', '✗ ✗ ✗'], ROWS, COLS)).toThrow(
      /column 1 is labelled "pod:db:5432"/,
    );
  });
});

describe('renderGrid / diffGrid / renderDiff', () => {
  it('aligns columns under their labels', () => {
    const lines = renderGrid(
      ['a', 'longer'],
      ['x', 'wide-col'],
      [
        ['✓', '✗'],
        ['~ 1/2', '✓'],
      ],
    );
    expect(lines).toEqual(['        x      wide-col', 'a       ✓      ✗', 'longer  ~ 1/2  ✓']);
  });

  it('reports exactly the differing cells; don’t-care matches everything, mixed matches only don’t-care', () => {
    const expected = parseExpectedGrid(['✓ ✗ .', '✓ ✓ ✓', '✗ ✗ .'], ROWS, COLS);
    const actual = [
      ['ok', 'fail', 'fail'],
      ['ok', 'mixed', 'ok'],
      ['ok', 'fail', 'mixed'],
    ] as const;
    const diff = diffGrid(
      ROWS,
      COLS,
      expected,
      actual.map((r) => [...r]),
    );
    expect(diff.map((d) => [d.rowLabel, d.colLabel, d.expected, d.actual])).toEqual([
      ['web', 'pod:db:5432', 'ok', 'mixed'],
      ['outside', 'svc:web:80', 'fail', 'ok'],
    ]);
    const shown = renderDiff(
      ROWS,
      COLS,
      actual.map((r) => [...r]),
      diff,
    );
    expect(shown[2]).toMatch(/^web\s+✓\s+~!\s+✓$/);
    expect(shown[3]).toMatch(/^outside\s+✓!\s+✗\s+~$/);
  });

  it('finds no difference when the measurement matches', () => {
    const expected = parseExpectedGrid(['✓ ✗ ✓'], ['a'], COLS);
    expect(diffGrid(['a'], COLS, expected, [['ok', 'fail', 'ok']])).toEqual([]);
  });
});

describe('parseTarget', () => {
  it('parses every kind with ports and protocols', () => {
    expect(parseTarget('svc:web:80')).toEqual({
      text: 'svc:web:80',
      kind: 'svc',
      ref: 'web',
      port: 80,
      proto: undefined,
    });
    expect(parseTarget('service:default/web:http')).toMatchObject({
      kind: 'svc',
      ref: 'default/web',
      port: 'http',
    });
    expect(parseTarget('clusterip:dns.kube-system:53/udp')).toMatchObject({
      kind: 'svc',
      ref: 'dns.kube-system',
      port: 53,
      proto: 'udp',
    });
    expect(parseTarget('pod:app=db')).toMatchObject({ kind: 'pod', ref: 'app=db', port: undefined });
    expect(parseTarget('pod:default/db-0:5432/tcp')).toMatchObject({
      kind: 'pod',
      ref: 'default/db-0',
      port: 5432,
      proto: 'tcp',
    });
    expect(parseTarget('node:node-1:30080')).toMatchObject({ kind: 'node', ref: 'node-1', port: 30080 });
    expect(parseTarget('10.96.0.10:53/udp')).toMatchObject({
      kind: 'ip',
      ref: '10.96.0.10',
      port: 53,
      proto: 'udp',
    });
    expect(parseTarget('host:web.default.svc.cluster.local:80/http')).toMatchObject({
      kind: 'host',
      ref: 'web.default.svc.cluster.local',
      port: 80,
      proto: 'http',
    });
  });

  it('explains what is wrong', () => {
    expect(() => parseTarget('web')).toThrow(/is not a target/);
    expect(() => parseTarget('vm:web:80')).toThrow(/unknown target kind "vm"/);
    expect(() => parseTarget('10.0.0.1')).toThrow(/give a port/);
    expect(() => parseTarget('node:node-1')).toThrow(/give a port/);
    expect(() => parseTarget('svc:web:70000')).toThrow(/out of range/);
    expect(() => parseTarget('pod:db:http')).toThrow(/must be a number$/);
  });
});

describe('cell commands and outcomes', () => {
  it('builds bash /dev/tcp and /dev/udp probes under timeout, and curl for http', () => {
    expect(cellCommand('tcp', '10.96.0.1', 80, 1500)).toEqual([
      'timeout',
      '1.5',
      'bash',
      '-c',
      'exec 3<>/dev/tcp/10.96.0.1/80',
    ]);
    const udp = cellCommand('udp', '10.96.0.10', 53, 2000);
    expect(udp.slice(0, 4)).toEqual(['timeout', '2.0', 'bash', '-c']);
    expect(udp[4]).toContain('/dev/udp/10.96.0.10/53');
    expect(udp[4]).toContain('read -r -N 1 -t 2.0');
    expect(cellCommand('http', 'web', 8080, 3000, '/healthz')).toEqual([
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '3.0',
      'http://web:8080/healthz',
    ]);
    expect(() => cellCommand('tcp', '$(reboot)', 80, 1000)).toThrow(/not a host name/);
  });

  it('classifies exits', () => {
    expect(classifyCell('tcp', 0, '', '')).toEqual({ ok: true, reason: 'ok' });
    expect(classifyCell('tcp', 1, '', 'bash: connect: Connection refused')).toEqual({
      ok: false,
      reason: 'refused',
    });
    expect(classifyCell('tcp', 124, '', '')).toEqual({ ok: false, reason: 'timeout' });
    expect(classifyCell('udp', 142, '', '')).toEqual({ ok: false, reason: 'timeout' });
    expect(classifyCell('tcp', 1, '', 'bash: connect: No route to host')).toMatchObject({
      reason: 'unreachable',
    });
    expect(classifyCell('tcp', 1, '', 'bash: web.x: Name or service not known')).toMatchObject({
      reason: 'nxdomain',
    });
    expect(classifyCell('http', 0, '204', '')).toEqual({ ok: true, reason: 'http 204' });
    expect(classifyCell('http', 0, '503', '')).toEqual({ ok: false, reason: 'http 503' });
    expect(classifyCell('http', 7, '000', '')).toEqual({ ok: false, reason: 'refused' });
    expect(classifyCell('http', 28, '000', '')).toEqual({ ok: false, reason: 'timeout' });
  });

  it('aggregates a row of several sources', () => {
    const ok = { ok: true, reason: 'ok' };
    const no = { ok: false, reason: 'refused' };
    expect(aggregate([ok, ok])).toBe('ok');
    expect(aggregate([no, no])).toBe('fail');
    expect(aggregate([ok, no])).toBe('mixed');
    expect(aggregate([])).toBe('fail');
  });
});

describe('the matrix step in a scenario file', () => {
  // Parsed through the scenario parser, so errors carry file:line:col and the field path.
  const file = (body: string) => `name: m\nsteps:\n  - matrix:\n${body}`;
  const parse = async (body: string) => {
    const { parseScenario } = await import('./format.ts');
    return parseScenario(file(body), 'm.yaml', '.');
  };

  it('parses rows, columns, protocol and the expected grid', async () => {
    const sc = await parse(
      '      from: [pod:a, {place: "pod:app=web", label: web}]\n' +
        '      to: [svc:web:80, {target: "pod:db", label: db, protocol: http, path: /healthz}]\n' +
        '      timeout: 500ms\n' +
        '      expect: ["pod:a ✓ ✗", "web ✓ ."]\n',
    );
    const spec = sc.steps[0]!.spec as import('./steps/matrix.ts').MatrixSpec;
    expect(spec.rows.map((r) => r.label)).toEqual(['pod:a', 'web']);
    expect(spec.cols.map((c) => [c.label, c.proto, c.path])).toEqual([
      ['svc:web:80', undefined, undefined],
      ['db', 'http', '/healthz'],
    ]);
    expect(spec.timeoutMs).toBe(500);
    expect(spec.expect).toEqual([
      ['ok', 'fail'],
      ['ok', 'any'],
    ]);
  });

  it('points at the field of a mistake', async () => {
    await expect(parse('      from: [pod:a]\n      to: [svc:web:80, web]\n')).rejects.toThrow(
      /^m\.yaml:5:\d+: steps\[0\]\.matrix\.to\[1\]: "web" is not a target/,
    );
    await expect(parse('      from: [pod:a, nowhere]\n      to: [svc:web:80]\n')).rejects.toThrow(
      /steps\[0\]\.matrix\.from\[1\]: "nowhere" is not a place/,
    );
    await expect(
      parse('      from: [pod:a]\n      to: [svc:web:80]\n      expect: ["✓", "✗"]\n'),
    ).rejects.toThrow(/steps\[0\]\.matrix\.expect: expected grid: has 2 rows but the matrix has 1/);
    await expect(
      parse('      from: [pod:a]\n      to: [svc:web:80, svc:web:81]\n      expect: ["✓ ?!"]\n'),
    ).rejects.toThrow(
      /^m\.yaml:6:\d+: steps\[0\]\.matrix\.expect\[0\]: expected grid: row 1 \(pod:a\), column 2 \(svc:web:81\)/,
    );
    await expect(parse('      from: [pod:a, pod:a]\n      to: [svc:web:80]\n')).rejects.toThrow(
      /two rows are labelled "pod:a"/,
    );
  });
});
