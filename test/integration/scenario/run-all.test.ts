// Every scenario shipped in scenarios/ runs against real clusters and passes: the scenarios are
// the user-facing promises of podnet, so `npm test` keeps them true. Scenarios with the same
// `cluster:` section share one cluster (cluster "h2all": namespaces pn-h2all-…, LAN
// 172.31.0.0/24, pods 10.244.x.0/24), wiped between scenarios; destructive ones get their own.
// Afterwards no namespace of the cluster is left.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyCluster, ownsNetns } from '../../../src/cluster/build.ts';
import { realKernel } from '../../../src/kernel/index.ts';
import { loadScenario } from '../../../src/scenario/format.ts';
import { formatReport } from '../../../src/scenario/report.ts';
import { groupForSharing, runScenarios } from '../../../src/scenario/runner.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const DIR = join(ROOT, 'scenarios');
const CLUSTER = 'h2all';
const isRoot = process.getuid?.() === 0;

/**
 * Scenarios that fail because a component is broken — the scenario stays honest, and this
 * table records the bug. Each must fail at exactly this step with this reason: when the bug is
 * fixed the test fails too, and the entry must go.
 */
const KNOWN_BUGS: Record<string, { step: number; reason: RegExp; bug: string }> = {};
const home = mkdtempSync(join(tmpdir(), 'pn-h2-runall-'));

afterAll(async () => {
  if (isRoot)
    await destroyCluster(CLUSTER, { kernel: realKernel(), stateDir: join(home, CLUSTER) }).catch(() => {});
  rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('every shipped scenario passes', () => {
  it('runs scenarios/*.yaml on shared clusters: all pass, and nothing is left behind', async () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    const scenarios = files.map((f) => loadScenario(join(DIR, f)));
    expect(scenarios.length).toBeGreaterThanOrEqual(10);
    const lines: string[] = [];
    const t0 = Date.now();
    const reports = await runScenarios(scenarios, {
      clusterName: CLUSTER,
      stateDir: join(home, CLUSTER),
      log: (l) => lines.push(l),
    });
    const text = formatReport(reports);
    // Shown on failure: the report says which step failed and why.
    if (reports.some((r) => !r.ok && !KNOWN_BUGS[r.name]))
      console.log(`${text}\n--- progress ---\n${lines.join('\n')}`);
    else
      console.log(
        `${text}(${groupForSharing(scenarios).length} clusters, ${((Date.now() - t0) / 1000).toFixed(0)}s)`,
      );
    expect(reports.map((r) => r.name).sort()).toEqual(scenarios.map((s) => s.name).sort());
    const unexpected: string[] = [];
    for (const r of reports) {
      const known = KNOWN_BUGS[r.name];
      const failed = r.steps.find((s) => s.status === 'failed');
      const why = r.error ?? (failed ? `step ${failed.index + 1}: ${failed.message}` : '');
      if (!known) {
        if (!r.ok) unexpected.push(`${r.name}: ${why}`);
      } else if (r.ok) unexpected.push(`${r.name} passes now: remove it from KNOWN_BUGS (${known.bug})`);
      else if (r.error || failed?.index !== known.step - 1 || !known.reason.test(failed.message))
        unexpected.push(`${r.name} fails differently than its known bug (${known.bug}): ${why}`);
    }
    expect(unexpected).toEqual([]);
    const left = (await realKernel().netns.list()).filter((n) => ownsNetns(CLUSTER, n));
    expect(left).toEqual([]);
  }, 900_000);
});
