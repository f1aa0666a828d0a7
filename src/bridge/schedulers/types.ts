/**
 * One interface for the ways a job runs: direct (detached process group on the
 * host), SLURM, Grid Engine, PBS. Schedulers build command lines; they run
 * them through an ITransport, so they never depend on ssh2.
 */
import type { ISchedulerDefaults, SchedulerKind } from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import type { JobEndState } from '../../shared/events';
import type { ITransport } from '../transport/types';

/** How to run the remote agent (src/runtime/agent.py) on a prepared cluster. */
export interface IAgentInvocation {
  /** VENV1's python (or the system python when venv is unavailable). */
  python: string;
  /** Absolute runtime/<hash> directory holding agent.py. */
  runtimeDir: string;
}

/** Everything needed to write a job script. */
export interface IJobSpec {
  /** Bridge job id (cb-...). */
  id: string;
  /** Absolute remote job directory (holds bundle, events.jsonl, logs). */
  jobDir: string;
  /** Shell command that runs the job on the compute node (the agent's `run`). */
  command: string;
  /** The agent itself, for schedulers that drive it directly (direct: `launch`). */
  agent?: IAgentInvocation;
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
  | {
      state: 'ended';
      end: JobEndState;
      exitCode?: number | null;
      reason?: string;
    }
  | { state: 'unknown' };

/** What a submit would do, shown by `%cluster doctor` and `--dry-run`. */
export interface ISubmitPlan {
  kind: SchedulerKind;
  /** The job script exactly as submitted (for direct: the launch command). */
  script: string;
  /** Where the script is written (jobDir/job.sh; empty for direct). */
  scriptPath: string;
  /** The exact shell command that submits the script, as run on the cluster. */
  command: string;
}

export interface IScheduler {
  readonly kind: SchedulerKind;
  /** The job script (or for direct, the launch command) exactly as submitted. */
  script(spec: IJobSpec): string;
  /**
   * The script and the exact submit command, submitting nothing (dry run,
   * doctor). Batch schedulers implement it; index.ts explainJob() falls back
   * to script() for those that do not.
   */
  explain?(spec: IJobSpec): ISubmitPlan;
  /** Writes the script into jobDir and submits it; rejects with the scheduler's own message. */
  submit(transport: ITransport, spec: IJobSpec): Promise<ISubmitResult>;
  /** Current state of several jobs with one scheduler call. */
  states(
    transport: ITransport,
    schedulerIds: string[]
  ): Promise<Map<string, SchedulerState>>;
  /** `agent`: the job's agent, which the direct scheduler asks to cancel its job. */
  cancel(
    transport: ITransport,
    schedulerId: string,
    jobDir: string,
    agent?: IAgentInvocation
  ): Promise<void>;
}

/**
 * A scheduler said no (submit rejected: invalid partition, too many GPUs), or
 * one of its commands failed. `message` is the scheduler's own words.
 */
export class SchedulerError extends Error {
  constructor(
    readonly kind: SchedulerKind,
    readonly reason: 'rejected' | 'command',
    message: string
  ) {
    super(message);
    this.name = 'SchedulerError';
  }
}
