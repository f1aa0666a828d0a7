/**
 * Watching a job from the scheduler's side while its log is followed: the
 * queue reason, the node, and an end the log never recorded. Batch jobs share
 * one StatePoller per (cluster, scheduler); direct jobs get a slow liveness
 * probe through the agent's `status`.
 */
import type { JobEndState, JobPhase } from '../../shared/events';
import { isEndState } from '../../shared/jobState';
import { agentCommand } from '../schedulers/direct';
import type { SchedulerState } from '../schedulers/types';
import type { ITransport } from '../transport/types';
import type { IJobContext, ITiming } from './context';
import { StatePoller } from './poller';

/** What a watch may do to the job it watches. */
export interface IWatchHooks {
  setPhase(phase: JobPhase, detail?: string): void;
  /** The job ended without a `done` in its log (yet). */
  end(state: JobEndState, reason?: string, exitCode?: number | null): void;
  /** A timer the follow clears when it stops. */
  later(ms: number, fn: () => void): void;
}

export class JobWatcher {
  constructor(
    private readonly _timing: Pick<
      ITiming,
      'endedGraceMs' | 'directProbeMs' | 'nodeSilentMs'
    >
  ) {}

  /** Starts watching; returns the function that stops it. */
  watch(ctx: IJobContext, hooks: IWatchHooks): () => void {
    const { job } = ctx;
    if (job.scheduler === 'direct') {
      return this._watchDirect(ctx, hooks);
    }
    if (!job.schedulerId) {
      return () => undefined;
    }
    let ended = false;
    return this._poller(ctx).watch(job.schedulerId, state => {
      if (state.state === 'ended') {
        if (!ended) {
          ended = true;
          // Give the log a moment to deliver its own `done` (it has the details).
          hooks.later(this._timing.endedGraceMs, () =>
            hooks.end(state.end, state.reason, state.exitCode)
          );
        }
      } else {
        Private.showProgress(ctx, state, hooks);
      }
    });
  }

  /** Polls a batch job's scheduler now (after a cancel), not at the next tick. */
  poke(ctx: IJobContext): void {
    if (ctx.job.scheduler !== 'direct') {
      this._poller(ctx).poke();
    }
  }

  /** Direct jobs: twice dead with no `done` in the log means it died without writing it. */
  private _watchDirect(ctx: IJobContext, hooks: IWatchHooks): () => void {
    let stopped = false;
    let misses = 0;
    let silent = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const tick = async () => {
      timer = null;
      try {
        const result = await ctx.transport.exec(
          agentCommand(ctx.agent, 'status', ctx.job.remoteDir),
          { priority: true }
        );
        const info = Private.parseStatus(result.stdout);
        if (info && info.pid) {
          ctx.job.schedulerId = String(info.pid);
        }
        if (info && Private.nodeSilent(info, this._timing.nodeSilentMs)) {
          if (++silent >= 2) {
            hooks.end(
              'lost',
              `the job's node ${info.node} has not been heard from for ${Math.round(info.beatAge ?? 0)} s ` +
                `(this login node is ${info.here}); it may be down. If the job still runs: %cluster attach ${ctx.job.id}`
            );
            return;
          }
        } else {
          silent = 0;
        }
        if (info && info.alive === false && ++misses >= 2) {
          hooks.end(
            Private.endState(info.state),
            info.reason ?? 'the job process ended without writing its end',
            info.exitCode
          );
          return;
        }
      } catch {
        // connection trouble: the follow loop handles reconnects
      }
      if (!stopped) {
        timer = setTimeout(() => void tick(), this._timing.directProbeMs);
      }
    };
    timer = setTimeout(() => void tick(), this._timing.directProbeMs);
    return () => {
      stopped = true;
      if (timer) {
        clearTimeout(timer);
      }
    };
  }

  private _poller(ctx: IJobContext): StatePoller {
    const key = `${ctx.cluster.name}\0${ctx.job.scheduler}`;
    let entry = this._pollers.get(key);
    if (!entry || entry.transport !== ctx.transport) {
      entry = {
        transport: ctx.transport,
        poller: new StatePoller(ctx.transport, ctx.scheduler)
      };
      this._pollers.set(key, entry);
    }
    return entry.poller;
  }

  private _pollers = new Map<
    string,
    { transport: ITransport; poller: StatePoller }
  >();
}

namespace Private {
  /** Queued with its reason, or started on its node. */
  export function showProgress(
    ctx: IJobContext,
    state: SchedulerState,
    hooks: IWatchHooks
  ): void {
    const { job } = ctx;
    if (
      state.state === 'pending' &&
      (job.phase === 'submitted' ||
        job.phase === 'queued' ||
        job.phase === 'preparing')
    ) {
      const detail = [
        state.reason,
        state.expectedStart ? `expected start ${state.expectedStart}` : ''
      ]
        .filter(Boolean)
        .join(', ');
      hooks.setPhase('queued', detail || undefined);
    } else if (state.state === 'running') {
      if (state.node) {
        job.node = state.node;
      }
      if (job.phase === 'submitted' || job.phase === 'queued') {
        hooks.setPhase('starting');
      }
    }
  }

  export interface IAgentStatus {
    alive?: boolean;
    pid?: number;
    state?: string;
    exitCode?: number | null;
    reason?: string;
    /** The job's node, and the node the agent answered from. */
    node?: string;
    here?: string;
    /** Seconds since status.json was touched (a running job beats every 30 s). */
    beatAge?: number | null;
    done?: boolean;
  }

  /** Running (or building its env) on another node, which stopped beating: its pids cannot be asked from here. */
  export function nodeSilent(info: IAgentStatus, silentMs: number): boolean {
    return (
      info.alive === undefined &&
      (info.state === 'running' || info.state === 'preparing') &&
      !info.done &&
      !!info.node &&
      !!info.here &&
      info.node !== info.here &&
      typeof info.beatAge === 'number' &&
      info.beatAge * 1000 > silentMs
    );
  }

  export function parseStatus(text: string): IAgentStatus | null {
    try {
      const data = JSON.parse(text.trim().split('\n').pop() ?? '');
      return data && typeof data === 'object' ? data : null;
    } catch {
      return null;
    }
  }

  export function endState(state: string | undefined): JobEndState {
    return isEndState(state) ? state : 'lost';
  }
}
