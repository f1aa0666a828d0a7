/**
 * The job pipeline's public face, used by the kernel's cell handler and the CLI.
 * Bundle -> submit (through a scheduler) -> follow events.jsonl -> Jupyter outputs.
 */
import type { IJobRequest } from '../../shared/magic';
import type { IJobInfo, IRankLogs } from '../../shared/jobs';
import type { IVarsLocalStep } from '../../shared/data';
import type { MimeBundle } from '../../shared/events';
import type { IPrompter } from '../transport/types';

/** Where a job's outputs go: the kernel maps these onto iopub messages for one cell. */
export interface IOutputSink {
  stream(name: 'stdout' | 'stderr', text: string): void;
  display(
    data: MimeBundle,
    metadata?: { [key: string]: unknown },
    displayId?: string
  ): void;
  updateDisplay(
    data: MimeBundle,
    metadata: { [key: string]: unknown } | undefined,
    displayId: string
  ): void;
  /** The value of the last expression (execute_result). */
  result(data: MimeBundle, metadata?: { [key: string]: unknown }): void;
  error(ename: string, evalue: string, traceback: string[]): void;
}

export interface IRunCellOptions {
  request: IJobRequest;
  /** Cell body without the magic line. */
  code: string;
  /** Lines before the body in the cell (1 with a magic line), for tracebacks. */
  lineOffset: number;
  /** The execute's count: tracebacks read `Cell In[N], line L` as in IPython. */
  executionCount?: number;
  sink: IOutputSink;
  prompter?: IPrompter;
  /** Aborted on interrupt_request: cancels the remote job. */
  signal?: AbortSignal;
  /**
   * The notebook the cell comes from: its cells share one session per cluster.
   * Absent: a one-off process (as with --fresh).
   */
  notebook?: string;
  /** An --array cell: the index each element shows (a rerun shows the original's). */
  arrayIndexes?: number[];
  /** `--in`/`--out` (src/bridge/data/varsCell.ts). */
  vars?: IVarsAsk;
}

/** A cell's variables to move: checked local folder of `--in` values, `--out` names. */
export interface IVarsAsk {
  inDir?: string;
  out?: string[];
}

export interface IRunOutcome {
  /** ok: ran to completion without error; error: the cell raised or the job failed. */
  status: 'ok' | 'error' | 'aborted';
  job?: IJobInfo;
  /** `--out`: what the notebook's kernel runs to load the values. */
  varsOut?: IVarsLocalStep;
}

/** A rerun's cell options: the rest comes from the job it re-runs. */
export type IRerunOptions = Pick<
  IRunCellOptions,
  'sink' | 'prompter' | 'signal'
>;

export interface IJobManager {
  /** Runs a cell on its cluster and streams its outputs into the sink until it ends (or is detached). */
  runCell(options: IRunCellOptions): Promise<IRunOutcome>;
  /** Follows an existing job (after a restart) into the sink, from the start of its log. */
  attach(
    jobId: string,
    sink: IOutputSink,
    signal?: AbortSignal,
    prompter?: IPrompter
  ): Promise<IRunOutcome>;
  /** The prompter answers a passphrase or password when the connection needs one. */
  cancel(jobId: string, prompter?: IPrompter): Promise<void>;
  /** `%cluster rerun ID ELEMENT`: one element of an array job again, as a new job. */
  rerunElement?(
    jobId: string,
    index: number,
    options: IRerunOptions
  ): Promise<IRunOutcome>;
  jobs(): IJobInfo[];
  /** The jobs panel's Ranks view: each rank's last `lines` of a distributed job. */
  rankLogs?(jobId: string, lines?: number): Promise<IRankLogs>;
  /** Fires whenever a job's state changes (for comm pushes). */
  onChange(listener: (job: IJobInfo) => void): () => void;
}
