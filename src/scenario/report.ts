/**
 * Scenario reports in three forms: a human summary (each step ✓/✗/–, why, time), JUnit XML (one
 * testsuite per scenario, one testcase per step, for CI dashboards) and JSON (`--json`). Pure.
 */
import type { ScenarioReport } from './runner.ts';
import { formatMs } from './steps/common.ts';

const MARK = { passed: '✓', failed: '✗', skipped: '–' } as const;

/** The human report of one or more scenarios. */
export function formatReport(reports: ScenarioReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(
      `${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${r.file}, ${formatMs(r.durationMs)}; setup ${formatMs(r.setupMs)})`,
    );
    if (r.error) lines.push(`      error: ${r.error}`);
    for (const s of r.steps) {
      lines.push(
        `  ${MARK[s.status]} ${String(s.index + 1).padStart(2)}. ${s.name}${s.status === 'skipped' ? '' : `  [${formatMs(s.durationMs)}]`}`,
      );
      if (s.status !== 'skipped' || !s.message.startsWith('skipped')) lines.push(`        ${s.message}`);
      // Details teach as much as failures explain: which pods answered, what source they saw.
      if (s.status !== 'skipped') for (const d of s.details) lines.push(`        ${d}`);
      for (const a of s.artifacts) lines.push(`        artifact: ${a}`);
    }
  }
  const failed = reports.filter((r) => !r.ok);
  lines.push(
    '',
    `${reports.length - failed.length}/${reports.length} scenarios passed${failed.length ? `; failed: ${failed.map((f) => f.name).join(', ')}` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Drops characters XML 1.0 forbids even escaped (C0 controls other than tab, LF, CR). */
function stripControls(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) out += ch;
  }
  return out;
}

function xml(s: string): string {
  return stripControls(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** JUnit XML: a testsuite per scenario, a testcase per step (setup errors as an error case). */
export function formatJUnit(reports: ScenarioReport[]): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const total = reports.reduce((n, r) => n + r.steps.length + (r.error ? 1 : 0), 0);
  const failures = reports.reduce((n, r) => n + r.steps.filter((s) => s.status === 'failed').length, 0);
  const errors = reports.filter((r) => r.error).length;
  const skipped = reports.reduce((n, r) => n + r.steps.filter((s) => s.status === 'skipped').length, 0);
  const time = (ms: number) => (ms / 1000).toFixed(3);
  out.push(
    `<testsuites name="podnet scenarios" tests="${total}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time(reports.reduce((n, r) => n + r.durationMs, 0))}">`,
  );
  for (const r of reports) {
    const f = r.steps.filter((s) => s.status === 'failed').length;
    const sk = r.steps.filter((s) => s.status === 'skipped').length;
    out.push(
      `  <testsuite name="${xml(r.name)}" file="${xml(r.file)}" tests="${r.steps.length + (r.error ? 1 : 0)}" failures="${f}" errors="${r.error ? 1 : 0}" skipped="${sk}" time="${time(r.durationMs)}" timestamp="${r.startedAt}">`,
    );
    if (r.error)
      out.push(
        `    <testcase classname="${xml(r.name)}" name="setup" time="${time(r.setupMs)}">`,
        `      <error message="${xml(r.error)}"/>`,
        '    </testcase>',
      );
    for (const s of r.steps) {
      const name = `${String(s.index + 1).padStart(2, '0')} ${s.name}`;
      const head = `    <testcase classname="${xml(r.name)}" name="${xml(name)}" file="${xml(r.file)}" line="${s.line}" time="${time(s.durationMs)}"`;
      if (s.status === 'passed') out.push(`${head}/>`);
      else if (s.status === 'skipped')
        out.push(`${head}>`, `      <skipped message="${xml(s.message)}"/>`, '    </testcase>');
      else
        out.push(
          `${head}>`,
          `      <failure message="${xml(s.message)}" type="${xml(s.kind)}">${xml([s.message, ...s.details].join('\n'))}</failure>`,
          '    </testcase>',
        );
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** The JSON report (`--json`): the reports as data, plus a summary. */
export function formatJson(reports: ScenarioReport[]): string {
  return `${JSON.stringify(
    {
      ok: reports.every((r) => r.ok),
      passed: reports.filter((r) => r.ok).length,
      total: reports.length,
      scenarios: reports,
    },
    null,
    2,
  )}\n`;
}
