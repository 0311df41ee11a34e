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
    let out = '';
    for (const t of tables) {
      const r = await exec.run('iptables-save', ['-t', t], {
        netns: this.opts.netns,
        timeoutMs: this.opts.timeoutMs ?? 30_000,
      });
      out += r.stdout;
    }
    return out;
  }
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
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) cur = line.slice(1).trim();
    else if (cur === table && line.startsWith(':')) out.push(line.slice(1).split(/\s+/)[0]!);
  }
  return out;
}

FakeIptablesRunner satisfies new (
  ...a: never[]
) => IptablesRunner;
