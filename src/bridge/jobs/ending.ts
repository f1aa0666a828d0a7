/**
 * How a job ends: its final state (the scheduler's when more specific than
 * the log's, a cancel we asked for), the scheduler log of a batch job that
 * died silently, the error or notice the cell shows, and the record. Also the
 * one "mark failed" for a job that never got that far.
 */
import type { IDoneEvent, JobEndState } from '../../shared/events';
import type { IJobInfo } from '../../shared/jobs';
import { phaseOfEnd } from '../../shared/jobState';
import { shellQuote } from '../util/quote';
import { firstLine, type IJobContext, type IJobRecorder } from './context';
import type { StatusLine } from './status';
import type { IRunOutcome } from './types';

/** What the follow knows when it stops. */
export interface IFollowEnd {
  done: IDoneEvent;
  /** The cell raised (its traceback is already shown). */
  raised: boolean;
  cancelRequested: boolean;
  /** The bridge made `done` up (lost, timed out waiting): the log had none. */
  synthesized: boolean;
  /** The job's process died without a `done` (a scheduler's kill at its limit, say). */
  diedSilently?: boolean;
}

/** Shows a failed status line (the job may not exist yet). */
export function showFailed(
  status: StatusLine,
  detail: unknown,
  endState: JobEndState = 'failed',
  endedAt = Date.now()
): void {
  status.set({ phase: 'failed', endState, endedAt, detail: firstLine(detail) });
}

/** Records the job as failed (the full detail) and shows it (the first line). */
export function markFailed(
  job: IJobInfo,
  status: StatusLine,
  records: IJobRecorder,
  detail: string,
  endState: JobEndState = 'failed'
): void {
  job.phase = 'failed';
  job.endState = endState;
  job.endedAt = Date.now();
  job.detail = detail;
  records.put(job);
  showFailed(status, detail, endState, job.endedAt);
}

/** Settles the end, tells the cell, records the job: the outcome of runCell/attach. */
export async function endJob(
  ctx: IJobContext,
  end: IFollowEnd,
  records: IJobRecorder,
  endedGraceMs: number
): Promise<IRunOutcome> {
  const { job, sink, status } = ctx;
  const { raised, cancelRequested, synthesized } = end;
  let done = end.done;
  if (
    (!synthesized || end.diedSilently) &&
    !cancelRequested &&
    job.scheduler !== 'direct' &&
    done.state !== 'completed'
  ) {
    // The job's own log says it was stopped, or it died before writing its end: the
    // scheduler knows why (TIMEOUT, OOM, node failure). A kill at the time limit can end
    // the process before the scheduler shows the job ended, so a silent death waits longer.
    done = await Private.refineEnd(
      ctx,
      done,
      endedGraceMs * (end.diedSilently ? 5 : 2)
    );
  }
  if (
    cancelRequested &&
    (done.state === 'failed' || (done.state === 'lost' && end.diedSilently))
  ) {
    // The scheduler signals every process of the job at once (scancel), so the
    // runner can die before the agent has seen its own signal and recorded the
    // cancel, or before it wrote any end: after a cancel we asked for, a failed
    // end or a silent death is that cancel.
    done = { ...done, state: 'cancelled' };
  }
  const state = done.state;
  const phase = phaseOfEnd(state);
  job.phase = phase;
  job.endState = state;
  job.exitCode = done.exitCode ?? null;
  job.endedAt = Date.now();
  job.detail = done.reason;
  if (synthesized && job.scheduler !== 'direct') {
    await Private.showSchedulerLog(ctx);
  }
  if (phase === 'failed' && !raised) {
    const message = Private.endMessage(done);
    sink.error(Private.ename(state), message, [message]);
  } else if (phase === 'cancelled' && !raised) {
    sink.stream('stderr', '[cluster-bridge] job cancelled\n');
  }
  status.set({
    phase,
    endState: state,
    exitCode: job.exitCode,
    endedAt: job.endedAt,
    node: job.node,
    detail: phase === 'done' ? undefined : done.reason
  });
  records.put(job);
  const outcome: IRunOutcome['status'] =
    phase === 'cancelled' || cancelRequested
      ? 'aborted'
      : phase === 'done' && !raised
        ? 'ok'
        : 'error';
  return { status: outcome, job: { ...job } };
}

