/**
 * The `exec` step: runs a command inside a pod's, a node's or the outside client's network
 * namespace (what `kubectl exec` / `podnet exec` do for a pod) and checks its exit code and output.
 */
import type { StepKind } from '../types.ts';
import { readPlace } from './common.ts';

interface ExecSpec {
  in: string;
  command: string[];
  exitCode: number;
  contains: string[];
  notContains: string[];
  timeoutMs: number;
}

/** `exec`: `{in: pod:client, command: [ip, route], expect: {exitCode: 0, contains: [...]}}`. */
export const execStep: StepKind<ExecSpec> = {
  kind: 'exec',
  summary: 'run a command in a pod / node / the outside client; check exit code and output',
  schema: {
    type: 'object',
    properties: {
      in: { type: 'string', description: 'pod:NAME | pod:SELECTOR | node:NAME | outside' },
      command: {
        oneOf: [
          { type: 'string', description: 'run with sh -c' },
          { type: 'array', items: { type: 'string' } },
        ],
      },
      expect: {
        type: 'object',
        properties: {
          exitCode: { type: 'integer', default: 0 },
          contains: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
          notContains: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
        },
        additionalProperties: false,
      },
      timeout: { type: ['string', 'number'], default: '30s' },
    },
    required: ['in', 'command'],
    additionalProperties: false,
  },
  parse(body) {
    body.only(['in', 'command', 'expect', 'timeout']);
    const place = readPlace(body, 'in', { required: true })!;
    const raw = body.get('command');
    const command =
      typeof raw === 'string' ? ['sh', '-c', raw] : body.strings('command', { required: true })!;
    if (command.length === 0) body.fail('must not be empty', 'command');
    const e = body.map('expect');
    e?.only(['exitCode', 'contains', 'notContains']);
    return {
      in: place,
      command,
      exitCode: e?.int('exitCode', { min: 0, max: 255 }) ?? 0,
      contains: e?.strings('contains') ?? [],
      notContains: e?.strings('notContains') ?? [],
      timeoutMs: body.duration('timeout') ?? 30_000,
    };
  },
  describe: (s) =>
    `exec in ${s.in}: ${s.command[0] === 'sh' && s.command[1] === '-c' ? s.command[2] : s.command.join(' ')}`,
  async run(s, ctx) {
    const place = await ctx.place(s.in);
    const r = await ctx.execIn(place, s.command, { timeoutMs: s.timeoutMs });
    const out = `${r.stdout}${r.stderr}`;
    const shown = out.trim().split('\n').slice(-6);
    const problems: string[] = [];
    if (r.code !== s.exitCode) problems.push(`exit code ${r.code}, want ${s.exitCode}`);
    for (const c of s.contains) if (!out.includes(c)) problems.push(`output lacks "${c}"`);
    for (const c of s.notContains) if (out.includes(c)) problems.push(`output contains "${c}"`);
    return problems.length
      ? { ok: false, message: `in ${place.label}: ${problems.join('; ')}`, details: shown }
      : {
          ok: true,
          message: `in ${place.label}: exit ${r.code}`,
          details: shown,
          data: { stdout: r.stdout },
        };
  },
};
