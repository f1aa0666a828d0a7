/**
 * Views of an array job's summary (ARRAY_MIME): the header line, one row per
 * element, and the command that re-runs one element. Pure functions, so they
 * are unit-tested.
 */
import type { IArrayElement, IArrayPayload } from '../../shared/mime';
import { formatDuration } from '../../shared/jobWording';
import { isSubOutput } from './subOutputs';

export type ElementState = IArrayElement['state'];

export const ELEMENT_STATE_WORDS: { [state in ElementState]: string } = {
  pending: 'pending',
  running: 'running',
  done: 'done',
  error: 'failed',
  cancelled: 'cancelled',
  lost: 'lost'
};

/** States an element can be re-run from. */
const RERUNNABLE: ElementState[] = ['error', 'cancelled', 'lost'];

export interface IArrayRowView {
  index: number;
  value: string;
  state: ElementState;
  stateText: string;
  /** "4.2 s", "1:05", or '' before it ran. */
  time: string;
  last: string;
  error: string;
  /** It failed or was lost: the row is marked. */
  failed: boolean;
  /** The re-run command, for an element that did not finish well; else ''. */
  rerun: string;
}

/** The payload, checked and cleaned (it comes from the remote), or null. */
export function readArrayPayload(value: unknown): IArrayPayload | null {
  const p = value as IArrayPayload | null;
  if (!p || typeof p !== 'object' || !Array.isArray(p.elements)) {
    return null;
  }
  const elements = p.elements
    .filter(e => e && typeof e === 'object' && Number.isInteger(e.index))
    .map(e => ({
      ...e,
      state: (e.state in ELEMENT_STATE_WORDS
        ? e.state
        : 'pending') as ElementState,
      outputs: Array.isArray(e.outputs) ? e.outputs.filter(isSubOutput) : []
    }));
  return {
    ...p,
    name: String(p.name ?? ''),
    rerun: typeof p.rerun === 'string' ? p.rerun : '',
    elements
  };
}

/** `template` with {index} replaced by the element's index. */
export function rerunCommand(template: string, index: number): string {
  return template.split('{index}').join(String(index));
}

/** "seed: 16 elements · 12 done · 1 failed · 3 running · at most 4 at once". */
export function arraySummary(p: IArrayPayload): string {
  const counts = new Map<ElementState, number>();
  for (const e of p.elements) {
    counts.set(e.state, (counts.get(e.state) ?? 0) + 1);
  }
  const n = p.elements.length;
  const parts = [`${p.name}: ${n} element${n === 1 ? '' : 's'}`];
  for (const state of Object.keys(ELEMENT_STATE_WORDS) as ElementState[]) {
    const count = counts.get(state);
    if (count) {
      parts.push(`${count} ${ELEMENT_STATE_WORDS[state]}`);
    }
  }
  if (p.maxParallel) {
    parts.push(`at most ${p.maxParallel} at once`);
  }
  return parts.join(' · ');
}

export function arrayRows(p: IArrayPayload): IArrayRowView[] {
  return p.elements.map(e => ({
    index: e.index,
    value: String(e.value),
    state: e.state,
    stateText: ELEMENT_STATE_WORDS[e.state],
    time: Private.time(e.seconds),
    last: Private.oneLine(e.last),
    error: Private.oneLine(e.error),
    failed: e.state === 'error' || e.state === 'lost',
    rerun:
      p.rerun && RERUNNABLE.includes(e.state)
        ? rerunCommand(p.rerun, e.index)
        : ''
  }));
}

namespace Private {
  /** "4.2 s" under a minute (sweeps of short elements differ in tenths), else "1:05". */
  export function time(seconds: number | undefined): string {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
      return '';
    }
    return seconds < 60
      ? `${Math.max(0, seconds).toFixed(1)} s`
      : formatDuration(seconds * 1000);
  }

  export function oneLine(text: string | undefined): string {
    return text === undefined || text === null
      ? ''
      : String(text).split('\n')[0];
  }
}
