/**
 * The live status line of one job: a single display (STATUS_MIME plus a
 * text/plain fallback) with display_id `cb-status-<jobId>`, updated in place
 * and throttled so a chatty job never floods iopub.
 */
import type { JobPhase } from '../../shared/events';
import { IStatusPayload, STATUS_MIME } from '../../shared/mime';
import type { IOutputSink } from './types';

/** At most this many updates per second (the last state always gets through). */
const MIN_INTERVAL_MS = 200;

const TERMINAL: ReadonlySet<JobPhase> = new Set<JobPhase>([
  'done',
  'failed',
  'cancelled'
]);

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
    if (TERMINAL.has(this._payload.phase)) {
      this.flush();
      this._finished = true;
      return;
    }
    const wait = this._lastSent + this._minInterval - Date.now();
    if (!this._shown || wait <= 0) {
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
    const bundle = {
      [STATUS_MIME]: { ...this._payload },
      'text/plain': statusText(this._payload)
    };
    if (this._shown) {
      this._sink.updateDisplay(bundle, undefined, this.displayId);
    } else {
      this._sink.display(bundle, undefined, this.displayId);
      this._shown = true;
    }
    this._lastSent = Date.now();
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
  private _shown = false;
  private _finished = false;
  private _lastSent = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
}

/** One human line: `local: running on node7 (cb-..., 3.2 s)`. */
export function statusText(p: IStatusPayload, now = Date.now()): string {
  const elapsed = ((p.endedAt ?? now) - p.startedAt) / 1000;
  let what: string;
  switch (p.phase) {
    case 'connecting':
      what = 'connecting';
      break;
    case 'uploading':
      what = 'uploading the runtime';
      break;
    case 'preparing':
      what = 'preparing environment';
      break;
    case 'submitted':
      what = 'submitted';
      break;
    case 'queued':
      what = 'queued';
      break;
    case 'starting':
      what = 'starting';
      break;
    case 'running':
      what = p.node ? `running on ${p.node}` : 'running';
      break;
    case 'done':
      what = 'done';
      break;
    case 'failed':
      what =
        p.endState && p.endState !== 'failed'
          ? `failed (${p.endState})`
          : 'failed';
      if (typeof p.exitCode === 'number' && p.exitCode !== 0) {
        what += `, exit code ${p.exitCode}`;
      }
      break;
    case 'cancelled':
      what = 'cancelled';
      break;
    default:
      what = String(p.phase);
  }
  const detail = p.detail ? `: ${p.detail}` : '';
  const sched =
    p.schedulerId && p.scheduler && p.scheduler !== 'direct'
      ? `${p.scheduler} job ${p.schedulerId}, `
      : '';
  return `${p.cluster}: ${what}${detail} (${sched}${p.jobId}, ${elapsed.toFixed(1)} s)`;
}

namespace Private {
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
