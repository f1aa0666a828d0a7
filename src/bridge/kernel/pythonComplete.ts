/**
 * is_complete for plain Python, following IPython's
 * TransformerManager.check_complete (the reference ipykernel answers with):
 * an open bracket, string or backslash is incomplete at the last line's
 * indent; a last line ending in `:` opens a block (+4); code that cannot
 * parse is invalid; code that ends inside an indented block is complete only
 * once a newline follows it. No Python parser here, so "cannot parse" means
 * the mistakes a scanner can see (isComplete.spec.ts compares with IPython).
 */
import type { IIsCompleteResult } from './handler';

export function pythonIsComplete(code: string): IIsCompleteResult {
  const scan = Private.scan(code);
  if (scan.invalid) {
    return { status: 'invalid' };
  }
  if (scan.open) {
    return Private.incomplete(code);
  }
  const lines = scan.lines;
  if (lines.length === 0) {
    return { status: 'complete' };
  }
  const last = lines[lines.length - 1];
  if (last.text.endsWith(':')) {
    return { status: 'incomplete', indent: ' '.repeat(last.indent + 4) };
  }
  if (!Private.parses(lines)) {
    return { status: 'invalid' };
  }
  if (last.text.startsWith('@')) {
    // A decorator waits for its def.
    return Private.incomplete(code);
  }
  if (last.indent > lines[0].indent && !Private.endsWithNewline(code)) {
    return Private.incomplete(code);
  }
  return { status: 'complete' };
}

/** The indent of the last line (IPython's find_last_indent), as spaces. */
export function lastLineIndent(code: string): string {
  const body = code.endsWith('\n') ? code.slice(0, -1) : code;
  const lead = /^[ \t]*/.exec(body.slice(body.lastIndexOf('\n') + 1))![0];
  return ' '.repeat(lead.replace(/\t/g, '    ').length);
}

namespace Private {
  /** One logical line: strings blanked to `S`, comments dropped, trimmed. */
  export interface ILogicalLine {
    text: string;
    /** Column of its first character (tabs count 4, as IPython does). */
    indent: number;
  }

  export interface IScan {
    lines: ILogicalLine[];
    /** Ends inside a bracket, a triple-quoted string or after a backslash. */
    open: boolean;
    /** A bracket closed by the wrong one, or a one-line string left open. */
    invalid: boolean;
  }

  const OPEN: { [c: string]: string } = { '(': ')', '[': ']', '{': '}' };
  const CLOSE = new Set([')', ']', '}']);

  export function scan(code: string): IScan {
    const lines: ILogicalLine[] = [];
    const stack: string[] = [];
    let text = '';
    let indent = -1;
    let i = 0;
    const endLine = () => {
      const t = text.trim();
      if (t) {
        lines.push({ text: t, indent: Math.max(indent, 0) });
      }
      text = '';
      indent = -1;
    };
    while (i < code.length) {
      const c = code[i];
      if (indent < 0 && c !== ' ' && c !== '\t' && c !== '\n' && c !== '#') {
        indent = columnOf(code, i);
      }
      if (c === '#') {
        while (i < code.length && code[i] !== '\n') {
          i++;
        }
        continue;
      }
      if (c === '\\') {
        if (i === code.length - 1) {
          return { lines, open: true, invalid: false };
        }
        if (code[i + 1] === '\n') {
          text += ' ';
          i += 2;
          continue;
        }
      }
      if (c === '"' || c === "'") {
        const triple = code.startsWith(c.repeat(3), i);
        const quote = triple ? c.repeat(3) : c;
        i += quote.length;
        let closed = false;
        while (i < code.length) {
          if (code[i] === '\\') {
            i += 2;
            continue;
          }
          if (code.startsWith(quote, i)) {
            i += quote.length;
            closed = true;
            break;
          }
          if (!triple && code[i] === '\n') {
            return { lines, open: false, invalid: true };
          }
          i++;
        }
        if (!closed) {
          return triple
            ? { lines, open: true, invalid: false }
            : { lines, open: false, invalid: true };
        }
        text += 'S';
        continue;
      }
      if (OPEN[c]) {
        stack.push(OPEN[c]);
      } else if (CLOSE.has(c) && stack.pop() !== c) {
        return { lines, open: false, invalid: true };
      }
      if (c === '\n' && stack.length === 0) {
        endLine();
      } else {
        text += c === '\n' ? ' ' : c;
      }
      i++;
    }
    if (stack.length > 0) {
      return { lines, open: true, invalid: false };
    }
    endLine();
    return { lines, open: false, invalid: false };
  }

  /** IPython's answer for code that goes on: the last line's indent. */
  export function incomplete(code: string): IIsCompleteResult {
    return { status: 'incomplete', indent: lastLineIndent(code) };
  }

  /** True when a newline follows the last non-blank character. */
  export function endsWithNewline(code: string): boolean {
    for (let i = code.length - 1; i >= 0; i--) {
      if (code[i] === '\n') {
        return true;
      }
      if (code[i].trim()) {
        return false;
      }
    }
    return false;
  }

  const KEYWORDS =
    'False None True and as assert async await break class continue def del ' +
    'elif else except finally for from global if import in is lambda nonlocal ' +
    'not or pass raise return try while with yield';
  const ASSIGNED_KEYWORD = new RegExp(
    `^(${KEYWORDS.split(' ').join('|')})\\s*=(?!=)`
  );
  /** Words a statement cannot end with. */
  const DANGLING_WORD =
    /(^|[^\w.])(and|or|not|in|is|if|else|elif|while|for|with|as|from|import|del|assert|global|nonlocal|lambda|class|def)$/;
  /** A binary operator (or a dot) with nothing after it; `...` is a value. */
  const DANGLING_OPERATOR = /([-+*/%&|^~<>=@]|(^|[^.])\.)$/;

  /** What the parser would refuse among the mistakes a scanner can see. */
  export function parses(lines: ILogicalLine[]): boolean {
    const base = lines[0].indent;
    // Open blocks: their indent and whether they are a function body.
    const blocks: { indent: number; inDef: boolean }[] = [
      { indent: base, inDef: false }
    ];
    let opensBlock = false;
    let opensDef = false;
    for (const line of lines) {
      const top = blocks[blocks.length - 1];
      if (opensBlock) {
        if (line.indent <= top.indent) {
          return false;
        }
        blocks.push({ indent: line.indent, inDef: top.inDef || opensDef });
      } else if (line.indent > top.indent) {
        return false;
      } else {
        while (blocks[blocks.length - 1].indent > line.indent) {
          blocks.pop();
        }
        if (blocks[blocks.length - 1].indent !== line.indent) {
          return false;
        }
      }
      const t = line.text;
      if (
        ASSIGNED_KEYWORD.test(t) ||
        DANGLING_WORD.test(t) ||
        (DANGLING_OPERATOR.test(t) && !/\bimport\s*\*$/.test(t)) ||
        (/^(return|yield)\b/.test(t) && !blocks[blocks.length - 1].inDef)
      ) {
        return false;
      }
      opensBlock = t.endsWith(':');
      opensDef = /^(async\s+)?def\b/.test(t);
    }
    return true;
  }

  function columnOf(code: string, index: number): number {
    const start = code.lastIndexOf('\n', index - 1) + 1;
    return code.slice(start, index).replace(/\t/g, '    ').length;
  }
}
