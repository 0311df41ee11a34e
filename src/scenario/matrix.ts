/**
 * The pure half of the `matrix` step: a connectivity truth table of sources (rows) × targets
 * (columns). This module parses the expected grid a scenario writes, renders measured grids for
 * the report, diffs the two cell by cell, parses column targets (`svc:web:80`, `pod:app=db:5432/tcp`,
 * `10.96.0.10:53/udp`), and builds the tiny shell command one cell runs inside the source's network
 * namespace. Nothing here touches the cluster, so all of it is unit-tested without root.
 *
 * Cell symbols (expected grid): ✓ reachable, ✗ not reachable, `.` don't care. ASCII spellings are
 * accepted for keyboards without the glyphs (see CELL_SYMBOLS). A measured row can also be `~`:
 * some of the row's pods got through and some did not (a selector row covers several pods).
 */

/** What the scenario expects of a cell. */
export type ExpectedCell = 'ok' | 'fail' | 'any';
/** What a cell measured: every source got through, none did, or some did. */
export type ActualCell = 'ok' | 'fail' | 'mixed';

/** Every spelling accepted in an expected grid. */
export const CELL_SYMBOLS: Readonly<Record<ExpectedCell, readonly string[]>> = {
  ok: ['✓', '✔', 'y', 'Y', 'yes', '1', 'o', '+', 'ok'],
  fail: ['✗', '✘', 'x', 'X', 'n', 'N', 'no', '0', '-', 'fail'],
  any: ['.', '?', '*', '·'],
};

/** The glyph printed for a cell. */
export function cellGlyph(c: ExpectedCell | ActualCell): string {
  return c === 'ok' ? '✓' : c === 'fail' ? '✗' : c === 'mixed' ? '~' : '.';
}

/** A mistake in an expected grid; `row`/`col` are 0-based when known. */
export class GridError extends Error {
  constructor(
    message: string,
    readonly row?: number,
    readonly col?: number,
  ) {
    super(message);
    this.name = 'GridError';
  }
}

function symbolOf(token: string): ExpectedCell | undefined {
  for (const [cell, spellings] of Object.entries(CELL_SYMBOLS) as [ExpectedCell, readonly string[]][]) {
    if (spellings.includes(token)) return cell;
  }
  return undefined;
}

/** Splits a compact row (`✓✗.`) into one token per character (code point, not UTF-16 unit). */
function splitCompact(token: string, n: number): string[] | undefined {
  const chars = [...token];
  if (chars.length !== n || chars.some((c) => symbolOf(c) === undefined)) return undefined;
  return chars;
}

/**
 * Parses an expected grid for `rows` × `cols`. Accepted shapes:
 *   - a block of text, one line per row: symbols separated by spaces (`✓ ✗ .`), or written
 *     together (`✓✗.`); a row may start with its label, and the first line may be a header of
 *     column labels (optionally after a corner word such as `from\to`). Labels, when given, must match the matrix's own (so a reordered grid is caught).
 *   - a list of strings, one per row, in the same forms.
 * Blank lines and lines starting with `#` are ignored.
 */
