/**
 * The remote event log (<workDir>/jobs/<id>/events.jsonl): one JSON object per
 * line, appended by the agent (VENV1) and the runner (VENV2), read by the bridge
 * from a byte offset. The Python side (src/runtime) writes exactly these shapes.
 */

export type JobPhase =
  | 'connecting'
  | 'uploading'
  | 'preparing'
  | 'submitted'
  | 'queued'
  | 'starting'
  | 'running'
  | 'done'
  | 'failed'
  | 'cancelled';

/** Terminal states of a job. */
export type JobEndState =
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'timeout'
  | 'out_of_memory'
  | 'node_fail'
  | 'rejected'
  | 'lost';

export interface IEventBase {
  /** Sequence number, 0-based, strictly increasing within one job. */
  seq: number;
  /** Unix time in seconds (float). */
  t: number;
}

/** Agent/runner progress: environment build, start of the runner, node name. */
export interface IStatusEvent extends IEventBase {
  type: 'status';
  phase: JobPhase;
  message?: string;
  node?: string;
}

/** Output of an environment build (conda/pip), streamed to the cell. */
export interface IEnvLogEvent extends IEventBase {
  type: 'env';
  text: string;
}

export interface IStreamEvent extends IEventBase {
  type: 'stream';
  name: 'stdout' | 'stderr';
  text: string;
}

export type MimeBundle = { [mime: string]: unknown };

export interface IDisplayEvent extends IEventBase {
  type: 'display';
  data: MimeBundle;
  metadata?: { [key: string]: unknown };
  /** display_id when the cell used display(..., display_id=...) / update. */
  displayId?: string;
  update?: boolean;
}

/** The value of the cell's last expression. */
export interface IResultEvent extends IEventBase {
  type: 'result';
  data: MimeBundle;
  metadata?: { [key: string]: unknown };
}

export interface IErrorEvent extends IEventBase {
  type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface IGpuDevice {
  index: number;
  name: string;
  /** Bytes. */
  memoryTotal?: number;
  memoryUsed?: number;
  memoryPeak?: number;
  uuid?: string;
}

export interface IGpuEvent extends IEventBase {
  type: 'gpu';
  cudaVisibleDevices?: string;
  devices: IGpuDevice[];
  /** Where the facts came from: 'torch', 'nvidia-smi' or 'env'. */
  source: string;
  host?: string;
  /** A distributed cell: every node's GPUs (the fields above are rank 0's). */
  nodes?: IGpuNode[];
}

/** One node of a distributed cell and the GPUs its ranks saw. */
export interface IGpuNode {
  host: string;
  ranks: number[];
  cudaVisibleDevices?: string;
  devices: IGpuDevice[];
}

/** Output was throttled or cut; shown as a visible notice. */
export interface INoticeEvent extends IEventBase {
  type: 'notice';
  text: string;
}

/** Last event of a job, written by the agent. */
export interface IDoneEvent extends IEventBase {
  type: 'done';
  state: JobEndState;
  exitCode?: number | null;
  /** Seconds the runner ran. */
  duration?: number;
  reason?: string;
}

/** A distributed cell's ranks are starting (written once by the rank launcher). */
export interface IRanksEvent extends IEventBase {
  type: 'ranks';
  worldSize: number;
  nodes: number;
  tasksPerNode: number;
  gpusPerNode: number;
  /** local, srun, torchrun or mpirun. */
  launch: string;
  masterAddr: string;
  masterPort: number;
}

/** A rank started: where, and which GPUs it sees. */
export interface IRankStartEvent {
  type: 'rank-start';
  rank: number;
  localRank: number;
  node: string;
  cudaVisibleDevices?: string | null;
}

/** A rank ended; `failed`: the first rank that failed (its error ended the cell). */
export interface IRankEndEvent {
  type: 'rank-end';
  state: 'done' | 'error' | 'cancelled';
  failed?: boolean;
}

/**
 * One event of a rank of a distributed cell: every event of ranks other than
 * 0 (rank 0's are the cell's own), and every rank's start and end.
 */
export interface IRankEvent extends IEventBase {
  type: 'rank';
  rank: number;
  event:
    | IRankStartEvent
    | IRankEndEvent
    | IStreamEvent
    | IDisplayEvent
    | IResultEvent
    | IErrorEvent
    | INoticeEvent;
}

export type IJobEvent =
  | IStatusEvent
  | IEnvLogEvent
  | IStreamEvent
  | IDisplayEvent
  | IResultEvent
  | IErrorEvent
  | IGpuEvent
  | INoticeEvent
  | IDoneEvent
  | IRanksEvent
  | IRankEvent;
