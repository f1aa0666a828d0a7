/**
 * A `--array` cell: submitted once (a scheduler job array, or a direct
 * host's launcher of K processes), followed through ONE `array-follow`
 * channel that multiplexes every element's event log, shown as one ARRAY_MIME
 * display kept current in place; a dropped connection resumes each element's
 * log where it stopped. The cell ends when every element ended and fails
 * naming each failed element and its `%cluster rerun`.
 */
import type { IJobEvent } from '../../shared/events';
import { ARRAY_MIME } from '../../shared/mime';
import type { SchedulerKind } from '../../shared/config';
import type { IJobInfo } from '../../shared/jobs';
import type { IJobRequest } from '../../shared/magic';
import { agentCommand } from '../schedulers/direct';
import { UnsupportedOptionError } from '../schedulers/options';
import type { IJobSpec } from '../schedulers/types';
import type { IStreamHandle } from '../transport/types';
import { ArrayTracker } from './arrayPayload';
import type { IJobBundle } from './bundle';
import {
  errorMessage,
  firstLine,
  isConnectionDrop,
  type IJobContext,
  type IJobRecorder
} from './context';
import { markFailed } from './ending';
import { submitJob } from './submission';
import type { IRunOutcome } from './types';

/** Display updates of the summary at most this often. */
export const ARRAY_UPDATE_MS = 250;
/** After a cancel, how long the elements have to record their own end. */
export const ARRAY_CANCEL_WAIT_MS = 20000;

export interface IArrayRunOptions {
  /** The index each element shows (a rerun shows the original's). */
  indexes?: number[];
  /** Said before the summary (a rerun names what it re-runs). */
  intro?: string;
  /** While the array runs, how `%cluster cancel` and the jobs panel reach it. */
  onCancel?: (cancel: (() => Promise<void>) | undefined) => void;
  /** Brings a dropped connection back (the follow then resumes); without it a drop ends the cell. */
  reconnect?: (ctx: IJobContext) => Promise<void>;
}

/** What an array cell cannot do yet: a usage error before anything runs. */
export function arrayRefusals(
  kind: SchedulerKind,
  request: IJobRequest,
  vars: boolean
): void {
  if (!request.array) {
    return;
  }
  const refuse = (what: string) => {
    throw new UnsupportedOptionError(
      `option --array cannot be combined with ${what}: nothing was run`
    );
  };
  if (request.detach) {
    refuse('--detach (an array is followed by the cell that starts it)');
  }
  if (vars) {
    refuse('--in or --out (each element starts from its value alone)');
  }
  if (kind === 'pbs' && request.maxParallel !== undefined) {
    throw new UnsupportedOptionError(
      'option --max-parallel: PBS has no portable limit on the running elements of a job array ' +
        '(max_run_subjobs is PBS Pro 2020 and later only): run without it, nothing was run'
    );
  }
}

/** `%cluster attach` follows one log; an array has one per element. */
export function refuseArrayAttach(job: IJobInfo): void {
  if (job.array) {
    throw new Error(
      `job ${job.id} is an array job (${job.array} elements): %cluster attach cannot follow it; ` +
        `its elements' logs are in ${job.remoteDir}/elements/, and %cluster rerun ${job.id} ELEMENT runs one again`
    );
  }
}

/** The rerun line of a job; `{index}` stands for the element. */
export function rerunTemplate(jobId: string): string {
  return `%cluster rerun ${jobId} {index}`;
}

export function arrayDisplayId(jobId: string): string {
  return `cb-array-${jobId}`;
}

