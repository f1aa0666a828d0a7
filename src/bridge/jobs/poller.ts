/**
 * Shared, adaptive scheduler polling: every job of one (cluster, scheduler)
 * is asked about in ONE `states` call per tick, fast right after a change
 * (0.5 s) and slower while nothing moves (up to 10 s): no 30-second sleeps,
 * no storm of squeue calls with many jobs.
 */
import type { IScheduler, SchedulerState } from '../schedulers/types';
import type { ITransport } from '../transport/types';

const FAST_MS = 500;
const SLOW_MS = 10000;

type Listener = (state: SchedulerState) => void;

export class StatePoller {
  constructor(
    private readonly _transport: ITransport,
    private readonly _scheduler: IScheduler,
    private readonly _limits = { fast: FAST_MS, slow: SLOW_MS }
  ) {}

  /** Calls back with each new state of the job until unsubscribed. */
  watch(schedulerId: string, listener: Listener): () => void {
    let set = this._listeners.get(schedulerId);
    if (!set) {
      set = new Set();
      this._listeners.set(schedulerId, set);
    }
    set.add(listener);
    this._interval = this._limits.fast;
    this._schedule(0);
    return () => {
      const current = this._listeners.get(schedulerId);
      current?.delete(listener);
      if (current && current.size === 0) {
        this._listeners.delete(schedulerId);
        this._last.delete(schedulerId);
      }
      if (this._listeners.size === 0 && this._timer) {
        clearTimeout(this._timer);
        this._timer = null;
      }
    };
  }

  /** Polls now (after an interrupt, say), not at the next tick. */
  poke(): void {
    this._interval = this._limits.fast;
    this._schedule(0);
  }

  private _schedule(delay: number): void {
    if (this._busy) {
      this._again = true;
      return;
    }
    if (this._timer) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => void this._tick(), delay);
  }

  private async _tick(): Promise<void> {
    this._timer = null;
    const ids = [...this._listeners.keys()];
    if (ids.length === 0) {
      return;
    }
    this._busy = true;
    let changed = false;
    try {
      const states = await this._scheduler.states(this._transport, ids);
      for (const id of ids) {
        const state = states.get(id) ?? { state: 'unknown' };
        const key = JSON.stringify(state);
        if (this._last.get(id) !== key) {
          this._last.set(id, key);
          changed = true;
          for (const listener of [...(this._listeners.get(id) ?? [])]) {
            listener(state);
          }
        }
      }
    } catch {
      // A failed poll (dropped connection) is retried at the next tick.
    } finally {
      this._busy = false;
    }
    if (this._listeners.size === 0) {
      return;
    }
    this._interval =
      changed || this._again
        ? this._limits.fast
        : Math.min(this._interval * 2, this._limits.slow);
    this._again = false;
    this._schedule(this._interval);
  }

  private _listeners = new Map<string, Set<Listener>>();
  private _last = new Map<string, string>();
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _interval = FAST_MS;
  private _busy = false;
  private _again = false;
}
