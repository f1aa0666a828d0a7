/**
 * What the pieces of a job's life share: the opened cluster (connection,
 * runtime, agent), one job's context while it is followed, and the timing
 * knobs tests shorten.
 */
import type { IResolvedCluster } from '../../shared/config';
import type { IJobInfo } from '../../shared/jobs';
import { CANCEL_GRACE_S } from '../schedulers/direct';
import type { IAgentInvocation, IScheduler } from '../schedulers/types';
import type { IPrompter, IStreamHandle, ITransport } from '../transport/types';
import type { IRemoteRuntime } from './runtime';
import type { StatusLine } from './status';
import type { IOutputSink } from './types';

/** A connected cluster with its runtime and VENV1 in place (JobManager.open). */
export interface IOpenCluster {
  cluster: IResolvedCluster;
  transport: ITransport;
  runtime: IRemoteRuntime;
  agent: IAgentInvocation;
}

/** Everything one job's follow needs. */
export interface IJobContext extends IOpenCluster {
  job: IJobInfo;
  scheduler: IScheduler;
  sink: IOutputSink;
  status: StatusLine;
  prompter?: IPrompter;
  /** Warm direct jobs (no env setup lines): the VENV2 cache key to learn. */
  venv2Key?: string;
  /** Set for a cell of a session: follow and interrupt through the session, never the scheduler. */
  session?: ISessionHooks;
}

/** What the follower of a session cell uses instead of the scheduler (sessions/manager.ts). */
export interface ISessionHooks {
  /** The session's own stream of the cell's log; null when its tunnel is gone (the agent's follow then). */
  openStream(
    offset: number,
    onData: (chunk: Buffer) => void
  ): IStreamHandle | null;
  /** KeyboardInterrupt in the cell; the namespace stays. */
  interrupt(): Promise<void>;
  /** Shown when an interrupt has not ended the cell after `interruptNoticeMs`. */
  stuckNotice: string;
  interruptNoticeMs: number;
}

/** Something that records job changes (the job store plus change listeners). */
export interface IJobRecorder {
  put(job: IJobInfo): void;
}

export interface ITiming {
  /** After an interrupt, how long to wait for the job's own `done` before giving up. */
  cancelWaitMs: number;
  /** After the scheduler says the job ended, how long to wait for `done` in the log. */
  endedGraceMs: number;
  /** Direct jobs: how often to check that the process is alive (first check after this too). */
  directProbeMs: number;
  /** A running job on another login node whose heartbeat is this old is lost (its node is down). */
  nodeSilentMs: number;
  /** How long to keep trying to reconnect after a dropped connection. */
  reconnectMs: number;
}

export const DEFAULT_TIMING: ITiming = {
  cancelWaitMs: (CANCEL_GRACE_S + 10) * 1000,
  endedGraceMs: 3000,
  directProbeMs: 5000,
  nodeSilentMs: 120000,
  reconnectMs: 60000
};

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? '');
}

export function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0];
}

/** A follow that stopped because the connection dropped (as opposed to its command ending). */
export function isConnectionDrop(error: unknown, state: string): boolean {
  if (error && (error as { kind?: string }).kind === 'disconnected') {
    return true;
  }
  return state !== 'connected';
}
