/**
 * An in-memory iptables ruleset that reads iptables-save output and applies iptables-restore
 * payloads (with --noflush semantics), refusing what the kernel refuses: a jump to a chain that
 * does not exist, deleting a chain that is still referenced or not empty, a rule in an undeclared
 * chain. Used by the IptablesRunner fake and by the tracer.
 */

/** Targets iptables knows without a user chain. */
export const BUILTIN_TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'REJECT',
  'RETURN',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'MARK',
  'CONNMARK',
  'LOG',
  'REDIRECT',
  'NOTRACK',
  'CT',
]);

/** Built-in chains per table. */
export const BUILTIN_CHAINS: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** One parsed match (e.g. `! -s 10.0.0.0/8`, `-m statistic --probability 0.5`). */
export interface Match {
  /** `src`, `dst`, `proto`, `in`, `out`, or a `-m` module name. */
  kind: string;
  negate: boolean;
  /** Option name → value (`''` for flags like `--rcheck`). */
  opts: Record<string, string>;
}

/** A parsed rule. */
export interface Rule {
  matches: Match[];
  /** Jump (-j) or goto (-g) target; undefined for a rule without a target. */
  target?: string;
  goto: boolean;
  /** Target options (`--to-destination`, `--or-mark`, ...). */
  targetOpts: Record<string, string>;
  /** The rule text without `-A CHAIN`. */
  text: string;
}

/** A chain: policy for built-ins, `-` for user chains. */
export interface Chain {
  name: string;
  policy: string;
  rules: Rule[];
}

/** Splits a rule line into words, honouring double quotes (as iptables-restore does). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '"') {
      inQuote = !inQuote;
      has = true;
    } else if (!inQuote && /\s/.test(ch)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (inQuote) throw new Error(`unterminated quote in rule: ${line}`);
  if (has) out.push(cur);
  return out;
}

const SHORT: Record<string, string> = {
  '-s': 'src',
  '--source': 'src',
  '-d': 'dst',
  '--destination': 'dst',
  '-p': 'proto',
  '--protocol': 'proto',
  '-i': 'in',
  '--in-interface': 'in',
  '-o': 'out',
  '--out-interface': 'out',
};

const FLAG_OPTS = new Set([
  '--rcheck',
  '--set',
  '--reap',
  '--update',
  '--remove',
  '--rsource',
  '--rdest',
  '--random-fully',
  '--random',
]);

/** Parses the words of a rule after `-A CHAIN` (or `-I CHAIN [n]`). */
export function parseRule(words: string[]): Rule {
  const matches: Match[] = [];
  let target: string | undefined;
  let goto = false;
  const targetOpts: Record<string, string> = {};
  let current: Match | undefined;
  let negate = false;
  let inTarget = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '!') {
      negate = true;
      continue;
    }
    if (SHORT[w]) {
      const v = words[++i];
      if (v === undefined) throw new Error(`option ${w} needs a value`);
      matches.push({ kind: SHORT[w]!, negate, opts: { value: v } });
      negate = false;
      continue;
    }
    if (w === '-m' || w === '--match') {
      const mod = words[++i];
      if (!mod) throw new Error('-m needs a module name');
      current = { kind: mod, negate: false, opts: {} };
      matches.push(current);
      inTarget = false;
      continue;
    }
    if (w === '-j' || w === '--jump' || w === '-g' || w === '--goto') {
      target = words[++i];
      if (!target) throw new Error(`${w} needs a target`);
      goto = w === '-g' || w === '--goto';
      inTarget = true;
      continue;
    }
    if (w.startsWith('--')) {
      const next = words[i + 1];
      const isFlag =
        FLAG_OPTS.has(w) ||
        next === undefined ||
        (next.startsWith('-') && !/^-\d/.test(next)) ||
        next === '!';
      const value = isFlag ? '' : words[++i]!;
      if (
        !inTarget &&
        (w === '--dport' || w === '--sport') &&
        !['tcp', 'udp', 'sctp'].includes(current?.kind ?? '')
      ) {
        // `-p tcp --dport N` without `-m tcp`: iptables loads the protocol's match implicitly.
        const proto = matches.find((m) => m.kind === 'proto')?.opts.value ?? 'tcp';
        current = { kind: proto, negate: false, opts: {} };
        matches.push(current);
      }
      if (inTarget) targetOpts[w] = value;
      else if (current) {
        current.opts[w] = value;
        if (negate) current.opts[`!${w}`] = '1';
      } else throw new Error(`option ${w} outside of a match module`);
      negate = false;
      continue;
    }
    throw new Error(`unexpected word "${w}" in rule`);
  }
  return {
    matches,
    target,
    goto,
    targetOpts,
    text: words.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' '),
  };
}

