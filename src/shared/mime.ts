/**
 * The bridge's own output types, rendered by the frontend's mime renderers and
 * always sent with a text/plain fallback for other frontends.
 */
import type { IGpuDevice, IGpuNode, JobEndState, JobPhase } from './events';

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
  /** A distributed cell: every node of the job and its GPUs. */
  nodes?: IGpuNode[];
}

/** Other ranks' output of a distributed cell (rank 0's is inline), kept current in place. */
export const RANKS_MIME = 'application/vnd.cluster-bridge.ranks+json';

/** One output of a rank or an array element (nbformat-like, bounded by the bridge). */
export type ISubOutput =
  | { type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display'; data: { [mime: string]: unknown } }
  | {
      type: 'error';
      ename: string;
      evalue: string;
      traceback: string[];
    };

export interface IRankInfo {
  rank: number;
  localRank: number;
  node: string;
  /** running, done, error (this rank raised), cancelled. */
  state: 'running' | 'done' | 'error' | 'cancelled';
  outputs: ISubOutput[];
  /** Outputs dropped at the front to keep the payload bounded. */
  dropped?: number;
}

export interface IRanksPayload {
  jobId: string;
  /** Total ranks (nodes x tasks per node). */
  worldSize: number;
  nodes: string[];
  /** Every rank but 0, in rank order. */
  ranks: IRankInfo[];
  /** The first rank that failed, when one did. */
  failedRank?: number;
  /** How the ranks were started: local, srun, torchrun or mpirun. */
  launch?: string;
}

/** An array job's summary table and its elements' outputs, kept current in place. */
export const ARRAY_MIME = 'application/vnd.cluster-bridge.array+json';

export interface IArrayElement {
  index: number;
  /** The value bound to the array's name in this element. */
  value: string | number;
  state: 'pending' | 'running' | 'done' | 'error' | 'cancelled' | 'lost';
  /** Seconds it ran (once it ran). */
  seconds?: number;
  /** text/plain of the last expression's value, cut to one line. */
  last?: string;
  /** One line: the exception (`ValueError: bad lr`) when it failed. */
  error?: string;
  schedulerId?: string;
  outputs: ISubOutput[];
  dropped?: number;
}

export interface IArrayPayload {
  jobId: string;
  cluster: string;
  /** The Python name each element's value is bound to. */
  name: string;
  maxParallel?: number;
  elements: IArrayElement[];
  /** The line magic that re-runs element K: this text with {index} replaced. */
  rerun: string;
}
