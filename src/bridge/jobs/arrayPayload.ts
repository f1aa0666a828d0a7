/**
 * An array job's elements as the cell shows them: every element's events
 * (one multiplexed follow) -> its state, time, last expression, error and
 * bounded outputs -> the ARRAY_MIME payload and its text/plain summary
 * table. Pure logic; no I/O.
 */
import type { IJobEvent, JobEndState } from '../../shared/events';
import type { IArraySpec } from '../../shared/magic';
import type {
  IArrayElement,
  IArrayPayload,
  ISubOutput
} from '../../shared/mime';
import { addBoundedText, pushBounded } from './ranksOutputs';

/** Outputs kept per element (older ones are dropped and counted). */
export const ELEMENT_OUTPUTS = 50;
/** Characters of stream text kept per element. */
export const ELEMENT_TEXT = 20000;
/** `last` and `error` are cut to one line of this many characters. */
const ONE_LINE = 120;

export interface IArrayTrackerOptions {
  jobId: string;
  cluster: string;
  spec: IArraySpec;
  maxParallel?: number;
  /** The index each element shows (a rerun shows the original's); default 0..K-1. */
  indexes?: number[];
  /** The line magic that re-runs element {index}; '' when none applies. */
  rerun: string;
}

export class ArrayTracker {
  constructor(options: IArrayTrackerOptions) {
    this._options = options;
    this._elements = options.spec.values.map((value, k) => ({
      index: options.indexes?.[k] ?? k,
      value,
      state: 'pending',
      outputs: []
    }));
  }

  /** Applies element k's event; true when the payload changed. */
  handle(k: number, event: IJobEvent): boolean {
    const e = this._elements[k];
    if (!e || Private.ended(e)) {
      return false;
    }
    switch (event.type) {
      case 'status':
        if (event.phase === 'running' && e.state === 'pending') {
          e.state = 'running';
          return true;
        }
        return false;
      case 'stream':
        Private.addText(e, event.name, event.text);
        return true;
      case 'notice':
        Private.addText(e, 'stderr', event.text + '\n');
        return true;
      case 'display':
        if (event.update) {
          // A display updated in place: the element keeps its newest form.
          const at = e.outputs.map(o => o.type).lastIndexOf('display');
          if (at >= 0) {
            e.outputs[at] = { type: 'display', data: event.data };
            return true;
          }
        }
        Private.push(e, { type: 'display', data: event.data });
        return true;
      case 'result':
        e.last = Private.oneLine(String(event.data['text/plain'] ?? ''));
        Private.push(e, { type: 'display', data: event.data });
        return true;
      case 'error':
        e.error = Private.oneLine(`${event.ename}: ${event.evalue}`);
        Private.push(e, {
          type: 'error',
          ename: event.ename,
          evalue: event.evalue,
          traceback: event.traceback
        });
        return true;
      case 'done':
        e.state = Private.stateOf(event.state);
        if (event.duration !== undefined) {
          e.seconds = Math.round(event.duration * 10) / 10;
        }
        if (e.state !== 'done' && !e.error && event.reason) {
          e.error = Private.oneLine(event.reason);
        }
        return true;
      default:
        return false;
    }
  }

  /** Elements with no end yet end as `state` (never started, or the job is gone). */
  endRest(state: 'cancelled' | 'lost', reason?: string): void {
    for (const e of this._elements) {
      if (!Private.ended(e)) {
        e.state = state;
        if (reason && !e.error) {
          e.error = Private.oneLine(reason);
        }
      }
    }
  }

  /** True while an element runs. */
  get running(): boolean {
    return this._elements.some(e => e.state === 'running');
  }

  get ended(): boolean {
    return this._elements.every(Private.ended);
  }

  /** Element k has its end (a resumed follow skips it). */
  hasEnded(k: number): boolean {
    const e = this._elements[k];
    return !!e && Private.ended(e);
  }

  /** Elements that failed or were lost, in index order. */
  get failed(): IArrayElement[] {
    return this._elements.filter(
      e => e.state === 'error' || e.state === 'lost'
    );
  }

  get payload(): IArrayPayload {
    const o = this._options;
    const payload: IArrayPayload = {
      jobId: o.jobId,
      cluster: o.cluster,
      name: o.spec.name,
      elements: this._elements.map(e => ({ ...e, outputs: [...e.outputs] })),
      rerun: o.rerun
    };
    if (o.maxParallel !== undefined) {
      payload.maxParallel = o.maxParallel;
    }
    return payload;
  }

  /** The text/plain fallback: one row per element. */
  summary(): string {
    const o = this._options;
    const counts = new Map<string, number>();
    for (const e of this._elements) {
      counts.set(e.state, (counts.get(e.state) ?? 0) + 1);
    }
    const tally = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
    const head = ['index', o.spec.name, 'state', 'time', 'last / error'];
    const rows = this._elements.map(e => [
      String(e.index),
      typeof e.value === 'string' ? e.value : String(e.value),
      e.state,
      e.seconds === undefined ? '' : `${e.seconds}s`,
      e.error ?? e.last ?? ''
    ]);
    const widths = head.map((h, i) =>
      Math.max(h.length, ...rows.map(r => r[i].length))
    );
    const line = (r: string[]) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd();
    return [
      `Array ${o.jobId} on ${o.cluster}: ${this._elements.length} elements (${tally})`,
      line(head),
      ...rows.map(line)
    ].join('\n');
  }

  private _options: IArrayTrackerOptions;
  private _elements: IArrayElement[];
}

namespace Private {
  export function ended(e: IArrayElement): boolean {
    return e.state !== 'pending' && e.state !== 'running';
  }

  export function stateOf(end: JobEndState): IArrayElement['state'] {
    switch (end) {
      case 'completed':
        return 'done';
      case 'cancelled':
        return 'cancelled';
      case 'lost':
        return 'lost';
      default:
        return 'error';
    }
  }

  export function oneLine(text: string): string {
    const first = text.split('\n', 1)[0];
    return first.length > ONE_LINE
      ? first.slice(0, ONE_LINE - 3) + '...'
      : first;
  }

  const BOUNDS = { outputs: ELEMENT_OUTPUTS, text: ELEMENT_TEXT };

  export function push(e: IArrayElement, output: ISubOutput): void {
    pushBounded(e, output, BOUNDS);
  }

  /** Stream text joins the element's previous chunk of the same stream; the front is cut past ELEMENT_TEXT. */
  export function addText(
    e: IArrayElement,
    name: 'stdout' | 'stderr',
    text: string
  ): void {
    addBoundedText(e, name, text, BOUNDS);
  }
}
