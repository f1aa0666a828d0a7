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
}
