/**
 * Follows one job's event log into its cell: streams the agent's `follow`
 * (or the fast path's `go`), resumes from the byte offset after a dropped
 * connection, decides when a job is lost, retries a cancel until the job
 * confirms it, and hands the end to ending.ts. Every output arrives once,
 * in order.
 */
import type {
  IDoneEvent,
  IJobEvent,
  IStatusEvent,
  JobEndState,
  JobPhase
} from '../../shared/events';
import { isEndPhase } from '../../shared/jobState';
import { agentCommand, JobOnOtherNodeError } from '../schedulers/direct';
import type { IStreamHandle } from '../transport/types';
import {
  errorMessage,
  firstLine,
  isConnectionDrop,
  type IJobContext,
  type IJobRecorder,
  type ITiming
} from './context';
import { endDetached, endJob, markFailed } from './ending';
import { EventLineParser } from './events';
import { EventMapper } from './outputs';
import type { IRunOutcome } from './types';
import type { Venv2Cache } from './venv2Cache';
import type { JobWatcher } from './watch';

/** The first command of a follow, and what to run instead if it fails before any event. */
export interface IFirstCommand {
  command: string;
  stdin: string;
  fallback?: IFirstCommand;
  /** Forget this VENV2 python when the command fails (the env was removed or moved). */
  venv2Key?: string;
}

export interface IFollowOptions {
  /** Byte offset of events.jsonl to start from. */
  offset: number;
  /** Aborted on interrupt: cancels the job, or with `onAbort: 'detach'` stops following it. */
  signal?: AbortSignal;
  onAbort?: 'cancel' | 'detach';
  /** Instead of `follow` (the fast path's `go`). */
  first?: IFirstCommand;
}

/** What a follower uses beyond its job. */
export interface IFollowerDeps {
  timing: ITiming;
  records: IJobRecorder;
  watcher: JobWatcher;
  venv2: Venv2Cache;
  /** Reconnects the job's transport (ClusterConnector.reconnect). */
  reconnect(ctx: IJobContext): Promise<void>;
  /** The agent failed before the job started: forget what is cached about the remote. */
  forgetRemote(ctx: IJobContext): void;
  /** True once the manager is disposed: stop following, the job runs on. */
  disposed(): boolean;
  gpuCard: boolean;
}

/** How one attempt of the stream ended. */
interface IAttempt {
  error: unknown;
  code: number | null;
  stderr: string;
}

export class JobFollower {
  constructor(
    private readonly _ctx: IJobContext,
    private readonly _deps: IFollowerDeps
  ) {
    this._mapper = new EventMapper({
      jobId: _ctx.job.id,
      sink: _ctx.sink,
      gpuCard: _deps.gpuCard,
      onStatus: event => this._onStatusEvent(event)
    });
    this._doneArrived = new Promise<void>(resolve => {
      this._resolveDone = resolve;
    });
  }

