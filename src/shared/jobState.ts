/**
 * The one vocabulary of job state, for the bridge and the frontend alike:
 * which phases end a job, whether a job is over, and how an end state maps to
 * the phase shown for it (and back).
 */
import type { JobEndState, JobPhase } from './events';

/** Phases a job never leaves. */
export const END_PHASES: ReadonlyArray<JobPhase> = [
  'done',
  'failed',
  'cancelled'
];

/** Every end state a `done` event or a scheduler may report. */
export const END_STATES: ReadonlyArray<JobEndState> = [
  'completed',
  'failed',
  'cancelled',
  'timeout',
  'out_of_memory',
  'node_fail',
  'rejected',
  'lost'
];

/** True for `done`, `failed` and `cancelled`. */
export function isEndPhase(phase: string): boolean {
  return (END_PHASES as ReadonlyArray<string>).includes(phase);
}

/** True for a known end state name (input from the remote side is untrusted). */
export function isEndState(value: unknown): value is JobEndState {
  return (
    typeof value === 'string' &&
    (END_STATES as ReadonlyArray<string>).includes(value)
  );
}

/** A job (record, status payload) has ended: an end phase or an end state. */
export function isJobOver(job: {
  phase: string;
  endState?: JobEndState | null;
}): boolean {
  return isEndPhase(job.phase) || !!job.endState;
}

/** The phase shown for an end state: completed → done, cancelled → cancelled, the rest → failed. */
export function phaseOfEnd(state: JobEndState): JobPhase {
  switch (state) {
    case 'completed':
      return 'done';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'failed';
  }
}

/** The end state of an ended job; older records carry only the phase. */
export function endStateOf(job: {
  phase: string;
  endState?: JobEndState | null;
}): JobEndState {
  return job.endState ?? Private.END_OF_PHASE[job.phase] ?? 'failed';
}

/** The one word a job list shows: the end state once known, else the phase. */
export function shownState(job: {
  phase: JobPhase;
  endState?: JobEndState | null;
}): JobPhase | JobEndState {
  return job.endState ?? job.phase;
}

namespace Private {
  export const END_OF_PHASE: { [phase: string]: JobEndState | undefined } = {
    done: 'completed',
    cancelled: 'cancelled'
  };
}
