/**
 * The bridge's own output types, rendered by the frontend's mime renderers and
 * always sent with a text/plain fallback for other frontends.
 */
import type { IGpuDevice, JobEndState, JobPhase } from './events';

export const STATUS_MIME = 'application/vnd.cluster-bridge.status+json';
export const GPU_MIME = 'application/vnd.cluster-bridge.gpu+json';

export interface IStatusPayload {
  jobId: string;
  cluster: string;
  phase: JobPhase;
  /** Scheduler job id (SLURM/SGE/PBS) or remote pid for direct runs. */
  schedulerId?: string;
  scheduler?: string;
  /** Pending reason or other detail ("Resources", "building env cb-1a2b"). */
  detail?: string;
  node?: string;
  /** Unix ms when the cell started, for the live elapsed time. */
  startedAt: number;
  /** Unix ms when it ended (set once terminal). */
  endedAt?: number;
  endState?: JobEndState;
  exitCode?: number | null;
  /** Id of the session the cell runs in (absent for one-off jobs). */
  session?: string;
  /** Unix ms when the session's allocation reaches its time limit. */
  deadline?: number;
}

export interface IGpuPayload {
  host?: string;
  cudaVisibleDevices?: string;
  devices: IGpuDevice[];
  source: string;
  /** Seconds the cell ran on the remote. */
  duration?: number;
}