export function parseExpectedGrid(
  input: string | string[],
  rows: string[],
  cols: string[],
): ExpectedCell[][] {
  const lines = (Array.isArray(input) ? input : input.split('\n'))
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  let body = lines;
  // One line more than rows, and a first line that is not itself a row of cells: a header.
  const isCells = (l: string) =>
    l.split(/\s+/).every((t) => symbolOf(t) !== undefined) || splitCompact(l, cols.length) !== undefined;
  if (lines.length === rows.length + 1 && !isCells(lines[0]!)) {
    let header = lines[0]!.split(/\s+/);
    // A corner word (`from\to`) may stand above the row labels: in a YAML `|` block the first
    // line sets the indentation, so a header cannot start with blanks there.
    if (header.length === cols.length + 1) header = header.slice(1);
    if (header.length !== cols.length) {
      throw new GridError(
        `the header line has ${header.length} labels but the matrix has ${cols.length} columns (${cols.join(', ')})`,
      );
    }
    header.forEach((h, i) => {
      if (h !== cols[i])
        throw new GridError(
          `column ${i + 1} is labelled "${h}" but the matrix's column ${i + 1} is "${cols[i]}"`,
          undefined,
          i,
        );
    });
    body = lines.slice(1);
  }
  if (body.length !== rows.length) {
    throw new GridError(`has ${body.length} rows but the matrix has ${rows.length} (${rows.join(', ')})`);
  }
  return body.map((line, r) => {
    let tokens = line.split(/\s+/);
    // A leading row label: one token more than there are columns, or a first token that is not a symbol.
    if (
      tokens.length === cols.length + 1 ||
      (tokens.length === 2 && cols.length > 1 && splitCompact(tokens[1]!, cols.length))
    ) {
      if (tokens[0] !== rows[r]) {
        throw new GridError(
          `row ${r + 1} is labelled "${tokens[0]}" but the matrix's row ${r + 1} is "${rows[r]}"`,
          r,
        );
      }
      tokens = tokens.slice(1);
    }
    if (tokens.length === 1 && cols.length > 1) tokens = splitCompact(tokens[0]!, cols.length) ?? tokens;
    if (tokens.length !== cols.length) {
      throw new GridError(
        `row ${r + 1} (${rows[r]}) has ${tokens.length} cells but the matrix has ${cols.length} columns`,
        r,
      );
    }
    return tokens.map((t, c) => {
      const cell = symbolOf(t);
      if (!cell) {
        throw new GridError(
          `row ${r + 1} (${rows[r]}), column ${c + 1} (${cols[c]}): "${t}" is not a cell; use ✓ (or y, 1), ✗ (or x, n, 0), . (don't care)`,
          r,
          c,
        );
      }
      return cell;
    });
  });
}

/** Display width of a string (the glyphs we use are one column wide; no wide CJK expected). */
function width(s: string): number {
  return [...s].length;
}
function pad(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - width(s)));
}

/**
 * Renders a grid as aligned text lines: a header of column labels, then one line per row with
 * its label and cells. `cells[r][c]` is any short string (usually a glyph, maybe with a count).
 */
export function renderGrid(rows: string[], cols: string[], cells: string[][]): string[] {
  const labelW = Math.max(0, ...rows.map(width));
  const colW = cols.map((c, i) => Math.max(width(c), ...cells.map((row) => width(row[i] ?? ''))));
  const lines = [`${' '.repeat(labelW)}  ${cols.map((c, i) => pad(c, colW[i]!)).join('  ')}`.trimEnd()];
  rows.forEach((r, ri) => {
    lines.push(
      `${pad(r, labelW)}  ${cols.map((_, ci) => pad(cells[ri]?.[ci] ?? '', colW[ci]!)).join('  ')}`.trimEnd(),
    );
  });
  return lines;
}

/** One cell where the measurement differs from the expectation. */
export interface CellMismatch {
  row: number;
  col: number;
  rowLabel: string;
  colLabel: string;
  expected: ExpectedCell;
  actual: ActualCell;
}

/** Cells where `actual` breaks `expected` (`any` matches everything; `mixed` matches only `any`). */
export function diffGrid(
  rows: string[],
  cols: string[],
  expected: ExpectedCell[][],
  actual: ActualCell[][],
): CellMismatch[] {
  const out: CellMismatch[] = [];
  rows.forEach((rowLabel, r) => {
    cols.forEach((colLabel, c) => {
      const e = expected[r]?.[c] ?? 'any';
      const a = actual[r]?.[c] ?? 'fail';
      if (e !== 'any' && e !== a) out.push({ row: r, col: c, rowLabel, colLabel, expected: e, actual: a });
    });
  });
  return out;
}

/**
 * Renders the measured grid with differing cells marked: `✗!` where ✓ was expected, etc., so the
 * eye finds them in a large table. Matching cells print as measured.
 */
