/**
 * The one narrow interface through which the iptables backend touches the kernel
 * (CONVENTIONS #1): `restore(payload)` = one `iptables-restore --noflush` transaction,
 * `save()` = `iptables-save` of the nat and filter tables. A real implementation over Exec (in a
 * given network namespace) and a fake holding a parsed ruleset that refuses what the kernel would.
 */
import { type Exec, realExec } from '../../src/kernel/exec.ts';
import { IptablesRuleset } from '../trace/iptables-ruleset.ts';

/** Applies and reads iptables rules. */
export interface IptablesRunner {
  /** Applies one iptables-restore payload atomically (noflush: only declared chains are flushed). */
  restore(payload: string): Promise<void>;
  /** iptables-save output for the given tables (default nat and filter). */
  save(tables?: string[]): Promise<string>;
}

/** Real iptables via `iptables-restore`/`iptables-save`, optionally inside a named netns. */
export class ExecIptablesRunner implements IptablesRunner {
  constructor(private readonly opts: { exec?: Exec; netns?: string; timeoutMs?: number } = {}) {}

  async restore(payload: string): Promise<void> {
    const exec = this.opts.exec ?? realExec;
    await exec.run('iptables-restore', ['-w', '5', '--noflush'], {
      input: payload,
      netns: this.opts.netns,
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    });
  }

  async save(tables: string[] = ['nat', 'filter']): Promise<string> {
    const exec = this.opts.exec ?? realExec;
    // One process for every table: starting a process is most of the cost of a read on a small
    // ruleset (and, from a large Node process, a fork that blocks it for tens of ms). Without
    // `-t`, tables never used in this namespace are absent rather than created empty.
    const r = await exec.run('iptables-save', [], {
      netns: this.opts.netns,
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    });
    return tables.map((t) => tableSection(r.stdout, t)).join('');
  }
}

/** The `*table ... COMMIT` section of one table in iptables-save output ('' if absent). */
export function tableSection(save: string, table: string): string {
  const head = `*${table}\n`;
  const start = save.startsWith(head) ? 0 : save.indexOf(`\n${head}`) + 1;
  if (start === 0 && !save.startsWith(head)) return '';
  const end = save.indexOf('\nCOMMIT\n', start);
  return end < 0 ? `${save.slice(start)}\n` : save.slice(start, end + 8);
}

/** In-memory iptables: parses each payload and refuses invalid ones, like the kernel. */
export class FakeIptablesRunner implements IptablesRunner {
  readonly ruleset = new IptablesRuleset();
  /** Every payload applied successfully, in order. */
  readonly restores: string[] = [];
  /** When set, the next restore fails with this message (to test retry paths). */
  failNext?: string;

  async restore(payload: string): Promise<void> {
    if (this.failNext) {
      const msg = this.failNext;
      this.failNext = undefined;
      throw new Error(msg);
    }
    this.ruleset.restore(payload, { noflush: true });
    this.restores.push(payload);
  }

  async save(tables: string[] = ['nat', 'filter']): Promise<string> {
    for (const t of tables) this.ruleset.table(t);
    return this.ruleset.save(tables);
  }
}

/** Chain names declared in iptables-save output for one table. */
export function chainsInSave(save: string, table: string): string[] {
  const out: string[] = [];
  let cur = '';
  // Line by line without splitting: a saved nat table of 10,000 services is ~25 MiB, and only
  // its `*table` and `:CHAIN` lines matter here.
  for (let i = 0; i < save.length; ) {
    let end = save.indexOf('\n', i);
    if (end < 0) end = save.length;
    const c = save.charCodeAt(i);
    if (c === 42 /* * */) cur = save.slice(i + 1, end).trim();
    else if (c === 58 /* : */ && cur === table) {
      let sp = i + 1;
      while (sp < end && save.charCodeAt(sp) !== 32 && save.charCodeAt(sp) !== 9) sp++;
      out.push(save.slice(i + 1, sp));
    }
    i = end + 1;
  }
  return out;
}

FakeIptablesRunner satisfies new (
  ...a: never[]
) => IptablesRunner;
