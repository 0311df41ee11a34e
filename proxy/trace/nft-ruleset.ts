/**
 * An in-memory nftables ruleset: parses `nft -f` scripts (and `nft list` output) and applies
 * them atomically, refusing what the kernel would refuse: a jump/goto or map verdict naming a
 * missing chain, a reference to a missing set/map, deleting a missing table or a chain still in
 * use. Used by the NftRunner fake and by the nft tracer. Supports the subset of the language
 * podnet generates (tables, base/regular chains, rules, maps, sets, elements).
 */

/** A rule: its tokens and original text. */
export interface NftRule {
  tokens: string[];
  text: string;
}

/** A chain; `hook` set for base chains. */
export interface NftChain {
  name: string;
  hook?: { type: string; hook: string; priority: number; policy: string };
  rules: NftRule[];
}

/** A named map or set. */
export interface NftSet {
  name: string;
  kind: 'map' | 'set';
  type: string;
  flags: string[];
  /** Timeout in seconds for dynamic sets (0 = none). */
  timeout: number;
  /** Key (components joined by ' . ') → verdict/value tokens ([] for sets). */
  elements: Map<string, string[]>;
}

/** A table. */
export interface NftTable {
  family: string;
  name: string;
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
}

/** Splits nft text into tokens; newlines become '\n' tokens, quoted strings stay whole (with quotes). */
export function nftTokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\n') {
      out.push('\n');
      i++;
    } else if (ch === ' ' || ch === '\t' || ch === '\r') i++;
    else if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new Error('unterminated string');
      out.push(text.slice(i, end + 1));
      i = end + 1;
    } else if ('{};,'.includes(ch)) {
      out.push(ch);
      i++;
    } else {
      let j = i;
      while (j < text.length && !' \t\r\n{};,"'.includes(text[j]!)) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}

/** Splits tokens into statements at newline/';' outside braces. */
export function statements(tokens: string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let depth = 0;
  for (const t of tokens) {
    if (depth === 0 && (t === '\n' || t === ';')) {
      if (cur.length) out.push(cur);
      cur = [];
      continue;
    }
    if (t === '{') depth++;
    if (t === '}') depth--;
    if (depth < 0) throw new Error('unbalanced "}"');
    // Newlines inside braces are kept: nested bodies split their own statements on them.
    cur.push(t);
  }
  if (depth !== 0) throw new Error('unbalanced "{"');
  if (cur.length) out.push(cur);
  return out;
}

/** Tokens strictly inside the brace block starting at index `open`; returns [inner, indexAfter]. */
function block(tokens: string[], open: number): [string[], number] {
  if (tokens[open] !== '{') throw new Error(`expected "{" but got "${tokens[open] ?? 'end'}"`);
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i] === '{') depth++;
    if (tokens[i] === '}') depth--;
    if (depth === 0) return [tokens.slice(open + 1, i), i + 1];
  }
  throw new Error('unbalanced "{"');
}

const PRIORITY_NAMES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

/** Parses `priority` words (`dstnat - 10`, `-110`, `srcnat`). */
export function parsePriority(words: string[]): number {
  let v = PRIORITY_NAMES[words[0]!] ?? Number(words[0]);
  if (Number.isNaN(v)) throw new Error(`bad priority "${words.join(' ')}"`);
  if (words[1] === '-' || words[1] === '+') v += (words[1] === '-' ? -1 : 1) * Number(words[2]);
  return v;
}

/** Parses nft durations (`300s`, `5m`, `3h`, `1d2h`). */
export function parseDuration(s: string): number {
  let total = 0;
  const re = /(\d+)(ms|d|h|m|s)/g;
  let m: RegExpExecArray | null = re.exec(s);
  if (!m) return Number(s) || 0;
  while (m) {
    const n = Number(m[1]);
    total +=
      m[2] === 'd'
        ? n * 86400
        : m[2] === 'h'
          ? n * 3600
          : m[2] === 'm'
            ? n * 60
            : m[2] === 'ms'
              ? n / 1000
              : n;
    m = re.exec(s);
  }
  return total;
}