/** A set of tables of chains. */
export class IptablesRuleset {
  readonly tables = new Map<string, Map<string, Chain>>();

  /** Parses iptables-save output (or a restore payload) into a fresh ruleset. */
  static parse(text: string): IptablesRuleset {
    const rs = new IptablesRuleset();
    rs.restore(text, { noflush: false });
    return rs;
  }

  /** A table, created with its built-in chains on first use. */
  table(name: string): Map<string, Chain> {
    let t = this.tables.get(name);
    if (!t) {
      t = new Map();
      for (const c of BUILTIN_CHAINS[name] ?? []) t.set(c, { name: c, policy: 'ACCEPT', rules: [] });
      this.tables.set(name, t);
    }
    return t;
  }

  /** Names of the chains in a table. */
  chains(table: string): string[] {
    return [...this.table(table).keys()];
  }

  /**
   * Applies an iptables-restore payload atomically. With noflush false, each table named in the
   * payload is replaced whole (like plain iptables-restore); with noflush true only declared
   * chains are flushed. Throws (leaving the ruleset unchanged) on anything the kernel refuses.
   */
  restore(payload: string, opts: { noflush: boolean }): void {
    const staged = new Map<string, Map<string, Chain>>();
    for (const [k, t] of this.tables)
      staged.set(k, new Map([...t].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])));
    let table: Map<string, Chain> | undefined;
    let tableName = '';
    const lines = payload.split('\n');
    lines.forEach((raw, idx) => {
      const line = raw.trim();
      const at = `line ${idx + 1}`;
      if (!line || line.startsWith('#')) return;
      if (line.startsWith('*')) {
        tableName = line.slice(1);
        if (!BUILTIN_CHAINS[tableName]) throw new Error(`${at}: unknown table "${tableName}"`);
        table = new Map();
        for (const c of BUILTIN_CHAINS[tableName]!) table.set(c, { name: c, policy: 'ACCEPT', rules: [] });
        if (opts.noflush && staged.has(tableName)) table = staged.get(tableName)!;
        staged.set(tableName, table);
        return;
      }
      if (!table) throw new Error(`${at}: rule outside of a table`);
      if (line === 'COMMIT') {
        validate(tableName, table);
        table = undefined;
        return;
      }
      if (line.startsWith(':')) {
        const [name, policy] = line.slice(1).split(/\s+/);
        if (!name) throw new Error(`${at}: empty chain name`);
        if (name.length > 28) throw new Error(`${at}: chain name "${name}" longer than 28 characters`);
        const existing = table.get(name);
        // Like iptables-restore: a built-in chain's line only sets its policy; a user chain's
        // line flushes it (or creates it).
        const builtin = (BUILTIN_CHAINS[tableName] ?? []).includes(name);
        if (!existing) table.set(name, { name, policy: policy ?? '-', rules: [] });
        else {
          if (!builtin) existing.rules = [];
          if (policy && policy !== '-') existing.policy = policy;
        }
        return;
      }
      const words = tokenize(line);
      const op = words[0];
      const chainName = words[1];
      if (!chainName) throw new Error(`${at}: ${op} needs a chain`);
      const chain = table.get(chainName);
      switch (op) {
        case '-A':
        case '--append': {
          if (!chain) throw new Error(`${at}: chain "${chainName}" does not exist`);
          chain.rules.push(parseOrThrow(words.slice(2), at));
          break;
        }
        case '-I':
        case '--insert': {
          if (!chain) throw new Error(`${at}: chain "${chainName}" does not exist`);
          let rest = words.slice(2);
          let pos = 1;
          if (rest[0] && /^\d+$/.test(rest[0])) {
            pos = Number(rest[0]);
            rest = rest.slice(1);
          }
          if (pos < 1 || pos > chain.rules.length + 1) throw new Error(`${at}: index ${pos} out of range`);
          chain.rules.splice(pos - 1, 0, parseOrThrow(rest, at));
          break;
        }
        case '-D':
        case '--delete': {
          if (!chain) throw new Error(`${at}: chain "${chainName}" does not exist`);
          const rule = parseOrThrow(words.slice(2), at);
          const i = chain.rules.findIndex((r) => sameRule(r, rule));
          if (i < 0) throw new Error(`${at}: no such rule in ${chainName}`);
          chain.rules.splice(i, 1);
          break;
        }
        case '-N':
        case '--new-chain':
          if (chain) throw new Error(`${at}: chain "${chainName}" already exists`);
          table.set(chainName, { name: chainName, policy: '-', rules: [] });
          break;
        case '-F':
        case '--flush':
          if (!chain) throw new Error(`${at}: chain "${chainName}" does not exist`);
          chain.rules = [];
          break;
        case '-X':
        case '--delete-chain': {
          if (!chain) throw new Error(`${at}: chain "${chainName}" does not exist`);
          if ((BUILTIN_CHAINS[tableName] ?? []).includes(chainName))
            throw new Error(`${at}: cannot delete built-in chain ${chainName}`);
          if (chain.rules.length > 0) throw new Error(`${at}: chain "${chainName}" is not empty`);
          for (const c of table.values())
            if (c.rules.some((r) => r.target === chainName))
              throw new Error(`${at}: chain "${chainName}" is still referenced from ${c.name}`);
          table.delete(chainName);
          break;
        }
        default:
          throw new Error(`${at}: unsupported command "${op}"`);
      }
    });
    if (table) throw new Error(`table "${tableName}" not terminated by COMMIT`);
    this.tables.clear();
    for (const [k, v] of staged) this.tables.set(k, v);
  }

  /** Renders like iptables-save (tables in a fixed order, chains declared before rules). */
  save(tables?: string[]): string {
    let out = '';
    for (const name of tables ?? [...this.tables.keys()].sort()) {
      const t = this.tables.get(name);
      if (!t) continue;
      out += `*${name}\n`;
      const builtins = BUILTIN_CHAINS[name] ?? [];
      const ordered = [
        ...builtins.filter((b) => t.has(b)),
        ...[...t.keys()].filter((k) => !builtins.includes(k)).sort(),
      ];
      for (const c of ordered) out += `:${c} ${t.get(c)!.policy === '-' ? '-' : t.get(c)!.policy} [0:0]\n`;
      for (const c of ordered) for (const r of t.get(c)!.rules) out += `-A ${c} ${r.text}\n`;
      out += 'COMMIT\n';
    }
    return out;
  }
}

function parseOrThrow(words: string[], at: string): Rule {
  try {
    return parseRule(words);
  } catch (e) {
    throw new Error(`${at}: ${(e as Error).message}`);
  }
}

function sameRule(a: Rule, b: Rule): boolean {
  return (
    JSON.stringify([a.matches, a.target, a.goto, a.targetOpts]) ===
    JSON.stringify([b.matches, b.target, b.goto, b.targetOpts])
  );
}

function validate(tableName: string, table: Map<string, Chain>): void {
  for (const c of table.values())
    for (const r of c.rules) {
      if (!r.target || BUILTIN_TARGETS.has(r.target)) continue;
      if (!table.has(r.target))
        throw new Error(
          `${tableName}: rule in ${c.name} jumps to missing chain "${r.target}" (Couldn't load target)`,
        );
    }
}