export async function runArray(
  ctx: IJobContext,
  spec: IJobSpec,
  bundle: IJobBundle,
  records: IJobRecorder,
  signal: AbortSignal | undefined,
  options: IArrayRunOptions = {}
): Promise<IRunOutcome> {
  const { job, status, sink } = ctx;
  const array = bundle.request.array!;
  job.array = array.values.length;
  if (options.indexes) {
    bundle.arrayIndexes = options.indexes;
  }
  status.set({ phase: 'submitted', detail: undefined });
  const rejected = await submitJob(ctx, spec, bundle, records, signal);
  if (rejected) {
    return rejected;
  }
  if (options.intro) {
    sink.stream('stdout', options.intro.replace(/\n?$/, '\n'));
  }
  const tracker = new ArrayTracker({
    jobId: job.id,
    cluster: ctx.cluster.name,
    spec: array,
    maxParallel: bundle.request.maxParallel,
    indexes: options.indexes,
    rerun: rerunTemplate(job.id)
  });
  const view = new Private.View(ctx, tracker);
  view.show();
  status.set({
    phase: 'running',
    detail: `${array.values.length} elements`,
    schedulerId: job.schedulerId
  });
  job.phase = 'running';
  records.put(job);
  let cancelRequested = false;
  let stream: IStreamHandle | undefined;
  let cancelling: Promise<void> | undefined;
  const onAbort = () => {
    cancelRequested = true;
    cancelling ??= Private.cancel(
      ctx,
      () => stream?.close(),
      () => tracker.running
    );
    return cancelling;
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  options.onCancel?.(onAbort);
  try {
    if (signal?.aborted) {
      onAbort();
    }
    let resume: string[] = [];
    let fruitless = 0;
    for (;;) {
      const before = view.received;
      stream = ctx.transport.stream(
        agentCommand(ctx.agent, 'array-follow', job.remoteDir, ...resume),
        {
          onStdout: chunk => view.feed(chunk),
          onStderr: chunk => view.noteError(chunk)
        }
      );
      let code: number | null = null;
      let error: unknown = null;
      try {
        code = (await stream.done).code;
      } catch (err) {
        error = err;
      }
      if (tracker.ended) {
        break;
      }
      if (
        !cancelRequested &&
        options.reconnect &&
        isConnectionDrop(error, ctx.transport.state)
      ) {
        // The elements run on without us: reconnect, then each log from where it stopped.
        fruitless = view.received > before ? 0 : fruitless + 1;
        if (fruitless >= 3) {
          throw new Error(
            `the connection dropped three times in a row before any output arrived; ` +
              `the elements may still be running: their logs are in ${job.remoteDir}/elements/`
          );
        }
        view.dropPartial();
        status.set({ detail: 'connection lost, reconnecting' });
        try {
          await options.reconnect(ctx);
        } catch (err) {
          throw new Error(
            `connection lost: ${firstLine(err)}. The elements may still be running; ` +
              `their logs are in ${job.remoteDir}/elements/`
          );
        }
        status.set({ detail: `${array.values.length} elements` });
        resume = view.resumeArgs();
        continue;
      }
      if (error && !cancelRequested) {
        throw error;
      }
      if (!cancelRequested && code !== 0) {
        throw new Error(
          `following the array's elements failed (exit ${code}): ${view.errors || 'no message'}`
        );
      }
      tracker.endRest(
        cancelRequested ? 'cancelled' : 'lost',
        cancelRequested ? 'cancelled before it recorded its end' : undefined
      );
      break;
    }
  } catch (err) {
    view.flush();
    markFailed(job, status, records, errorMessage(err), 'lost');
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    options.onCancel?.(undefined);
  }
  view.flush();
  return Private.finish(ctx, tracker, records, cancelRequested);
}

namespace Private {
  /** The summary display and its throttled updates. */
  export class View {
    constructor(ctx: IJobContext, tracker: ArrayTracker) {
      this._ctx = ctx;
      this._tracker = tracker;
      this._id = arrayDisplayId(ctx.job.id);
    }

    errors = '';

    show(): void {
      this._ctx.sink.display(this._data(), {}, this._id);
    }

    /**
     * `k<TAB>event` lines; a partial line waits for its end. Bytes, not text: a
     * character cut by a chunk boundary stays whole, and each element's offset
     * counts the bytes of its log that arrived.
     */
    feed(chunk: Buffer): void {
      this._rest = this._rest.length
        ? Buffer.concat([this._rest, chunk])
        : chunk;
      let changed = false;
      let start = 0;
      for (;;) {
        const end = this._rest.indexOf(0x0a, start);
        if (end < 0) {
          break;
        }
        changed = this._line(this._rest.subarray(start, end)) || changed;
        start = end + 1;
      }
      this._rest = this._rest.subarray(start);
      if (changed) {
        this._schedule();
      }
    }

    /** Bytes of the elements' logs that arrived whole. */
    get received(): number {
      let sum = 0;
      this._offsets.forEach(n => (sum += n));
      return sum;
    }

    /** A dropped connection cut the last line: the resumed follow sends it whole. */
    dropPartial(): void {
      this._rest = Buffer.alloc(0);
    }

    /** `--offsets` for a resumed follow: each element's bytes so far, `-` for the ended. */
    resumeArgs(): string[] {
      const count = this._tracker.payload.elements.length;
      const offsets = Array.from({ length: count }, (_, k) =>
        this._tracker.hasEnded(k) ? '-' : String(this._offsets.get(k) ?? 0)
      );
      return ['--offsets', offsets.join(',')];
    }

    private _line(line: Buffer): boolean {
      const tab = line.indexOf(0x09);
      if (tab <= 0) {
        return false;
      }
      const k = Number(line.subarray(0, tab).toString('ascii'));
      const body = line.subarray(tab + 1);
      this._offsets.set(k, (this._offsets.get(k) ?? 0) + body.length + 1);
      try {
        const event = JSON.parse(body.toString('utf8')) as IJobEvent;
        return this._tracker.handle(k, event);
      } catch {
        // A line cut by a full disk: the element's `done` still ends it.
        return false;
      }
    }

    noteError(chunk: Buffer): void {
      this.errors = (this.errors + chunk.toString('utf8')).slice(-2000).trim();
    }

    flush(): void {
      if (this._timer) {
        clearTimeout(this._timer);
        this._timer = undefined;
      }
      this._ctx.sink.updateDisplay(this._data(), {}, this._id);
      this._last = Date.now();
    }

    private _schedule(): void {
      if (this._timer) {
        return;
      }
      const wait = Math.max(0, this._last + ARRAY_UPDATE_MS - Date.now());
      this._timer = setTimeout(() => {
        this._timer = undefined;
        this.flush();
      }, wait);
    }

    private _data(): { [mime: string]: unknown } {
      return {
        [ARRAY_MIME]: this._tracker.payload,
        'text/plain': this._tracker.summary()
      };
    }

    private _ctx: IJobContext;
    private _tracker: ArrayTracker;
    private _id: string;
    private _rest: Buffer = Buffer.alloc(0);
    private _offsets = new Map<number, number>();
    private _last = 0;
    private _timer?: ReturnType<typeof setTimeout>;
  }

  /** Cancels the whole array (scancel/qdel, or the direct launcher's group); stops following if its elements stay silent. */
  export async function cancel(
    ctx: IJobContext,
    stopFollowing: () => void,
    running: () => boolean
  ): Promise<void> {
    const { job, scheduler, transport } = ctx;
    // unref: a follow that ended on its own leaves nothing to wait for.
    const stop = setTimeout(stopFollowing, ARRAY_CANCEL_WAIT_MS).unref();
    try {
      await scheduler.cancel(
        transport,
        job.schedulerId ?? '',
        job.remoteDir,
        ctx.agent
      );
    } catch (err) {
      ctx.sink.stream(
        'stderr',
        `[cluster-bridge] cancelling the array failed: ${errorMessage(err)}\n`
      );
      clearTimeout(stop);
      stopFollowing();
      return;
    }
    // Pending elements of a scheduler's array never start, so they never write an
    // end: follow until the running ones recorded theirs.
    if (job.scheduler !== 'direct') {
      const check = setInterval(() => {
        if (!running()) {
          clearInterval(check);
          clearTimeout(stop);
          stopFollowing();
        }
      }, 200).unref();
      setTimeout(() => clearInterval(check), ARRAY_CANCEL_WAIT_MS).unref();
    }
  }

  export function finish(
    ctx: IJobContext,
    tracker: ArrayTracker,
    records: IJobRecorder,
    cancelRequested: boolean
  ): IRunOutcome {
    const { job, sink, status } = ctx;
    const failed = tracker.failed;
    job.endedAt = Date.now();
    if (cancelRequested) {
      job.phase = 'cancelled';
      job.endState = 'cancelled';
      sink.stream('stderr', '[cluster-bridge] array cancelled\n');
    } else if (failed.length) {
      job.phase = 'failed';
      job.endState = 'failed';
      const name = tracker.payload.name;
      const lines = failed.map(
        e =>
          `element ${e.index} (${name}=${JSON.stringify(e.value)}): ${e.error ?? e.state}; ` +
          `re-run it alone with: %cluster rerun ${job.id} ${e.index}`
      );
      const message = `${failed.length} of ${tracker.payload.elements.length} elements failed`;
      job.detail = `${message}: ${failed.map(e => e.index).join(', ')}`;
      sink.error('ArrayElementFailed', message, [`${message}:`, ...lines]);
    } else {
      job.phase = 'done';
      job.endState = 'completed';
    }
    status.set({
      phase: job.phase,
      endState: job.endState,
      endedAt: job.endedAt,
      detail: job.phase === 'done' ? undefined : job.detail
    });
    records.put(job);
    return {
      status: cancelRequested ? 'aborted' : failed.length ? 'error' : 'ok',
      job: { ...job }
    };
  }
}
