/**
 * Line buffers for rule generation (upstream proxyutil.LineBuffer): `write` joins words with
 * spaces into one line. The discarding variant counts lines but keeps nothing, so a partial sync
 * can run the same generation code for unchanged services and throw their chains away.
 */

/** Anything `write` accepts: words, or arrays of words (flattened). */
export type Words = (string | number | readonly (string | number)[])[];

/** Collects generated lines. */
export interface LineBuffer {
  write(...words: Words): void;
  /** Appends a line verbatim. */
  writeLine(line: string): void;
  readonly lines: number;
  toString(): string;
}

function join(words: Words): string {
  return words.flat().join(' ');
}

/** A buffer that keeps its lines. */
export class RealLineBuffer implements LineBuffer {
  private buf: string[] = [];
  write(...words: Words): void {
    this.buf.push(join(words));
  }
  writeLine(line: string): void {
    this.buf.push(line);
  }
  get lines(): number {
    return this.buf.length;
  }
  toString(): string {
    return this.buf.length ? this.buf.join('\n') + '\n' : '';
  }
}

/** A buffer that counts lines and drops them. */
export class DiscardLineBuffer implements LineBuffer {
  private n = 0;
  write(): void {
    this.n++;
  }
  writeLine(): void {
    this.n++;
  }
  get lines(): number {
    return this.n;
  }
  toString(): string {
    return '';
  }
}
