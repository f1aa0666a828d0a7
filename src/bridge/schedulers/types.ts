/**
 * One interface for the ways a job runs: direct (detached process group on the
 * host), SLURM, Grid Engine, PBS. Schedulers build command lines; they run
 * them through an ITransport, so they never depend on ssh2.
 *
 * OWNER: schedulers helper.
 */
import type { ISchedulerDefaults, SchedulerKind } from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import type { JobEndState } from '../../shared/events';
import type { ITransport } from '../transport/types';

/** Everything needed to write a job script. */
export interface IJobSpec {
  /** Bridge job id (cb-...). */
  id: string;
  /** Absolute remote job directory (holds bundle, events.jsonl, logs). */
  jobDir: string;
  /** Shell command that runs the job on the compute node (the agent's `run`). */
  command: string;
  request: IJobRequest;
  defaults: ISchedulerDefaults;
}

export interface ISubmitResult {
  /** Scheduler job id (or pid for direct). */
  schedulerId: string;
}

export type SchedulerState =
  | { state: 'pending'; reason?: string; expectedStart?: string }
  | { state: 'running'; node?: string }
  | { state: 'ended'; end: JobEndState; exitCode?: number | null; reason?: string }
  | { state: 'unknown' };

export interface IScheduler {
  readonly kind: SchedulerKind;
  /** The job script (or for direct, the launch command) exactly as submitted. */
  script(spec: IJobSpec): string;
  /** Writes the script into jobDir and submits it; rejects with the scheduler's own message. */
  submit(transport: ITransport, spec: IJobSpec): Promise<ISubmitResult>;
  /** Current state of several jobs with one scheduler call. */
  states(
    transport: ITransport,
    schedulerIds: string[]
  ): Promise<Map<string, SchedulerState>>;
  cancel(transport: ITransport, schedulerId: string, jobDir: string): Promise<void>;
}
