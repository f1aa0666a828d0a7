/**
 * Sessions: one live remote Python per (notebook, cluster) that keeps its
 * namespace across cells. The record the bridge keeps, lists and pushes to
 * the frontend (jobs panel, picker), and the metadata key that tells the
 * bridge which notebook a cell comes from.
 */

/** Where a session is in its life. */
export type SessionState =
  /** Submitted to a batch scheduler, waiting for its allocation. */
  | 'queued'
  /** The remote process is starting (VENV2 being ensured). */
  | 'starting'
  /** Live, no cell running. */
  | 'idle'
  /** Live, running a cell (others may wait behind it). */
  | 'busy'
  /** Over: stopped, idle timeout, time limit, or the process died. */
  | 'ended';

export interface ISessionInfo {
  /** Unique id (also the remote folder name under <workDir>/sessions/). */
  id: string;
  cluster: string;
  /** The notebook the session belongs to (its path, or the bridge kernel's id for headless clients). */
  notebook: string;
  /** The resource options it was started with, as a %%cluster line shows them (`--gpus 1 --time 01:00:00`); '' for none. */
  resources: string;
  state: SessionState;
  /** Scheduler kind and id where the session is a batch allocation. */
  scheduler: string;
  schedulerId?: string;
  /** Node the session process runs on. */
  node?: string;
  /** Unix ms. */
  startedAt: number;
  endedAt?: number;
  /** Why it ended, or why it waits (pending reason). */
  reason?: string;
  /** Seconds since the last cell ended (live sessions). */
  idleSeconds?: number;
  /** Resident memory of the session process, bytes. */
  memoryBytes?: number;
  /** CUDA_VISIBLE_DEVICES of the session, '' for none. */
  gpus?: string;
  /** Unix ms when the allocation's time limit ends it, if any. */
  deadline?: number;
  /** Cells run so far. */
  cells?: number;
}

/** Execute-request metadata key: the notebook a `%%cluster` cell comes from (its path). */
export const NOTEBOOK_METADATA_KEY = 'cluster_bridge_notebook';

/** A session is live (not over). */
export function isSessionLive(info: Pick<ISessionInfo, 'state'>): boolean {
  return info.state !== 'ended';
}

/** A notebook key from execute metadata is usable: a path-like string, no control characters. */
export function isNotebookKey(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 4096 &&
    !/[\u0000-\u001f\u007f]/.test(value)
  );
}
