/**
 * Where a cell runs, and how a bare `%%cluster` learns its cluster. Pure
 * functions: the executor plugin and the unit tests use them alike.
 */
import { CELL_MAGIC, LINE_MAGIC, isClusterCell } from '../../shared/magic';
import { BRIDGE_KERNEL_NAME } from '../tokens';

export type CellRoute = 'bridge' | 'default';

/**
 * `bridge` for `%%cluster` cells and `%cluster ...` line-magic cells in a
 * notebook on any other kernel; `default` for everything else, and for every
 * cell of a notebook whose own kernel is the bridge (it runs plain cells on
 * its default cluster by itself).
 */
export function routeCell(
  source: string,
  notebookKernelName?: string | null
): CellRoute {
  if (notebookKernelName === BRIDGE_KERNEL_NAME) {
    return 'default';
  }
  if (isClusterCell(source) || isClusterLineCell(source)) {
    return 'bridge';
  }
  return 'default';
}

/** True when the first non-blank line is a `%cluster` line magic. */
export function isClusterLineCell(source: string): boolean {
  const first = Private.firstLine(source).trimStart();
  return first === LINE_MAGIC || first.startsWith(LINE_MAGIC + ' ');
}

/**
 * The cluster a `%%cluster` line names, `null` when it names none (bare), or
 * `undefined` when the source is not a `%%cluster` cell.
 */
export function magicClusterName(source: string): string | null | undefined {
  if (!isClusterCell(source)) {
    return undefined;
  }
  const line = Private.firstLine(source).trimStart();
  const tokens = Private.tokenize(line.slice(CELL_MAGIC.length));
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.startsWith('-')) {
      if (!token.includes('=') && !Private.FLAGS.has(token)) {
        i++; // skip the option's value
      }
      continue;
    }
    return token;
  }
  return null;
}

/**
 * Make a bare `%%cluster` explicit: `%%cluster --gpus 1` becomes
 * `%%cluster NAME --gpus 1`. Anything else is returned unchanged, as is the
 * source when no cluster is known. Line count and the body never change, so
 * tracebacks keep pointing at the cell's own lines.
 */
export function resolveBareMagic(
  source: string,
  cluster: string | undefined | null
): string {
  if (!cluster || magicClusterName(source) !== null) {
    return source;
  }
  const index = source.indexOf(CELL_MAGIC);
  const at = index + CELL_MAGIC.length;
  return `${source.slice(0, at)} ${Private.quote(cluster)}${source.slice(at)}`;
}

/**
 * Put `%%cluster NAME` on a cell: replace the name of an existing magic line,
 * or add a new first line. Used by "run cell on cluster...".
 */
export function withClusterMagic(source: string, cluster: string): string {
  const name = magicClusterName(source);
  if (name === undefined) {
    return `${CELL_MAGIC} ${Private.quote(cluster)}\n${source}`;
  }
  if (name === null) {
    return resolveBareMagic(source, cluster);
  }
  const index = source.indexOf(CELL_MAGIC);
  const lineEnd = source.indexOf('\n', index);
  const end = lineEnd === -1 ? source.length : lineEnd;
  const line = source.slice(index, end);
  const rest = line.slice(CELL_MAGIC.length);
  const quoted = Private.findToken(rest, name);
  const updated =
    quoted === -1
      ? `${CELL_MAGIC} ${Private.quote(cluster)}${rest}`
      : CELL_MAGIC +
        rest.slice(0, quoted.start) +
        Private.quote(cluster) +
        rest.slice(quoted.end);
  return source.slice(0, index) + updated + source.slice(end);
}

namespace Private {
  /** Options without a value; every other `--option` takes the next token. */
  export const FLAGS = new Set(['--detach', '--dry-run', '--help', '-h']);

  export function firstLine(source: string): string {
    return source.replace(/^\s*\n/, '').split('\n', 1)[0] ?? '';
  }

  /** Shell-like words: whitespace separated, '...' and "..." group. */
  export function tokenize(text: string): string[] {
    const tokens: string[] = [];
    const re = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text))) {
      tokens.push(m[1] ?? m[2] ?? m[3]);
    }
    return tokens;
  }

  /** Position of the first word equal to `word` (quoted or not). */
  export function findToken(
    text: string,
    word: string
  ): { start: number; end: number } | -1 {
    const re = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g;
    let m: RegExpExecArray | null;
    let skipNext = false;
    while ((m = re.exec(text))) {
      const token = m[1] ?? m[2] ?? m[3];
      if (skipNext) {
        skipNext = false;
        continue;
      }
      if (token.startsWith('-')) {
        skipNext = !token.includes('=') && !FLAGS.has(token);
        continue;
      }
      if (token === word) {
        return { start: m.index, end: m.index + m[0].length };
      }
    }
    return -1;
  }

  export function quote(name: string): string {
    return /^[\w.@:+-]+$/.test(name) ? name : `'${name.replace(/'/g, '')}'`;
  }
}
