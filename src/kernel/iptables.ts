/**
 * iptables through `iptables-restore` / `iptables-save`, one transaction per change.
 *
 * Callers render a restore payload (`*nat`, `:CHAIN - [0:0]`, `-A …`, `COMMIT`) and apply it with
 * `--noflush`, so that only the chains they name are touched. `FakeIptables` parses the same payloads
 * into tables and refuses what the kernel refuses (a jump to a missing chain, deleting a rule that
 * is not there, deleting a chain still referenced), so rule generation is tested without root.
 */
import type { Exec } from './exec.ts';
import { type NsRef, nsCommand } from './netns.ts';

/** Applies and reads iptables state of one namespace and family. */
export interface IptablesRunner {
  /** `iptables-restore [--noflush]` with `payload`; all or nothing. */
  restore(payload: string, opts?: { noflush?: boolean }): Promise<void>;
  /** `iptables-save -t table`. */
  save(table: string): Promise<string>;
}

/** The real runner for namespace `ns` and IP family 4 or 6. */
export class RealIptables implements IptablesRunner {
  constructor(
    private readonly exec: Exec,
    private readonly ns: NsRef,
    private readonly family: 4 | 6 = 4,
  ) {}

  async restore(payload: string, opts: { noflush?: boolean } = {}): Promise<void> {
    const bin = this.family === 4 ? 'iptables-restore' : 'ip6tables-restore';
    const [cmd, args] = nsCommand(this.ns, bin, ['-w', '5', ...(opts.noflush ? ['--noflush'] : [])]);
    await this.exec.run(cmd, args, { input: payload });
  }

  async save(table: string): Promise<string> {
    const bin = this.family === 4 ? 'iptables-save' : 'ip6tables-save';
    const [cmd, args] = nsCommand(this.ns, bin, ['-t', table]);
    return (await this.exec.run(cmd, args)).stdout;
  }
}

/** Built-in chains of each table. */
export const BUILTIN_CHAINS: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

const TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'MASQUERADE',
  'SNAT',
  'DNAT',
  'REDIRECT',
  'MARK',
  'CONNMARK',
  'LOG',
  'NOTRACK',
  'CT',
  'TPROXY',
]);

/** Parsed state of one table: chain → rule specs (the text after `-A CHAIN `). */
export interface IptablesTable {
  chains: Map<string, string[]>;
}

/** Parses `iptables-save` output into tables. */
export function parseIptablesSave(text: string): Map<string, IptablesTable> {
  const tables = new Map<string, IptablesTable>();
  let cur: IptablesTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { chains: new Map() };
      tables.set(line.slice(1), cur);
    } else if (line.startsWith(':') && cur) cur.chains.set(line.slice(1).split(' ')[0], []);
    else if (line.startsWith('-A ') && cur) {
      const [, chain, ...rest] = line.split(' ');
      cur.chains.get(chain)?.push(rest.join(' '));
    }
  }
  return tables;
}

/** The jump target of a rule spec, if any. */
export function ruleTarget(spec: string): string | undefined {
  return /(?:^|\s)-[jg] (\S+)/.exec(spec)?.[1];
}

/** In-memory iptables for one namespace and family. */
export class FakeIptables implements IptablesRunner {
  readonly tables = new Map<string, IptablesTable>();
  /** Every payload applied, in order. */
  readonly payloads: string[] = [];

  private table(name: string): IptablesTable {
    let t = this.tables.get(name);
    if (!t) {
      const builtins = BUILTIN_CHAINS[name];
      if (!builtins) throw new Error(`iptables-restore: table '${name}' does not exist`);
      t = { chains: new Map(builtins.map((c) => [c, []])) };
      this.tables.set(name, t);
    }
    return t;
  }

  async restore(payload: string, opts: { noflush?: boolean } = {}): Promise<void> {
    // Work on a copy so that a failing transaction changes nothing, as in the kernel.
    const copy = new Map(
      [...this.tables].map(([k, v]) => [k, { chains: new Map([...v.chains].map(([c, r]) => [c, [...r]])) }]),
    );
    const saved = new Map(this.tables);
    this.tables.clear();
    for (const [k, v] of copy) this.tables.set(k, v);
    try {
      this.applyPayload(payload, !!opts.noflush);
      this.payloads.push(payload);
    } catch (e) {
      this.tables.clear();
      for (const [k, v] of saved) this.tables.set(k, v);
      throw e;
    }
  }

  private applyPayload(payload: string, noflush: boolean): void {
    let t: IptablesTable | undefined;
    let tname = '';
    const lines = payload.split('\n');
    lines.forEach((raw, i) => {
      const line = raw.trim();
      const fail = (why: string) => {
        throw new Error(`iptables-restore: line ${i + 1} failed (${why}): ${line}`);
      };
      if (!line || line.startsWith('#')) return;
      if (line.startsWith('*')) {
        tname = line.slice(1);
        t = this.table(tname);
        if (!noflush) t.chains = new Map(BUILTIN_CHAINS[tname].map((c) => [c, []]));
        return;
      }
      if (line === 'COMMIT') {
        for (const [c, rules] of t!.chains)
          for (const r of rules) {
            const tg = ruleTarget(r);
            if (tg && !TARGETS.has(tg) && !t!.chains.has(tg)) fail(`chain ${c} jumps to missing chain ${tg}`);
          }
        t = undefined;
        return;
      }
      if (!t) fail('no table');
      const tbl = t!;
      if (line.startsWith(':')) {
        tbl.chains.set(line.slice(1).split(' ')[0], []);
        return;
      }
      const [flag, chain, ...rest] = line.split(' ');
      const spec = rest.join(' ');
      const rules = tbl.chains.get(chain);
      switch (flag) {
        case '-N':
          if (rules) fail('chain exists');
          tbl.chains.set(chain, []);
          return;
        case '-A':
        case '-I':
          if (!rules) fail(`no chain ${chain}`);
          if (flag === '-A') rules!.push(spec);
          else rules!.unshift(spec);
          return;
        case '-D': {
          if (!rules) fail(`no chain ${chain}`);
          const at = rules!.indexOf(spec);
          if (at < 0) fail('rule does not exist');
          rules!.splice(at, 1);
          return;
        }
        case '-F':
          if (!rules) fail(`no chain ${chain}`);
          rules!.length = 0;
          return;
        case '-X':
          if (!rules) fail(`no chain ${chain}`);
          if (BUILTIN_CHAINS[tname].includes(chain)) fail('built-in chain');
          if (rules!.length) fail('chain not empty');
          for (const [c, rs] of tbl.chains)
            if (rs.some((r) => ruleTarget(r) === chain)) fail(`referenced by ${c}`);
          tbl.chains.delete(chain);
          return;
        default:
          fail(`unknown command ${flag}`);
      }
    });
  }

  async save(table: string): Promise<string> {
    const t = this.tables.get(table) ?? {
      chains: new Map((BUILTIN_CHAINS[table] ?? []).map((c) => [c, []])),
    };
    const out = [`*${table}`];
    for (const c of t.chains.keys())
      out.push(`:${c} ${BUILTIN_CHAINS[table]?.includes(c) ? 'ACCEPT' : '-'} [0:0]`);
    for (const [c, rules] of t.chains) for (const r of rules) out.push(`-A ${c} ${r}`);
    out.push('COMMIT', '');
    return out.join('\n');
  }
}
