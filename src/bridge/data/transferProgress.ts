/**
 * The progress of a put/get in its cell: nothing for a copy that ends within
 * a second, else one display (display_id) updated in place with bytes, %,
 * MB/s and ETA (text/plain, and text/html with a bar), which finally becomes
 * the one-line summary. Quick copies print only the summary.
 */
import type { IOutputSink } from '../jobs/types';
import { formatBytes } from '../kernel/doctor';

/** A copy slower than this shows a progress bar. */
export const SLOW_MS = 1000;
/** How often the bar is redrawn. */
export const REDRAW_MS = 250;

export interface IProgressFacts {
  /** Bytes accounted for: moved now, continued from before, or already complete. */
  seen: number;
  /** Bytes moved by this run (the rate). */
  moved: number;
  total: number;
  elapsedMs: number;
}

/** `412 MiB of 1.0 GiB (40%), 310 MB/s, 2 s left`. Pure. */
export function progressLine(f: IProgressFacts): string {
  const pct = f.total > 0 ? Math.floor((100 * f.seen) / f.total) : 100;
  const rate = f.elapsedMs > 0 ? f.moved / (f.elapsedMs / 1000) : 0;
  const left = f.total - f.seen;
  const eta = rate > 0 ? `, ${formatSeconds(left / rate)} left` : '';
  return `${formatBytes(f.seen)} of ${formatBytes(f.total)} (${pct}%), ${formatRate(rate)}${eta}`;
}

/** The bar as HTML (a <progress> element and the same line). Pure. */
export function progressHtml(title: string, f: IProgressFacts): string {
  const max = Math.max(f.total, 1);
  return (
    `<div class="cb-transfer"><div>${escapeHtml(title)}</div>` +
    `<progress max="${max}" value="${Math.min(f.seen, max)}" style="width:100%"></progress>` +
    `<div>${escapeHtml(progressLine(f))}</div></div>`
  );
}

export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(bytesPerSecond < 1e7 ? 1 : 0)} MB/s`;
}

export function formatSeconds(s: number): string {
  if (s < 60) {
    return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  }
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m} min ${Math.round(s % 60)} s`
    : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export class TransferProgress {
  constructor(
    private _sink: IOutputSink,
    private _title: string,
    options: { slowMs?: number; redrawMs?: number; id?: string } = {}
  ) {
    this._id = options.id ?? `cb-transfer-${Date.now()}-${Private.ids.next++}`;
    const redrawMs = options.redrawMs ?? REDRAW_MS;
    this._timer = setTimeout(() => {
      this._show();
      this._timer = setInterval(() => this._show(), redrawMs);
      this._timer.unref?.();
    }, options.slowMs ?? SLOW_MS);
    this._timer.unref?.();
  }

  /** The display id of the bar (tests). */
  get id(): string {
    return this._id;
  }

  setTotal(bytes: number): void {
    this._total = bytes;
  }

  moved(n: number): void {
    this._moved += n;
    this._seen += n;
  }

  /** Bytes that did not travel (complete files, a continued prefix). */
  skipped(n: number): void {
    this._seen += n;
  }

  elapsedMs(): number {
    return Date.now() - this._started;
  }

  /** Ends the bar: the display becomes `summary`, or the summary is printed. */
  finish(summary: string): void {
    this._stop();
    if (this._shown) {
      this._sink.updateDisplay({ 'text/plain': summary }, {}, this._id);
    } else {
      this._sink.stream('stdout', summary + '\n');
    }
  }

  /** Stops redrawing, leaving the last bar (an error follows it). */
  abandon(): void {
    this._stop();
  }

  private _stop(): void {
    clearTimeout(this._timer);
    clearInterval(this._timer);
  }

  private _show(): void {
    const facts: IProgressFacts = {
      seen: this._seen,
      moved: this._moved,
      total: this._total,
      elapsedMs: this.elapsedMs()
    };
    const data = {
      'text/plain': `${this._title}: ${progressLine(facts)}`,
      'text/html': progressHtml(this._title, facts)
    };
    if (this._shown) {
      this._sink.updateDisplay(data, {}, this._id);
    } else {
      this._shown = true;
      this._sink.display(data, {}, this._id);
    }
  }

  private _id: string;
  private _timer: ReturnType<typeof setTimeout>;
  private _started = Date.now();
  private _shown = false;
  private _total = 0;
  private _moved = 0;
  private _seen = 0;
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"]/g,
    c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c
  );
}

namespace Private {
  export const ids = { next: 0 };
}
