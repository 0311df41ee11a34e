/**
 * The narrow interface through which the nftables backend touches the kernel (CONVENTIONS #1):
 * `run(tx)` = one `nft -f -` transaction, `list(table)` = `nft list table ip <table>`. A real
 * implementation over Exec (in a given netns) and a fake holding a parsed ruleset that refuses
 * what the kernel would.
 */
import { type Exec, realExec } from '../../src/kernel/exec.ts';
import { NftRuleset } from '../trace/nft-ruleset.ts';

/** Applies and reads nftables rules. */
export interface NftRunner {
  /** Applies one `nft -f` script atomically. */
  run(tx: string): Promise<void>;
  /** `nft list table ip <table>` output ('' if the table does not exist). */
  list(table: string): Promise<string>;
}

/** Real nft, optionally inside a named netns. */
export class ExecNftRunner implements NftRunner {
  constructor(private readonly opts: { exec?: Exec; netns?: string; timeoutMs?: number } = {}) {}

  async run(tx: string): Promise<void> {
    await (this.opts.exec ?? realExec).run('nft', ['-f', '-'], {
      input: tx,
      netns: this.opts.netns,
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    });
  }

  async list(table: string): Promise<string> {
    const r = await (this.opts.exec ?? realExec).run('nft', ['list', 'table', 'ip', table], {
      netns: this.opts.netns,
      allowFail: true,
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    });
    if (r.code !== 0 && /No such file or directory/.test(r.stderr)) return '';
    if (r.code !== 0) throw new Error(`nft list table ip ${table} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }
}

/** In-memory nft: parses and validates each transaction like the kernel. */
export class FakeNftRunner implements NftRunner {
  readonly ruleset = new NftRuleset();
  /** Every transaction applied successfully, in order. */
  readonly transactions: string[] = [];
  /** When set, the next run fails with this message. */
  failNext?: string;

  async run(tx: string): Promise<void> {
    if (this.failNext) {
      const msg = this.failNext;
      this.failNext = undefined;
      throw new Error(msg);
    }
    this.ruleset.apply(tx);
    this.transactions.push(tx);
  }

  async list(table: string): Promise<string> {
    return this.ruleset.list('ip', table);
  }
}