  /** Follows until the job ends; rejects when the job could not start. */
  async run(options: IFollowOptions): Promise<IRunOutcome> {
    const { signal } = options;
    this._parser = new EventLineParser(options.offset);
    const onAbort = () =>
      options.onAbort === 'detach'
        ? this.detach('detached: the job keeps running')
        : this._onAbort();
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) {
      onAbort();
    }
    const unwatch = this._deps.watcher.watch(this._ctx, {
      setPhase: (phase, detail) => this._setPhase(phase, detail),
      end: (state, reason, exitCode) =>
        this._synthesize(state, reason, exitCode),
      later: (ms, fn) => this._later(ms, fn)
    });
    try {
      await this._loop(options);
    } catch (err) {
      const { job, status } = this._ctx;
      markFailed(job, status, this._deps.records, firstLine(err));
      throw err;
    } finally {
      this._finished = true;
      signal?.removeEventListener('abort', onAbort);
      unwatch();
      for (const timer of this._timers) {
        clearTimeout(timer);
      }
    }
    if (this._detached !== null) {
      return endDetached(this._ctx, this._detached, this._deps.records);
    }
    return endJob(
      this._ctx,
      {
        done: (this._mapper.done ?? this._synthesized) as IDoneEvent,
        raised: this._mapper.raised,
        cancelRequested: this._cancelRequested,
        synthesized: this._synthesized !== null,
        diedSilently: this._diedSilently
      },
      this._deps.records,
      this._deps.timing.endedGraceMs
    );
  }

  /** Asks the scheduler (or the agent) to cancel the job; its `done` ends the follow. */
  async cancelRemote(): Promise<void> {
    const { job, scheduler, transport, agent, session } = this._ctx;
    if (session) {
      // A session cell: KeyboardInterrupt in the cell; the session and its allocation stay.
      return session.interrupt();
    }
    await scheduler.cancel(
      transport,
      job.schedulerId ?? '',
      job.remoteDir,
      agent
    );
    this._deps.watcher.poke(this._ctx);
  }

  /** Stops following; the job runs on and no end is recorded. */
  detach(reason: string): void {
    if (this._over) {
      return;
    }
    this._detached = reason;
    this._resolveDone();
    this._current?.close();
  }

  private get _over(): boolean {
    return (
      !!this._mapper.done ||
      this._synthesized !== null ||
      this._detached !== null
    );
  }

  /** Streams, and after each end of the stream decides: done, resume, fall back or give up. */
  private async _loop(options: IFollowOptions): Promise<void> {
    const { job, transport } = this._ctx;
    let first = options.first;
    let failures = 0;
    for (;;) {
      const before = this._parser.offset;
      const command = first ?? {
        command: agentCommand(
          this._ctx.agent,
          'follow',
          job.remoteDir,
          '--offset',
          String(this._parser.offset)
        ),
        stdin: undefined
      };
      const viaSession =
        first || this._sessionStreamFailed
          ? null
          : this._ctx.session?.openStream(this._parser.offset, chunk =>
              this._feed(chunk)
            );
      const attempt = viaSession
        ? await this._await(viaSession, [])
        : await this._stream(command.command, command.stdin);
      if (viaSession && attempt.error && !this._over) {
        // The session's stream failed: the agent's follow reads the same log by offset.
        this._sessionStreamFailed = true;
      }
      if (this._over) {
        return;
      }
      this._parser.dropPartial();
      if (this._deps.disposed()) {
        return this._synthesize(
          'lost',
          `the bridge shut down while following; the job may still be running: %cluster attach ${job.id}`
        );
      }
      const failed = first;
      first = undefined;
      if (isConnectionDrop(attempt.error, transport.state)) {
        try {
          this._ctx.status.set({ detail: 'connection lost, reconnecting' });
          await this._deps.reconnect(this._ctx);
          this._ctx.status.set({ detail: undefined });
        } catch (err) {
          return this._synthesize(
            'lost',
            `connection lost: ${firstLine(err)}. The job may still be running: %cluster attach ${job.id}`
          );
        }
        continue;
      }
      const errText = attempt.stderr || errorMessage(attempt.error);
      if (failed && this._parser.offset === options.offset) {
        first = this._notStarted(failed, attempt.code, errText);
        continue;
      }
      if (attempt.code === 3) {
        // The agent saw the job process die without a `done` event; a scheduler
        // that killed it (time limit, memory) knows why, and endJob asks it.
        this._diedSilently = true;
        return this._synthesize(
          'lost',
          errText || 'the job process ended without writing its end'
        );
      }
      failures = this._parser.offset > before ? 0 : failures + 1;
      if (failures >= 3) {
        return this._synthesize(
          'lost',
          `following the job's log failed: ${errText || `exit ${attempt.code}`}`
        );
      }
      await new Promise(resolve => setTimeout(resolve, 300 * failures));
    }
  }

  /** One stream of the log; returns as soon as `done` arrives (no wait for the channel to close). */
  private async _stream(command: string, stdin?: string): Promise<IAttempt> {
    const stderr: Buffer[] = [];
    try {
      const handle = this._ctx.transport.stream(command, {
        stdin,
        onStdout: chunk => this._feed(chunk),
        onStderr: chunk => void stderr.push(chunk)
      });
      return await this._await(handle, stderr);
    } catch (err) {
      return { error: err, code: null, stderr: '' };
    }
  }

  /** Waits for a stream's end or the `done` event, whichever comes first. */
  private async _await(
    handle: IStreamHandle,
    stderr: Buffer[]
  ): Promise<IAttempt> {
    const attempt: IAttempt = { error: null, code: null, stderr: '' };
    try {
      this._current = handle;
      const ended = this._current.done.then(r => {
        attempt.code = r.code;
        if (r.stderr && stderr.length === 0) {
          stderr.push(Buffer.from(r.stderr));
        }
      });
      ended.catch(() => undefined);
      await Promise.race([ended, this._doneArrived]);
    } catch (err) {
      attempt.error = err;
    }
    this._current = null;
    attempt.stderr = Buffer.concat(stderr).toString('utf8').trim();
    return attempt;
  }

  /** The first command failed before any event: its fallback, or the job failed to start. */
  private _notStarted(
    failed: IFirstCommand,
    code: number | null,
    errText: string
  ): IFirstCommand {
    const { transport, cluster } = this._ctx;
    if (failed.venv2Key) {
      this._deps.venv2.forget(transport, failed.venv2Key);
    }
    if (failed.fallback) {
      // VENV2's python did not run `go` (env removed, moved...): VENV1 can.
      return failed.fallback;
    }
    // The agent failed before the job started (missing runtime, bad bundle...).
    this._deps.forgetRemote(this._ctx);
    throw new Error(
      `cluster "${cluster.name}": starting the job failed (exit ${code}): ${errText}`
    );
  }

  private _feed(chunk: Buffer): void {
    const { events, bad } = this._parser.push(chunk);
    for (const line of bad) {
      this._ctx.sink.stream('stderr', `${line}\n`);
    }
    for (const event of events) {
      this._handle(event);
    }
    this._ctx.job.offset = this._parser.offset;
    if (this._mapper.done) {
      this._resolveDone();
    }
  }

  private _handle(event: IJobEvent): void {
    this._mapper.handle(event);
    if (
      event.type !== 'status' &&
      event.type !== 'done' &&
      event.type !== 'env' &&
      this._ctx.job.phase !== 'running'
    ) {
      // Output means the cell runs, even if no status event said so.
      this._setPhase('running');
    }
  }

  private _onStatusEvent(event: IStatusEvent): void {
    if (isEndPhase(event.phase)) {
      return; // the `done` event ends the job
    }
    const { job, transport, venv2Key } = this._ctx;
    if (event.node) {
      job.node = event.node;
    }
    if (venv2Key) {
      // The agent names VENV2's python when the cell starts: later cells can `go` with it.
      const python = (event as { python?: unknown }).python;
      this._deps.venv2.learn(transport, venv2Key, python);
    }
    this._setPhase(event.phase, event.message);
  }

  private _setPhase(phase: JobPhase, detail?: string): void {
    const { job, status } = this._ctx;
    const changed = job.phase !== phase;
    job.phase = phase;
    status.set({ phase, node: job.node, detail });
    if (changed) {
      this._deps.records.put(job);
    }
  }

  /** Ends the follow with a `done` of our own (the log will never have one). */
  private _synthesize(
    state: JobEndState,
    reason?: string,
    exitCode?: number | null
  ): void {
    if (this._over) {
      return;
    }
    this._synthesized = {
      type: 'done',
      seq: -1,
      t: Date.now() / 1000,
      state,
      reason,
      exitCode
    };
    this._resolveDone();
    this._current?.close();
  }

  private _onAbort(): void {
    if (this._cancelRequested) {
      return;
    }
    this._cancelRequested = true;
    this._ctx.status.set({ detail: 'cancelling' });
    this._cancelAttempt(0);
    const { session } = this._ctx;
    if (session) {
      // The cell keeps its namespace: never give up on it, say what to do instead.
      this._later(session.interruptNoticeMs, () => {
        if (!this._over) {
          this._ctx.sink.stream('stderr', session.stuckNotice);
        }
      });
      return;
    }
    this._later(this._deps.timing.cancelWaitMs, () =>
      this._synthesize(
        'cancelled',
        'the job did not confirm the cancel in time'
      )
    );
  }

  /**
   * Cancels again every second while no `done` arrives: an interrupt that
   * lands before the job has started (no pid yet) would otherwise be lost.
   */
  private _cancelAttempt(n: number): void {
    if (this._over || this._finished) {
      return;
    }
    this.cancelRemote()
      .catch(err => {
        if (err instanceof JobOnOtherNodeError) {
          // Retrying reaches the same wrong node: end the cell, not the job.
          this.detach(`not cancelled: ${err.message}`);
          return;
        }
        if (n === 0) {
          this._ctx.sink.stream(
            'stderr',
            `[cluster-bridge] cancel failed: ${errorMessage(err)}\n`
          );
        }
      })
      .then(() => this._later(1000, () => this._cancelAttempt(n + 1)));
  }

  private _later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      fn();
    }, ms);
    this._timers.add(timer);
  }

  private _mapper: EventMapper;
  private _parser = new EventLineParser();
  private _doneArrived: Promise<void>;
  private _resolveDone: () => void = () => undefined;
  private _synthesized: IDoneEvent | null = null;
  private _diedSilently = false;
  private _detached: string | null = null;
  private _current: IStreamHandle | null = null;
  private _cancelRequested = false;
  private _sessionStreamFailed = false;
  private _finished = false;
  private _timers = new Set<ReturnType<typeof setTimeout>>();
}