function splitElements(inner: string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let depth = 0;
  for (const t of inner) {
    if (t === '\n') continue;
    if (t === '{') depth++;
    if (t === '}') depth--;
    if (t === ',' && depth === 0) {
      if (cur.length) out.push(cur);
      cur = [];
      continue;
    }
    cur.push(t);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Parses `a . b . c : verdict words` into [key, value tokens]. */
export function parseElement(tokens: string[]): [string, string[]] {
  const colon = tokens.indexOf(':');
  const keyToks = colon < 0 ? tokens : tokens.slice(0, colon);
  const key = keyToks.filter((t) => t !== '.').join(' . ');
  return [key, colon < 0 ? [] : tokens.slice(colon + 1)];
}

function tableKey(family: string, name: string): string {
  return `${family} ${name}`;
}

/** Chains, sets and maps named by a rule's tokens. */
function references(tokens: string[]): { chains: string[]; sets: string[] } {
  const chains: string[] = [];
  const sets: string[] = [];
  tokens.forEach((t, i) => {
    if ((t === 'jump' || t === 'goto') && tokens[i + 1]) chains.push(tokens[i + 1]!);
    if (t.startsWith('@')) sets.push(t.slice(1));
  });
  return { chains, sets };
}

/** An nftables ruleset. */
export class NftRuleset {
  tables = new Map<string, NftTable>();

  /** Parses a script into a fresh ruleset. */
  static parse(script: string): NftRuleset {
    const rs = new NftRuleset();
    rs.apply(script);
    return rs;
  }

  /** The table `family name`, if present. */
  table(family: string, name: string): NftTable | undefined {
    return this.tables.get(tableKey(family, name));
  }

  /** Renders one table like `nft list table` (our own layout; the tracer and parser read it back). */
  list(family: string, name: string): string {
    const t = this.table(family, name);
    if (!t) return '';
    let out = `table ${family} ${name} {\n`;
    for (const s of t.sets.values()) {
      out += `\t${s.kind} ${s.name} {\n\t\ttype ${s.type}\n`;
      if (s.flags.length) out += `\t\tflags ${s.flags.join(',')}\n`;
      if (s.timeout) out += `\t\ttimeout ${s.timeout}s\n`;
      if (s.elements.size)
        out += `\t\telements = { ${[...s.elements].map(([k, v]) => (v.length ? `${k} : ${v.join(' ')}` : k)).join(',\n\t\t\t     ')} }\n`;
      out += '\t}\n\n';
    }
    for (const c of t.chains.values()) {
      out += `\tchain ${c.name} {\n`;
      if (c.hook)
        out += `\t\ttype ${c.hook.type} hook ${c.hook.hook} priority ${c.hook.priority}; policy ${c.hook.policy};\n`;
      for (const r of c.rules) out += `\t\t${r.text}\n`;
      out += '\t}\n\n';
    }
    return `${out.replace(/\n\n$/, '\n')}}\n`;
  }

  /** Applies an `nft -f` script as one transaction; throws and changes nothing on error. */
  apply(script: string): void {
    const staged = new Map<string, NftTable>();
    for (const [k, t] of this.tables) staged.set(k, cloneTable(t));
    const deletedChains: string[] = [];
    for (const st of statements(nftTokenize(script))) this.command(staged, st, deletedChains);
    for (const t of staged.values()) validate(t);
    this.tables = staged;
  }

  private command(staged: Map<string, NftTable>, st: string[], deletedChains: string[]): void {
    let w = st;
    let verb = 'add';
    if (['add', 'create', 'delete', 'flush', 'destroy'].includes(w[0]!)) {
      verb = w[0]!;
      w = w.slice(1);
    }
    const obj = w[0];
    const fam = w[1]!;
    const tname = w[2]!;
    const get = () => {
      const t = staged.get(tableKey(fam, tname));
      if (!t) throw new Error(`No such file or directory: table ${fam} ${tname}`);
      return t;
    };
    switch (obj) {
      case 'table': {
        const key = tableKey(fam, tname);
        if (verb === 'delete' || verb === 'destroy') {
          if (!staged.has(key)) {
            if (verb === 'delete') throw new Error(`No such file or directory: delete table ${fam} ${tname}`);
            return;
          }
          staged.delete(key);
          return;
        }
        if (verb === 'flush') {
          for (const c of get().chains.values()) c.rules = [];
          return;
        }
        let t = staged.get(key);
        if (!t) {
          t = { family: fam, name: tname, chains: new Map(), sets: new Map() };
          staged.set(key, t);
        }
        if (w[3] === '{') this.tableBody(t, block(w, 3)[0]);
        return;
      }
      case 'chain': {
        const t = get();
        const name = w[3]!;
        if (verb === 'delete' || verb === 'destroy') {
          if (!t.chains.has(name)) {
            if (verb === 'delete') throw new Error(`No such file or directory: chain ${name}`);
            return;
          }
          t.chains.delete(name);
          deletedChains.push(name);
          return;
        }
        if (verb === 'flush') {
          const c = t.chains.get(name);
          if (!c) throw new Error(`No such file or directory: chain ${name}`);
          c.rules = [];
          return;
        }
        this.chainBody(t, name, w[4] === '{' ? block(w, 4)[0] : []);
        return;
      }
      case 'rule': {
        const t = get();
        const c = t.chains.get(w[3]!);
        if (!c) throw new Error(`No such file or directory: chain ${w[3]}`);
        const toks = w.slice(4).filter((x) => x !== '\n');
        c.rules.push({ tokens: toks, text: toks.join(' ') });
        return;
      }
      case 'map':
      case 'set': {
        const t = get();
        const name = w[3]!;
        if (verb === 'delete' || verb === 'destroy') {
          t.sets.delete(name);
          return;
        }
        if (verb === 'flush') {
          const s = t.sets.get(name);
          if (!s) throw new Error(`No such file or directory: ${obj} ${name}`);
          s.elements.clear();
          return;
        }
        this.setBody(t, obj, name, w[4] === '{' ? block(w, 4)[0] : []);
        return;
      }
      case 'element': {
        const t = get();
        const s = t.sets.get(w[3]!);
        if (!s) throw new Error(`No such file or directory: set ${w[3]}`);
        const [inner] = block(w, 4);
        for (const e of splitElements(inner)) {
          const [k, v] = parseElement(e);
          if (verb === 'delete') {
            if (!s.elements.delete(k)) throw new Error(`No such file or directory: element ${k}`);
          } else s.elements.set(k, v);
        }
        return;
      }
      default:
        throw new Error(`unsupported nft command: ${st.join(' ')}`);
    }
  }

  private tableBody(t: NftTable, inner: string[]): void {
    for (const st of statements(inner)) {
      if (st[0] === 'comment' || st[0] === 'flags') continue;
      if (st[0] === 'chain') this.chainBody(t, st[1]!, st[2] === '{' ? block(st, 2)[0] : []);
      else if (st[0] === 'map' || st[0] === 'set') this.setBody(t, st[0], st[1]!, block(st, 2)[0]);
      else throw new Error(`unexpected "${st.join(' ')}" in table ${t.name}`);
    }
  }

  private chainBody(t: NftTable, name: string, inner: string[]): void {
    let c = t.chains.get(name);
    if (!c) {
      c = { name, rules: [] };
      t.chains.set(name, c);
    }
    for (const st of statements(inner)) {
      if (st[0] === 'type') {
        const hookAt = st.indexOf('hook');
        const prioAt = st.indexOf('priority');
        c.hook = {
          type: st[1]!,
          hook: st[hookAt + 1]!,
          priority: parsePriority(st.slice(prioAt + 1)),
          policy: c.hook?.policy ?? 'accept',
        };
      } else if (st[0] === 'policy') {
        if (c.hook) c.hook.policy = st[1]!;
      } else if (st[0] === 'comment' && st.length === 2) {
        // chain comment
      } else {
        const toks = st.filter((x) => x !== '\n');
        c.rules.push({ tokens: toks, text: toks.join(' ').replace(/ ([,}])/g, '$1') });
      }
    }
  }

  private setBody(t: NftTable, kind: string, name: string, inner: string[]): void {
    let s = t.sets.get(name);
    if (!s) {
      s = { name, kind: kind as 'map' | 'set', type: '', flags: [], timeout: 0, elements: new Map() };
      t.sets.set(name, s);
    }
    for (const st of statements(inner)) {
      if (st[0] === 'type') s.type = st.slice(1).join(' ');
      else if (st[0] === 'flags') s.flags = st.slice(1).filter((x) => x !== ',' && x !== '\n');
      else if (st[0] === 'timeout') s.timeout = parseDuration(st[1]!);
      else if (st[0] === 'elements') {
        const open = st.indexOf('{');
        for (const e of splitElements(block(st, open)[0])) {
          const [k, v] = parseElement(e);
          s.elements.set(k, v);
        }
      }
    }
  }
}

function cloneTable(t: NftTable): NftTable {
  return {
    ...t,
    chains: new Map(
      [...t.chains].map(([k, c]) => [k, { ...c, hook: c.hook && { ...c.hook }, rules: [...c.rules] }]),
    ),
    sets: new Map([...t.sets].map(([k, s]) => [k, { ...s, elements: new Map(s.elements) }])),
  };
}

function validate(t: NftTable): void {
  for (const c of t.chains.values())
    for (const r of c.rules) {
      const ref = references(r.tokens);
      for (const x of ref.chains)
        if (!t.chains.has(x))
          throw new Error(`Could not process rule: No such file or directory: chain ${x} (from ${c.name})`);
      for (const x of ref.sets)
        if (!t.sets.has(x))
          throw new Error(`Could not process rule: No such file or directory: set ${x} (from ${c.name})`);
    }
  for (const s of t.sets.values())
    for (const v of s.elements.values()) {
      const ref = references(v);
      for (const x of ref.chains)
        if (!t.chains.has(x)) throw new Error(`map ${s.name}: element verdict names missing chain ${x}`);
    }
}
