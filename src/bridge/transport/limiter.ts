/**
 * Channel limiter: at most `max` channels open on one connection (sshd's
 * MaxSessions, 10 by default), others wait in FIFO order. One slot is kept
 * for priority commands (a cancel, a liveness probe): long-running commands
 * (a cell's log follow holds its channel for the whole cell) can fill every
 * other slot, and a cancel that queued behind them would wait for a cell to
 * end. Priority waiters are served first. When the server still refuses a
 * channel (its count lags ours: closed sessions come back with a delay), the
 * caller retries with a small backoff.
 */

export class ChannelLimiter {
  constructor(private _max: number) {}

  get active(): number {
    return this._active;
  }

  get waiting(): number {
    return this._queue.length + this._priorityQueue.length;
  }

  /**
   * Waits for a free slot; returns the function that frees it (call once).
   * `priority`: a short command that may take the reserved slot and goes
   * ahead of every ordinary waiter.
   */
  acquire(priority = false): Promise<() => void> {
    return new Promise(resolve => {
      const grant = (): void => {
        this._active++;
        let released = false;
        resolve(() => {
          if (released) {
            return;
          }
          released = true;
          this._active--;
          this._next();
        });
      };
      if (priority) {
        this._priorityQueue.push(grant);
      } else {
        this._queue.push(grant);
      }
      this._next();
    });
  }

  /** Changes the limit (e.g. from the cluster config); queued waiters keep their order. */
  setMax(max: number): void {
    this._max = Math.max(1, max);
    this._next();
  }

  /** Slots ordinary commands may use: all but the reserved one (none reserved when max is 1). */
  private get _ordinaryMax(): number {
    return this._max > 1 ? this._max - 1 : this._max;
  }

  private _next(): void {
    while (this._active < this._max && this._priorityQueue.length) {
      this._priorityQueue.shift()!();
    }
    while (this._active < this._ordinaryMax && this._queue.length) {
      this._queue.shift()!();
    }
  }

  private _active = 0;
  private _queue: Array<() => void> = [];
  private _priorityQueue: Array<() => void> = [];
}

/** Whether an error from opening a channel is worth retrying (server-side session limit). */
export function isChannelRefusal(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /Channel open failure|open failed|administratively prohibited|resource shortage/i.test(
    msg
  );
}

/** Backoff before retry n (0-based): 20, 40, 80 ... ms, capped, with jitter. */
export function retryDelay(n: number): number {
  const base = Math.min(20 * 2 ** n, 1000);
  return base / 2 + Math.random() * (base / 2);
}