export function renderDiff(
  rows: string[],
  cols: string[],
  actual: ActualCell[][],
  mismatches: CellMismatch[],
): string[] {
  const bad = new Set(mismatches.map((m) => `${m.row},${m.col}`));
  const cells = actual.map((row, r) => row.map((a, c) => cellGlyph(a) + (bad.has(`${r},${c}`) ? '!' : '')));
  return renderGrid(rows, cols, cells);
}

// --- targets (columns) -----------------------------------------------------------------------

/** Protocols a cell can test. */
export const MATRIX_PROTOCOLS = ['tcp', 'udp', 'http'] as const;
/** One of MATRIX_PROTOCOLS. */
export type MatrixProtocol = (typeof MATRIX_PROTOCOLS)[number];

/** Kinds of column targets (the same words as the `request` step's `to:`). */
export const TARGET_KINDS = ['pod', 'svc', 'service', 'clusterip', 'node', 'ip', 'host'] as const;

/** A parsed column target. */
export interface MatrixTarget {
  /** As written (and the column label unless a label is given). */
  text: string;
  /**
   * pod: a pod's IP (pod:NAME, pod:NS/NAME, pod:SELECTOR); svc/service/clusterip: a Service's
   * ClusterIP; node: a node's LAN IP; ip: a literal address; host: a DNS name resolved in the source.
   */
  kind: 'pod' | 'svc' | 'node' | 'ip' | 'host';
  /** The reference after the kind (`web`, `default/web`, `app=db`, `10.96.0.10`). */
  ref: string;
  /** A number, or a port name (Service port name), or undefined = the default for the kind. */
  port?: number | string;
  proto?: MatrixProtocol;
}

/**
 * Parses `KIND:REF[:PORT][/PROTO]` or `IP:PORT[/PROTO]`:
 * `svc:web:80`, `svc:web:http`, `pod:app=db:5432`, `node:node-1:30080/tcp`, `10.96.0.10:53/udp`,
 * `host:web.default.svc.cluster.local:80`. Throws an Error naming what is wrong.
 */
export function parseTarget(text: string): MatrixTarget {
  let s = text.trim();
  let proto: MatrixProtocol | undefined;
  const slash = /\/(tcp|udp|http)$/i.exec(s);
  if (slash) {
    proto = slash[1]!.toLowerCase() as MatrixProtocol;
    s = s.slice(0, slash.index);
  }
  const ipPort = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/.exec(s);
  if (ipPort)
    return finish({
      text,
      kind: 'ip',
      ref: ipPort[1]!,
      port: ipPort[2] ? Number(ipPort[2]) : undefined,
      proto,
    });
  const m = /^([a-z]+):(.+)$/.exec(s);
  if (!m)
    throw new Error(
      `"${text}" is not a target: use pod:NAME[:PORT], svc:NAME:PORT, node:NAME:PORT, IP:PORT or host:NAME:PORT`,
    );
  const kindWord = m[1]!;
  if (!(TARGET_KINDS as readonly string[]).includes(kindWord)) {
    throw new Error(`"${text}": unknown target kind "${kindWord}" (known: ${TARGET_KINDS.join(', ')})`);
  }
  const kind: MatrixTarget['kind'] =
    kindWord === 'service' || kindWord === 'clusterip' ? 'svc' : (kindWord as MatrixTarget['kind']);
  let ref = m[2]!;
  let port: number | string | undefined;
  const lastColon = ref.lastIndexOf(':');
  if (lastColon > 0) {
    const p = ref.slice(lastColon + 1);
    ref = ref.slice(0, lastColon);
    if (/^\d+$/.test(p)) port = Number(p);
    else if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p) && kind === 'svc') port = p;
    else
      throw new Error(
        `"${text}": port "${p}" must be a number${kind === 'svc' ? ' or a Service port name' : ''}`,
      );
  }
  if (kind === 'ip' && !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(ref))
    throw new Error(`"${text}": "${ref}" is not an IPv4 address`);
  return finish({ text, kind, ref, port, proto });
}

