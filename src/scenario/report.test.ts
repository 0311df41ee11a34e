// The three report forms of a scenario run: human text, JUnit XML (escaped, counted), JSON.
import { describe, expect, it } from 'vitest';
import { formatJson, formatJUnit, formatReport } from './report.ts';
import type { ScenarioReport, StepReport } from './runner.ts';

function step(
  index: number,
  status: StepReport['status'],
  message: string,
  details: string[] = [],
): StepReport {
  return {
    index,
    kind: 'request',
    name: `step <${index}> & "more"`,
    line: 10 + index,
    status,
    message,
    details,
    durationMs: 1500,
    attempts: 1,
    artifacts: [],
  };
}

const passing: ScenarioReport = {
  name: 'good',
  description: '',
  file: 'scenarios/good.yaml',
  cluster: 'h2',
  ok: true,
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 12_000,
  setupMs: 5000,
  steps: [step(0, 'passed', '3 requests: 3 ok')],
};
const failing: ScenarioReport = {
  ...passing,
  name: 'bad',
  file: 'scenarios/bad.yaml',
  ok: false,
  steps: [
    step(0, 'passed', 'ok'),
    step(1, 'failed', 'backend saw source 172.31.0.11', ['answered by: web-a ×3']),
    step(2, 'skipped', 'skipped: step 2 failed'),
  ],
};

describe('formatReport', () => {
  it('marks each step, says why a step failed, and sums up', () => {
    const text = formatReport([passing, failing]);
    expect(text).toContain('PASS  good  (scenarios/good.yaml, 12.0s; setup 5.0s)');
    expect(text).toContain('FAIL  bad');
    expect(text).toContain(
      '  ✗  2. step <1> & "more"  [1.5s]\n        backend saw source 172.31.0.11\n        answered by: web-a ×3',
    );
    expect(text).toContain('  –  3. step <2> & "more"\n');
    expect(text).toMatch(/1\/2 scenarios passed; failed: bad\n$/);
  });

  it('shows a setup error', () => {
    const text = formatReport([{ ...failing, error: 'nodes not Ready after 60000 ms', steps: [] }]);
    expect(text).toContain('      error: nodes not Ready after 60000 ms');
  });
});

describe('formatJUnit', () => {
  it('one suite per scenario, one case per step, escaped, with counts', () => {
    const xml = formatJUnit([passing, failing]);
    expect(xml).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="podnet scenarios" tests="4" failures="1" errors="0" skipped="1" time="24.000">/,
    );
    expect(xml).toContain(
      '<testsuite name="bad" file="scenarios/bad.yaml" tests="3" failures="1" errors="0" skipped="1"',
    );
    expect(xml).toContain('name="02 step &lt;1&gt; &amp; &quot;more&quot;"');
    expect(xml).toContain(
      '<failure message="backend saw source 172.31.0.11" type="request">backend saw source 172.31.0.11\nanswered by: web-a ×3</failure>',
    );
    expect(xml).toContain('<skipped message="skipped: step 2 failed"/>');
    expect(xml.trim().endsWith('</testsuites>')).toBe(true);
  });

  it('a setup error is an error case; control characters are dropped', () => {
    const xml = formatJUnit([{ ...failing, error: 'bad\u0001thing', steps: [] }]);
    expect(xml).toContain('errors="1"');
    expect(xml).toContain('<testcase classname="bad" name="setup"');
    expect(xml).toContain('<error message="badthing"/>');
  });
});

describe('formatJson', () => {
  it('carries the reports and a summary', () => {
    const j = JSON.parse(formatJson([passing, failing]));
    expect(j).toMatchObject({ ok: false, passed: 1, total: 2 });
    expect(j.scenarios[1].steps[1]).toMatchObject({
      status: 'failed',
      message: 'backend saw source 172.31.0.11',
    });
  });
});
