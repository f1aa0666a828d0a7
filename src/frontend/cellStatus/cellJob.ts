/**
 * The job a cell last ran, kept in its metadata (`cluster_bridge.jobId`) so
 * that after a reload the cell still names its job (to attach or cancel).
 * Metadata is read back only when it has the shape of a job id.
 */
import { looksLikeJobId } from '../../shared/magic';
import type { IStatusPayload } from '../../shared/mime';

/** Cell metadata key. */
export const CELL_METADATA_KEY = 'cluster_bridge';

/** The part of a cell model used here. */
export interface ICellMetadata {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
}

/** The job id in the cell's metadata, or undefined when absent or malformed. */
export function readCellJobId(model: ICellMetadata): string | undefined {
  const meta = model.getMetadata(CELL_METADATA_KEY) as
    { jobId?: unknown } | undefined;
  const id = meta && typeof meta === 'object' ? meta.jobId : undefined;
  return looksLikeJobId(id) ? id : undefined;
}

/** Records the job of a status push; writes only when the id changed. */
export function writeCellJob(
  model: ICellMetadata,
  payload: Pick<IStatusPayload, 'jobId'>
): void {
  if (!looksLikeJobId(payload.jobId)) {
    return;
  }
  if (readCellJobId(model) === payload.jobId) {
    return;
  }
  const old = model.getMetadata(CELL_METADATA_KEY);
  model.setMetadata(CELL_METADATA_KEY, {
    ...(old && typeof old === 'object' ? old : {}),
    jobId: payload.jobId
  });
}
