/**
 * Where a cell runs, and how a bare `%%cluster` learns its cluster. Pure
 * functions over the shared magic parser (src/shared/magic.ts): the executor
 * plugin and the unit tests use them alike.
 */
import {
  CELL_MAGIC,
  CLUSTER_METADATA_KEY,
  checkClusterName,
  COUNT_METADATA_KEY,
  LINE_MAGIC,
  MAGIC_OPTIONS,
  isClusterCell,
  parseCell,
  tokenize,
  type IToken
} from '../../shared/magic';
import { VARS_IN_METADATA_KEY, VARS_OUT_METADATA_KEY } from '../../shared/data';
import { NOTEBOOK_METADATA_KEY } from '../../shared/sessions';
import type { PickedCluster } from '../pickedCluster';
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
  const first = Private.magicLine(source).text.trimStart();
  return /^%cluster(\s|$)/.test(first) && first.startsWith(LINE_MAGIC);
}

/**
 * The cluster a `%%cluster` line names, `null` when it names none (bare), or
 * `undefined` when the source is not a `%%cluster` cell or its line is
 * malformed (the bridge reports that; nothing is rewritten).
 */
export function magicClusterName(source: string): string | null | undefined {
  const parsed = parseCell(source);
  if (parsed.kind !== 'cluster') {
    return undefined;
  }
  return parsed.request.cluster ?? null;
}

/**
 * Execute-request metadata keys that only this frontend sets. A cell's own
 * metadata travels with every execute request (JupyterLab sends it), so a
 * cell that carries one of these could choose a cluster or a notebook's
 * session without showing it.
 */
export const RESERVED_METADATA_KEYS = [
  CLUSTER_METADATA_KEY,
  COUNT_METADATA_KEY,
  NOTEBOOK_METADATA_KEY,
  // A folder named here would be read and sent to the cluster.
  VARS_IN_METADATA_KEY,
  VARS_OUT_METADATA_KEY
];

/**
 * Why a cell must not run, or null. It must not when its metadata holds a
 * reserved key, or when it would use the notebook's picked cluster (a bare
 * `%%cluster`; any plain cell of a Cluster Bridge notebook) and the notebook
 * metadata holds something that is not a cluster name.
 */
export function refusal(
  source: string,
  notebookKernelName: string | null | undefined,
  picked: PickedCluster,
  cellMetadataKeys: ReadonlyArray<string>
): string | null {
  const reserved = RESERVED_METADATA_KEYS.find(key =>
    cellMetadataKeys.includes(key)
  );
  if (reserved) {
    return (
      `This cell's metadata holds "${reserved}", which only Cluster Bridge sets when it runs a cell. ` +
      'Nothing was run. Remove the key from the cell metadata (Property Inspector > Advanced Tools).'
    );
  }
  if (picked.kind !== 'invalid') {
    return null;
  }
  const parsed = parseCell(source);
  const usesPicked =
    magicClusterName(source) === null ||
    (parsed.kind === 'code' && notebookKernelName === BRIDGE_KERNEL_NAME);
  return usesPicked ? picked.error : null;
}

/**
 * Execute metadata for a cell routed to the bridge. Its source goes as it is;
 * a bare `%%cluster` learns the notebook's picked cluster here, never by
 * splicing text into the cell, so nothing runs that the cell does not show.
 */
export function remoteRunMetadata(
  source: string,
  picked: PickedCluster
): { [key: string]: string } {
  if (picked.kind !== 'name' || magicClusterName(source) !== null) {
    return {};
  }
  return { [CLUSTER_METADATA_KEY]: picked.name };
}

/**
 * Put `%%cluster NAME` on a cell: name a bare magic, replace the name of an
 * explicit one, or add a first line to a plain cell ("run cell on cluster").
 * A malformed magic line gets a new first line too; the bridge then reports
 * the old line's error as cell code, so nothing runs silently elsewhere.
 * The edit is the visible point of the command; the name is checked first
 * (throws MagicError).
 */
export function withClusterMagic(source: string, cluster: string): string {
  checkClusterName(cluster);
  const name = magicClusterName(source);
  if (name === undefined) {
    return `${CELL_MAGIC} ${cluster}\n${source}`;
  }
  const line = Private.magicLine(source);
  if (name === null) {
    const at = line.start + line.text.indexOf(CELL_MAGIC) + CELL_MAGIC.length;
    return `${source.slice(0, at)} ${cluster}${source.slice(at)}`;
  }
  const argsAt = line.text.indexOf(CELL_MAGIC) + CELL_MAGIC.length;
  const token = Private.clusterToken(line.text.slice(argsAt));
  if (!token) {
    return source;
  }
  const from = line.start + argsAt + token.start;
  const to = line.start + argsAt + token.end;
  return source.slice(0, from) + cluster + source.slice(to);
}

namespace Private {
  /** The first non-blank line and its offset in the source. */
  export function magicLine(source: string): { text: string; start: number } {
    let start = 0;
    while (start <= source.length) {
      const end = source.indexOf('\n', start);
      const text = source.slice(start, end === -1 ? undefined : end);
      if (text.trim() !== '' || end === -1) {
        return { text: text.replace(/\r$/, ''), start };
      }
      start = end + 1;
    }
    return { text: '', start: 0 };
  }

  /** The positional (cluster) token of a `%%cluster` line's arguments. */
  export function clusterToken(args: string): IToken | null {
    const tokens = tokenize(args);
    for (let i = 0; i < tokens.length; i++) {
      const text = tokens[i].text;
      if (!text.startsWith('-')) {
        return tokens[i];
      }
      const name = text.slice(2).split('=', 1)[0];
      const option = MAGIC_OPTIONS.find(o => o.name === name);
      if (option?.value !== undefined && !text.includes('=')) {
        i++; // its value
      }
    }
    return null;
  }
}
