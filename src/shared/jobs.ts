/** A remote job as the bridge records it (job store, comm, `%cluster jobs`). */
import type { JobEndState, JobPhase } from './events';
import type { SchedulerKind } from './config';

export interface IJobInfo {
  /** Bridge job id: also the name of the remote job directory. */
  id: string;
  cluster: string;
  scheduler: SchedulerKind;
  schedulerId?: string;
  /** Absolute remote job directory. */
  remoteDir: string;
  phase: JobPhase;
  endState?: JobEndState;
  exitCode?: number | null;
  node?: string;
  detail?: string;
  detached: boolean;
  /** Unix ms. */
  submittedAt: number;
  endedAt?: number;
  /** First line of the cell body, for lists. */
  title: string;
  /** Byte offset of events.jsonl already turned into outputs. */
  offset: number;
  /** Unix ms of the last change; where two kernels wrote one job, the newest wins. */
  updatedAt?: number;
  /** The session the cell ran in; absent for one-off jobs. */
  session?: string;
  /** An --array job: its element count. */
  array?: number;
  /** A distributed job (--nodes, --tasks-per-node...): its rank count (WORLD_SIZE). */
  ranks?: number;
  /** A distributed job: the nodes it asked for. */
  nodes?: number;
}

/** A rank's state in the jobs panel's Ranks view ('waiting': no output folder yet). */
export type RankLogState =
  'waiting' | 'running' | 'done' | 'error' | 'cancelled';

/** One line of a rank's output, tagged `[rank N] ` (plain text: never HTML). */
export interface IRankLogLine {
  text: string;
  stderr?: boolean;
}

/** One rank's tail, read from JOBDIR/ranks/<rank>/events.jsonl. */
export interface IRankLog {
  rank: number;
  node?: string;
  state: RankLogState;
  /** The rank whose error ended the job. */
  failed?: boolean;
  lines: IRankLogLine[];
  /** Earlier output is not shown (only the tail was read). */
  truncated: boolean;
}

/** The comm `rankLogs` answer: every rank of a distributed job, a tail each. */
export interface IRankLogs {
  jobId: string;
  /** False when the remote job directory is gone (cleaned): `ranks` is empty. */
  found: boolean;
  worldSize: number;
  failedRank?: number;
  ranks: IRankLog[];
}
