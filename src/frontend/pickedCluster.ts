/**
 * The cluster picked for a notebook, kept in the notebook's metadata as
 * `{ cluster: NAME }` under NOTEBOOK_METADATA_KEY: read by the executor, the
 * commands and the picker, written by the picker.
 *
 * Notebook metadata comes with the file, from whoever wrote it: a value is
 * only ever used after the shared cluster-name check, never as text.
 */
import { checkClusterName, MagicError } from '../shared/magic';
import { NOTEBOOK_METADATA_KEY } from './tokens';

/** The part of a notebook model that holds its metadata. */
export interface INotebookMetadata {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
  deleteMetadata(key: string): void;
}

/** What a notebook's metadata says about its picked cluster. */
export type PickedCluster =
  /** No choice: the notebook follows the default cluster. */
  | { kind: 'default' }
  | { kind: 'name'; name: string }
  /** Something that is not a cluster name: use nothing, say so. */
  | { kind: 'invalid'; error: string };

/** The notebook's picked cluster, checked. */
export function pickedClusterOf(
  model: Pick<INotebookMetadata, 'getMetadata'> | null | undefined
): PickedCluster {
  const meta = model?.getMetadata(NOTEBOOK_METADATA_KEY);
  if (meta === undefined || meta === null) {
    return { kind: 'default' };
  }
  if (typeof meta !== 'object' || Array.isArray(meta)) {
    return Private.invalid(`"${NOTEBOOK_METADATA_KEY}" is not an object`);
  }
  const cluster = (meta as { cluster?: unknown }).cluster;
  if (cluster === undefined || cluster === '') {
    return { kind: 'default' };
  }
  try {
    return { kind: 'name', name: checkClusterName(cluster) };
  } catch (err) {
    if (err instanceof MagicError) {
      return Private.invalid(err.message);
    }
    throw err;
  }
}

/** The picked cluster's name, '' when the notebook follows the default or its value is invalid. */
export function readPickedCluster(
  model: Pick<INotebookMetadata, 'getMetadata'> | null | undefined
): string {
  const picked = pickedClusterOf(model);
  return picked.kind === 'name' ? picked.name : '';
}

/** Picks a cluster ('' for the default), keeping other keys of the entry. */
export function writePickedCluster(
  model: INotebookMetadata,
  name: string
): void {
  if (name) {
    checkClusterName(name);
  }
  const current = model.getMetadata(NOTEBOOK_METADATA_KEY);
  const meta = {
    ...(current && typeof current === 'object' && !Array.isArray(current)
      ? current
      : {})
  } as { cluster?: string };
  if (name) {
    meta.cluster = name;
  } else {
    delete meta.cluster;
  }
  if (Object.keys(meta).length) {
    model.setMetadata(NOTEBOOK_METADATA_KEY, meta);
  } else {
    model.deleteMetadata(NOTEBOOK_METADATA_KEY);
  }
}

namespace Private {
  export function invalid(problem: string): PickedCluster {
    return {
      kind: 'invalid',
      error:
        `This notebook's metadata "${NOTEBOOK_METADATA_KEY}.cluster" does not hold a cluster name (${problem}). ` +
        'Nothing was run. Choose a cluster in the notebook toolbar to replace it.'
    };
  }
}