function finish(t: MatrixTarget): MatrixTarget {
  if (typeof t.port === 'number' && (t.port < 1 || t.port > 65535)) {
    throw new Error(`"${t.text}": port ${t.port} is out of range 1-65535`);
  }
  if (t.port === undefined && (t.kind === 'ip' || t.kind === 'node' || t.kind === 'host')) {
    throw new Error(`"${t.text}": give a port (${t.kind === 'ip' ? 'IP:PORT' : `${t.kind}:NAME:PORT`})`);
  }
  return t;
}

// --- one cell ----------------------------------------------------------------------------------

/** How one cell ended, from the command's exit and stderr. */
export interface CellOutcome {
  ok: boolean;
  /** ok | refused | timeout | unreachable | nxdomain | http NNN | error. */
  reason: string;
}

/**
 * The command one cell runs inside the source namespace: bash's /dev/tcp and /dev/udp (no extra
 * tools, starts in milliseconds) under `timeout`, or curl for http. TCP succeeds on connect; UDP
 * when any reply arrives (the target must answer, like netexec's UDP echo answering `hostname`;
 * an ICMP port unreachable fails at once); http on a 2xx/3xx status.
 */
export function cellCommand(
  proto: MatrixProtocol,
  host: string,
  port: number,
  timeoutMs: number,
  path = '/',
): string[] {
  const secs = Math.max(0.1, timeoutMs / 1000).toFixed(1);
  const h = host.includes(':') ? `[${host}]` : host;
  if (proto === 'http') {
    return [
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      secs,
      `http://${h}:${port}${path}`,
    ];
  }
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new Error(`"${host}" is not a host name or address`);
  const script =
    proto === 'tcp'
      ? `exec 3<>/dev/tcp/${host}/${port}`
      : `exec 3<>/dev/udp/${host}/${port} && printf hostname >&3 && read -r -N 1 -t ${secs} -u 3 c`;
  return ['timeout', secs, 'bash', '-c', script];
}

/** Classifies a cell command's result (see cellCommand). */
export function classifyCell(
  proto: MatrixProtocol,
  code: number,
  stdout: string,
  stderr: string,
): CellOutcome {
  if (proto === 'http') {
    const status = Number(stdout.trim());
    if (code === 0 && status >= 200 && status < 400) return { ok: true, reason: `http ${status}` };
    if (code === 0 && status > 0) return { ok: false, reason: `http ${status}` };
    if (code === 7) return { ok: false, reason: 'refused' };
    if (code === 28) return { ok: false, reason: 'timeout' };
    if (code === 6) return { ok: false, reason: 'nxdomain' };
    return { ok: false, reason: `error (curl exit ${code})` };
  }
  if (code === 0) return { ok: true, reason: 'ok' };
  // `timeout` exits 124 when it had to stop the command; read -t exits >128 on its own timeout.
  if (code === 124 || code > 128) return { ok: false, reason: 'timeout' };
  if (/refused/i.test(stderr)) return { ok: false, reason: 'refused' };
  if (/no route|unreachable/i.test(stderr)) return { ok: false, reason: 'unreachable' };
  if (/not known|name resolution|unknown host/i.test(stderr)) return { ok: false, reason: 'nxdomain' };
  // UDP: read saw end of data without a byte (nothing answered before the socket closed).
  return { ok: false, reason: stderr.trim().split('\n').at(-1)?.slice(0, 80) || `error (exit ${code})` };
}

/** Folds the outcomes of a row's sources into one cell. */
export function aggregate(outcomes: CellOutcome[]): ActualCell {
  const ok = outcomes.filter((o) => o.ok).length;
  if (outcomes.length > 0 && ok === outcomes.length) return 'ok';
  return ok === 0 ? 'fail' : 'mixed';
}