/**
 * The follow stopped but the job runs on (an interrupted attach, a cancel
 * that cannot reach the job's node): say so, record no end.
 */
export function endDetached(
  ctx: IJobContext,
  reason: string,
  records: IJobRecorder
): IRunOutcome {
  const { job, sink, status } = ctx;
  sink.stream(
    'stderr',
    `[cluster-bridge] ${reason}\nAttach again with: %cluster attach ${job.id}\n`
  );
  status.set({ detail: reason });
  records.put(job);
  return { status: 'aborted', job: { ...job } };
}

namespace Private {
  const SPECIFIC = new Set<JobEndState>([
    'timeout',
    'out_of_memory',
    'node_fail'
  ]);

  /** The scheduler's end state when it is more specific than the log's. */
  export async function refineEnd(
    ctx: IJobContext,
    done: IDoneEvent,
    withinMs: number
  ): Promise<IDoneEvent> {
    const id = ctx.job.schedulerId;
    if (!id) {
      return done;
    }
    const deadline = Date.now() + withinMs;
    for (;;) {
      try {
        const state = (await ctx.scheduler.states(ctx.transport, [id])).get(id);
        if (state?.state === 'ended') {
          // A job lost without its end takes any end the scheduler gives but
          // "completed" (which its missing `done` contradicts).
          const better =
            SPECIFIC.has(state.end) ||
            (done.state === 'lost' && state.end !== 'completed');
          return better
            ? {
                ...done,
                state: state.end,
                reason: state.reason ?? done.reason,
                exitCode: state.exitCode ?? done.exitCode
              }
            : done;
        }
      } catch {
        return done;
      }
      if (Date.now() > deadline) {
        return done;
      }
      await new Promise(resolve => setTimeout(resolve, 300));
    }
  }

  /** A batch job that died without a `done`: its scheduler log usually says why. */
  export async function showSchedulerLog(ctx: IJobContext): Promise<void> {
    try {
      const dir = shellQuote(ctx.job.remoteDir);
      const result = await ctx.transport.exec(
        `tail -c 2000 ${dir}/scheduler.err 2>/dev/null`
      );
      const text = result.stdout.trim();
      if (text) {
        ctx.sink.stream(
          'stderr',
          `[cluster-bridge] scheduler log (${ctx.job.remoteDir}/scheduler.err):\n${text}\n`
        );
      }
    } catch {
      // best effort
    }
  }

  /** The error name a failed end shows (JobFailed for the rest). */
  const ENAMES: { [state in JobEndState]?: string } = {
    timeout: 'JobTimeout',
    out_of_memory: 'JobOutOfMemory',
    node_fail: 'JobNodeFailure',
    lost: 'JobLost',
    rejected: 'JobRejected'
  };

  export function ename(state: JobEndState): string {
    return ENAMES[state] ?? 'JobFailed';
  }

  /** The error a failed cell shows (the status line words its end in src/shared/jobWording.ts). */
  export function endMessage(done: IDoneEvent): string {
    const what: { [state: string]: string } = {
      failed: 'the job failed',
      timeout: 'the job hit its time limit',
      out_of_memory: 'the job ran out of memory',
      node_fail: "the job's node failed",
      lost: 'the job ended without reporting its end',
      rejected: 'the scheduler rejected the job'
    };
    let text = what[done.state] ?? `the job ended: ${done.state}`;
    if (typeof done.exitCode === 'number' && done.exitCode !== 0) {
      text += ` (exit code ${done.exitCode})`;
    }
    if (done.reason) {
      text += `: ${done.reason}`;
    }
    return text;
  }
}
