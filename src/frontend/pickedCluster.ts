/**
 * The cluster picked for a notebook, kept in the notebook's metadata as
 * `{ cluster: NAME }` under NOTEBOOK_METADATA_KEY: read by the executor, the
 * commands and the picker, written by the picker.
 */
import { NOTEBOOK_METADATA_KEY } from './tokens';

/** The part of a notebook model that holds its metadata. */
export interface INotebookMetadata {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
  deleteMetadata(key: string): void;
}

/** The picked cluster's name, '' when the notebook follows the default. */
export function readPickedCluster(
  model: Pick<INotebookMetadata, 'getMetadata'> | null | undefined
): string {
  const meta = model?.getMetadata(NOTEBOOK_METADATA_KEY) as
    { cluster?: unknown } | undefined;
  return typeof meta?.cluster === 'string' ? meta.cluster : '';
}

/** Picks a cluster ('' for the default), keeping other keys of the entry. */
export function writePickedCluster(
  model: INotebookMetadata,
  name: string
): void {
  const meta = {
    ...((model.getMetadata(NOTEBOOK_METADATA_KEY) as object) ?? {})
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
