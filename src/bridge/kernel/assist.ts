/**
 * Editor help for the bridge kernel: completion of magic options, cluster
 * names and job ids; inspection (magic help); is_complete for the console.
 * Pure functions over the cell text, so the tests need nothing else.
 */
import {
  CELL_MAGIC,
  IMagicOption,
  isClusterCell,
  LINE_COMMANDS,
  LINE_MAGIC,
  MAGIC_OPTIONS,
  tokenize,
  usage
} from '../../shared/magic';
import type {
  ICompleteResult,
  IInspectResult,
  IIsCompleteResult
} from './handler';
import { lastLineIndent, pythonIsComplete } from './pythonComplete';

/** What completion may offer, read when asked. */
export interface ICompletionSource {
  clusters(): string[];
  jobIds(): string[];
  /** Named envs of a cluster (`--env`), the default cluster when undefined. */
  envs(cluster: string | undefined): string[];
}

export function complete(
  code: string,
  cursor: number,
  source: ICompletionSource
): ICompleteResult {
  const none = { matches: [], cursor_start: cursor, cursor_end: cursor };
  const lineStart = code.lastIndexOf('\n', cursor - 1) + 1;
  let lineEnd = code.indexOf('\n', cursor);
  if (lineEnd < 0) {
    lineEnd = code.length;
  }
  const line = code.slice(lineStart, lineEnd);
  const indent = line.length - line.trimStart().length;
  const col = cursor - lineStart;
  const before = line.slice(indent, col);
  if (!before.startsWith('%')) {
    return none;
  }
  let tokens;
  try {
    tokens = tokenize(before);
  } catch {
    return none; // inside an open quote
  }
  const atNewWord = before.length === 0 || /\s$/.test(before);
  const current = atNewWord ? undefined : tokens[tokens.length - 1];
  const prefix = current?.text ?? '';
  const start = current ? lineStart + indent + current.start : cursor;
  // Replace the rest of the word after the cursor too.
  let end = cursor;
  while (end < lineEnd && !/\s/.test(code[end])) {
    end++;
  }
  const previous = tokens
    .slice(0, atNewWord ? tokens.length : tokens.length - 1)
    .map(t => t.text);
  const result = (candidates: string[]): ICompleteResult => ({
    matches: [...new Set(candidates.filter(c => c.startsWith(prefix)))].sort(),
    cursor_start: start,
    cursor_end: end,
    metadata: {}
  });

  if (previous.length === 0) {
    return result([CELL_MAGIC, LINE_MAGIC]);
  }
  if (previous[0] === CELL_MAGIC) {
    const last = previous[previous.length - 1];
    const option = Private.valueOption(last);
    if (option) {
      if (option.choices) {
        return result(option.choices);
      }
      if (option.name === 'env') {
        return result(source.envs(Private.clusterOf(previous.slice(1))));
      }
      return result([]);
    }
    if (prefix.startsWith('-')) {
      const used = new Set(
        previous
          .filter(t => t.startsWith('--'))
          .map(t => t.slice(2).split('=')[0])
      );
      return result(
        MAGIC_OPTIONS.filter(o => !used.has(o.name)).map(o => `--${o.name}`)
      );
    }
    if (Private.clusterOf(previous.slice(1)) === undefined) {
      return result(source.clusters());
    }
    return result([]);
  }
  if (previous[0] === LINE_MAGIC) {
    if (previous.length === 1) {
      return result(LINE_COMMANDS.map(c => c.name));
    }
    if (previous.length === 2) {
      switch (previous[1]) {
        case 'use':
        case 'doctor':
        case 'clean':
        case 'session':
        case 'restart':
        case 'stop':
          return result(source.clusters());
        case 'attach':
        case 'cancel':
          return result(source.jobIds());
      }
    }
  }
  return none;
}

export function inspect(code: string, cursor: number): IInspectResult {
  const lineStart = code.lastIndexOf('\n', cursor - 1) + 1;
  let lineEnd = code.indexOf('\n', cursor);
  if (lineEnd < 0) {
    lineEnd = code.length;
  }
  const line = code.slice(lineStart, lineEnd).trimStart();
  if (!line.startsWith(LINE_MAGIC) && !line.startsWith(CELL_MAGIC)) {
    return { found: false, data: {} };
  }
  // The word under the cursor.
  let a = cursor;
  while (a > lineStart && !/\s/.test(code[a - 1])) {
    a--;
  }
  let b = cursor;
  while (b < lineEnd && !/\s/.test(code[b])) {
    b++;
  }
  const word = code.slice(a, b).split('=')[0];
  const option = MAGIC_OPTIONS.find(o => `--${o.name}` === word);
  if (option) {
    return {
      found: true,
      data: {
        'text/plain': `--${option.name}${option.value ? ' ' + option.value : ''}: ${option.help}`
      }
    };
  }
  const command = LINE_COMMANDS.find(c => c.name === word);
  if (command && !line.startsWith(CELL_MAGIC)) {
    return {
      found: true,
      data: {
        'text/plain':
          `%cluster ${command.name} ${command.args.join(' ')}`.trimEnd() +
          `: ${command.help}`
      }
    };
  }
  return { found: true, data: { 'text/plain': usage() } };
}

/** is_complete: magics by their own rules, Python as IPython answers (pythonComplete.ts). */
export function isComplete(code: string): IIsCompleteResult {
  const first = code.replace(/^\s*\n/, '').trimStart();
  if (isClusterCell(code)) {
    // Like IPython's cell magics: the cell ends with a blank line.
    const lines = code.split('\n');
    return lines.length > 1 &&
      lines[lines.length - 1].trim() === '' &&
      lines[lines.length - 2].trim() === ''
      ? { status: 'complete' }
      : { status: 'incomplete', indent: lastLineIndent(code) };
  }
  if (first.startsWith(LINE_MAGIC + ' ') || first === LINE_MAGIC) {
    return { status: 'complete' };
  }
  return pythonIsComplete(code);
}

namespace Private {
  export function valueOption(token: string): IMagicOption | undefined {
    if (!token.startsWith('--') || token.includes('=')) {
      return undefined;
    }
    const o = MAGIC_OPTIONS.find(m => `--${m.name}` === token);
    return o && o.value !== undefined ? o : undefined;
  }

  /** The positional cluster name among the magic arguments, if any. */
  export function clusterOf(args: string[]): string | undefined {
    for (let i = 0; i < args.length; i++) {
      const t = args[i];
      if (t.startsWith('-')) {
        if (valueOption(t)) {
          i++;
        }
        continue;
      }
      return t;
    }
    return undefined;
  }
}
