/**
 * The live status of one job, throttled so a chatty job never floods anyone.
 * In the kernel (a sink with `cellStatus`) it is not one of the cell's
 * outputs, so saved notebooks hold only what the code produced: it goes over
 * the `cluster_bridge` comm to the frontends beside the cell, and where none
 * listens it becomes an output only when it says something a person waits
 * for: a batch job queued with its pending reason. That display then stays,
 * updated in place to one line, so the notebook records where the job ran.
 * Other sinks (the CLI) get every state as a display: STATUS_MIME plus a
 * text/plain fallback with display_id `cb-status-<jobId>`, updated in place.
 */
import { isEndPhase } from '../../shared/jobState';
import { statusLine } from '../../shared/jobWording';
import { IStatusPayload, STATUS_MIME } from '../../shared/mime';
import type { IOutputSink } from './types';

/** A sink that can send the live status beside the cell instead of into it. */
export interface ICellStatusSink extends IOutputSink {
  /** Sends the status to the frontends watching the cell; false when none listens. */
  cellStatus(payload: IStatusPayload): boolean;
}

/** True for a sink that sends the live status beside the cell (the kernel's). */
export function hasCellStatus(sink: IOutputSink): sink is ICellStatusSink {
  return typeof (sink as Partial<ICellStatusSink>).cellStatus === 'function';
}

/** At most this many updates per second (the last state always gets through). */
const MIN_INTERVAL_MS = 200;

export class StatusLine {
  constructor(
    sink: IOutputSink,
    initial: IStatusPayload,
    minIntervalMs = MIN_INTERVAL_MS
  ) {
    this._sink = sink;
    this._payload = { ...initial };
    this._minInterval = minIntervalMs;
  }

  get displayId(): string {
    return `cb-status-${this._payload.jobId}`;
  }

  get payload(): IStatusPayload {
    return { ...this._payload };
  }

  /** Changes fields; shown now or within the throttle interval. */
  set(patch: Partial<IStatusPayload>): void {
    if (this._finished) {
      return;
    }
    this._payload = Private.merge(this._payload, patch);
    if (isEndPhase(this._payload.phase)) {
      this.flush();
      this._finished = true;
      return;
    }
    const wait = this._lastSent + this._minInterval - Date.now();
    if (this._lastSent === 0 || wait <= 0) {
      this.flush();
    } else if (!this._timer) {
      this._timer = setTimeout(() => this.flush(), wait);
    }
  }

  /** Sends the current state now. */
  flush(): void {
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._lastSent = Date.now();
    if (hasCellStatus(this._sink)) {
      const watched = this._sink.cellStatus({ ...this._payload });
      // A display already among the outputs is kept current either way.
      if (!this._shown && (watched || !Private.saysSomething(this._payload))) {
        return;
      }
    }
    const bundle = {
      [STATUS_MIME]: { ...this._payload },
      // The same words as the JupyterLab renderer, for every other frontend.
      'text/plain': statusLine(this._payload, Date.now())
    };
    if (this._shown) {
      this._sink.updateDisplay(bundle, undefined, this.displayId);
    } else {
      this._sink.display(bundle, undefined, this.displayId);
      this._shown = true;
    }
  }

  /** Stops pending timers (the cell was detached or abandoned). */
  dispose(): void {
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    this._finished = true;
  }

  private _sink: IOutputSink;
  private _payload: IStatusPayload;
  private _minInterval: number;
  /** A display exists among the cell's outputs (updated, never repeated). */
  private _shown = false;
  private _finished = false;
  private _lastSent = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
}

namespace Private {
  /** Worth an output where no frontend shows the status: a queued job's reason. */
  export function saysSomething(p: IStatusPayload): boolean {
    return p.phase === 'queued' && !!p.detail;
  }

  export function merge(
    a: IStatusPayload,
    patch: Partial<IStatusPayload>
  ): IStatusPayload {
    const out: IStatusPayload = { ...a };
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) {
        delete (out as unknown as { [k: string]: unknown })[key];
      } else {
        (out as unknown as { [k: string]: unknown })[key] = value;
      }
    }
    return out;
  }
}
