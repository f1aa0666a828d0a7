/**
 * JobManager: runs a cell on its cluster and turns the remote event log into
 * outputs. resolve cluster -> transport (pooled) -> runtime + VENV1 (cached
 * per connection) -> bundle -> direct: ONE exec of the agent's `go` (prepare,
 * launch, follow) / batch: prepare, submit, follow while polling the
 * scheduler -> events become IOutputSink calls. A dropped connection is
 * resumed from the byte offset, so every output arrives once, in order.
 */
import type { IResolvedCluster, SchedulerKind } from '../../shared/config';
import type {
  IDoneEvent,
  IJobEvent,
  IStatusEvent,
  JobEndState,
  JobPhase
} from '../../shared/events';
import type { IJobInfo } from '../../shared/jobs';
import { ClusterRegistry } from '../clusters/registry';
import {
  agentPrefix,
  CANCEL_GRACE_S,
  DirectScheduler,
  venv2Prefix
} from '../schedulers/direct';
import { explainJob } from '../schedulers';
import type { IJobSpec, IScheduler, SchedulerState } from '../schedulers/types';
import type { IPrompter, IStreamHandle, ITransport } from '../transport/types';
import { shellQuote } from '../util/quote';
import { isJobId, makeBundle, newJobId } from './bundle';
import { EventLineParser } from './events';
import { EventMapper } from './outputs';
import { StatePoller } from './poller';
import { IRemoteRuntime, RuntimeInstaller } from './runtime';
import { StatusLine } from './status';
import { JobStore } from './store';
import type {
  IJobManager,
  IOutputSink,
  IRunCellOptions,
  IRunOutcome
} from './types';

/** Where transports come from (TransportPool in production). */
export interface ITransportProvider {
  get(cluster: IResolvedCluster): ITransport;
  closeAll?(): Promise<void>;
}

export interface IJobManagerOptions {
  registry: ClusterRegistry;
  pool: ITransportProvider;
  /** Batch schedulers by kind (schedulers/index.ts createScheduler); direct is built in. */
  schedulers?: (kind: SchedulerKind) => IScheduler;
  /** Job store folder (default $CLUSTER_BRIDGE_STATE_DIR or ~/.local/share/cluster-bridge). */
  stateDir?: string;
  runtime?: RuntimeInstaller;
  /** Timing knobs (tests shorten them). */
  timing?: Partial<ITiming>;
}

export interface ITiming {
  /** After an interrupt, how long to wait for the job's own `done` before giving up. */
  cancelWaitMs: number;
  /** After the scheduler says the job ended, how long to wait for `done` in the log. */
  endedGraceMs: number;
  /** Direct jobs: how often to check that the process is alive (first check after this too). */
  directProbeMs: number;
  /** How long to keep trying to reconnect after a dropped connection. */
  reconnectMs: number;
}

const DEFAULT_TIMING: ITiming = {
  cancelWaitMs: (CANCEL_GRACE_S + 10) * 1000,
  endedGraceMs: 3000,
  directProbeMs: 5000,
  reconnectMs: 60000
};

/** Everything one job's follow needs. */
interface IJobContext {
  job: IJobInfo;
  cluster: IResolvedCluster;
  transport: ITransport;
  runtime: IRemoteRuntime;
  scheduler: IScheduler;
  agent: string;
  sink: IOutputSink;
  status: StatusLine;
  prompter?: IPrompter;
  /** Direct jobs whose env has no setup lines: the VENV2 cache key to learn (warm fork path). */
  venv2Key?: string;
}

/** The first command of a follow, and what to run instead if it fails before any event. */
interface IFirstCommand {
  command: string;
  stdin: string;
  fallback?: IFirstCommand;
  /** Forget this VENV2 python when the command fails (the env was removed or moved). */
  venv2Key?: string;
}

export class JobManager implements IJobManager {
  constructor(options: IJobManagerOptions) {
    this.registry = options.registry;
    this.pool = options.pool;
    this._schedulers = options.schedulers;
    this._store = new JobStore(options.stateDir);
    this._runtime = options.runtime ?? new RuntimeInstaller();
    this._timing = { ...DEFAULT_TIMING, ...(options.timing ?? {}) };
  }

  readonly registry: ClusterRegistry;
  readonly pool: ITransportProvider;

  /** Show GPU cards (the frontend's `gpuCard` setting). */
  gpuCard = true;

  get storeFile(): string {
    return this._store.file;
  }

  async runCell(options: IRunCellOptions): Promise<IRunOutcome> {
    const { request, sink, signal } = options;
    const cluster = this.registry.resolve(request.cluster);
    const kind: SchedulerKind =
      request.scheduler ?? cluster.config.scheduler ?? 'direct';
    const scheduler = this._scheduler(kind);
    const jobId = newJobId();
    const startedAt = Date.now();
    const status = new StatusLine(sink, {
      jobId,
      cluster: cluster.name,
      phase: 'connecting',
      scheduler: kind,
      startedAt
    });
    const fail = (err: unknown): never => {
      status.set({
        phase: 'failed',
        endState: 'failed',
        endedAt: Date.now(),
        detail: Private.firstLine(err)
      });
      throw err;
    };
    if (!request.dryRun) {
      status.flush();
    }
    let transport: ITransport;
    let runtime: IRemoteRuntime;
    try {
      transport = await this._connect(cluster, options.prompter);
      if (signal?.aborted) {
        status.set({
          phase: 'cancelled',
          endState: 'cancelled',
          endedAt: Date.now()
        });
        return { status: 'aborted' };
      }
      if (!this._runtime.peek(transport, cluster)) {
        status.set({
          phase: 'preparing',
          detail: 'checking the remote runtime'
        });
      }
      runtime = await this._prepare(transport, cluster, sink);
    } catch (err) {
      return fail(err);
    }
    const jobDir = `${runtime.workDir}/jobs/${jobId}`;
    const agent = agentPrefix(runtime.python, runtime.runtimeDir);
    let bundle;
    try {
      bundle = makeBundle({
        jobId,
        code: options.code,
        lineOffset: options.lineOffset,
        executionCount: options.executionCount,
        request,
        cluster,
        workDir: runtime.workDir
      });
    } catch (err) {
      return fail(err);
    }
    const spec: IJobSpec = {
      id: jobId,
      jobDir,
      command: `${agent} run ${shellQuote(jobDir)}`,
      request,
      defaults: cluster.config.defaults ?? {}
    };
    if (request.dryRun) {
      status.dispose();
      this._dryRun(cluster, kind, scheduler, spec, agent, bundle, sink);
      return { status: 'ok' };
    }
    const job: IJobInfo = {
      id: jobId,
      cluster: cluster.name,
      scheduler: kind,
      remoteDir: jobDir,
      phase: 'preparing',
      detached: !!request.detach,
      submittedAt: startedAt,
      title: Private.title(options.code),
      offset: 0
    };
    const ctx: IJobContext = {
      job,
      cluster,
      transport,
      runtime,
      scheduler,
      agent,
      sink,
      status,
      prompter: options.prompter
    };
    if (scheduler instanceof DirectScheduler) {
      scheduler.register(jobDir, agent);
    }
    this._update(job);

    if (kind === 'direct' && !request.detach) {
      // The fast path: prepare + launch + follow in one exec, the bundle on stdin.
      status.set({ phase: 'starting', detail: undefined });
      let first: IFirstCommand = {
        command: `${agent} go ${shellQuote(jobDir)}`,
        stdin: JSON.stringify(bundle)
      };
      if (!(bundle.env.setup ?? []).length) {
        // Warm: `go` on VENV2's own python, which forks the runner (one Python start, not two).
        ctx.venv2Key = `${runtime.workDir}\0${bundle.envHash}`;
        const venv2 = this._venv2.get(transport)?.get(ctx.venv2Key);
        if (venv2) {
          first = {
            command: `${venv2Prefix(venv2, runtime.runtimeDir)} go ${shellQuote(jobDir)}`,
            stdin: first.stdin,
            fallback: first,
            venv2Key: ctx.venv2Key
          };
        }
      }
      return this._follow(ctx, { offset: 0, signal, first });
    }

    // prepare (+ launch for direct) in one exec.
    status.set({ phase: 'submitted', detail: undefined });
    try {
      if (kind === 'direct') {
        const result = await transport.exec(
          `${agent} prepare ${shellQuote(jobDir)} && ${agent} launch ${shellQuote(jobDir)}`,
          { stdin: JSON.stringify(bundle) }
        );
        const pid = /"pid"\s*:\s*(\d+)/.exec(result.stdout);
        if (result.code !== 0 || !pid) {
          throw new Error(
            `starting the job failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`
          );
        }
        job.schedulerId = pid[1];
      } else {
        const prepared = await transport.exec(
          `${agent} prepare ${shellQuote(jobDir)}`,
          { stdin: JSON.stringify(bundle) }
        );
        if (prepared.code !== 0) {
          throw new Error(
            `preparing the job failed (exit ${prepared.code}): ${(prepared.stderr || prepared.stdout).trim()}`
          );
        }
        try {
          job.schedulerId = (
            await scheduler.submit(transport, spec)
          ).schedulerId;
        } catch (err) {
          // Rejected at submit: the scheduler's own words, and nothing left behind.
          await transport
            .exec(`rm -rf ${shellQuote(jobDir)}`)
            .catch(() => undefined);
          const message = Private.message(err);
          job.phase = 'failed';
          job.endState = 'rejected';
          job.detail = message;
          job.endedAt = Date.now();
          this._update(job);
          status.set({
            phase: 'failed',
            endState: 'rejected',
            endedAt: job.endedAt,
            detail: Private.firstLine(message)
          });
          sink.error('JobRejected', message, [
            `${kind} rejected the job: ${message}`
          ]);
          return { status: 'error', job: { ...job } };
        }
      }
    } catch (err) {
      job.phase = 'failed';
      job.endState = 'failed';
      job.endedAt = Date.now();
      job.detail = Private.message(err);
      this._update(job);
      return fail(err);
    }
    job.phase = 'submitted';
    status.set({ phase: 'submitted', schedulerId: job.schedulerId });
    this._update(job);

    if (request.detach) {
      // On disk before the cell says "detached": a kernel restart right after must find it.
      this._store.flush();
      status.flush();
      status.dispose();
      sink.stream(
        'stdout',
        `Job ${jobId} submitted to ${cluster.name}` +
          (kind !== 'direct'
            ? ` (${kind} job ${job.schedulerId})`
            : ` (pid ${job.schedulerId})`) +
          ` and detached.\nAttach with: %cluster attach ${jobId}\nCancel with: %cluster cancel ${jobId}\n`
      );
      return { status: 'ok', job: { ...job } };
    }
    return this._follow(ctx, { offset: 0, signal });
  }

  async attach(
    jobId: string,
    sink: IOutputSink,
    signal?: AbortSignal,
    prompter?: IPrompter
  ): Promise<IRunOutcome> {
    const job = this._job(jobId);
    const cluster = this.registry.resolve(job.cluster);
    const status = new StatusLine(sink, {
      jobId: job.id,
      cluster: cluster.name,
      phase: 'connecting',
      scheduler: job.scheduler,
      schedulerId: job.schedulerId,
      startedAt: job.submittedAt
    });
    status.flush();
    let transport: ITransport;
    let runtime: IRemoteRuntime;
    try {
      transport = await this._connect(cluster, prompter);
      runtime = await this._prepare(transport, cluster, sink);
    } catch (err) {
      status.set({
        phase: 'failed',
        endedAt: Date.now(),
        detail: Private.firstLine(err)
      });
      throw err;
    }
    const scheduler = this._scheduler(job.scheduler);
    const agent = agentPrefix(runtime.python, runtime.runtimeDir);
    if (scheduler instanceof DirectScheduler) {
      scheduler.register(job.remoteDir, agent);
    }
    status.set({ phase: job.endState ? job.phase : 'running', node: job.node });
    const attached: IJobInfo = { ...job, detached: false };
    const ctx: IJobContext = {
      job: attached,
      cluster,
      transport,
      runtime,
      scheduler,
      agent,
      sink,
      status,
      prompter
    };
    // Replay the whole log: the cell that attaches shows every output.
    return this._follow(ctx, { offset: 0, signal });
  }

  async cancel(jobId: string, prompter?: IPrompter): Promise<void> {
    const active = this._active.get(jobId);
    if (active) {
      await this._cancelRemote(active);
      return;
    }
    const job = this._job(jobId);
    const cluster = this.registry.resolve(job.cluster);
    const transport = await this._connect(cluster, prompter);
    const runtime = await this._prepare(transport, cluster);
    const scheduler = this._scheduler(job.scheduler);
    const agent = agentPrefix(runtime.python, runtime.runtimeDir);
    if (scheduler instanceof DirectScheduler) {
      scheduler.register(job.remoteDir, agent);
    }
    await scheduler.cancel(transport, job.schedulerId ?? '', job.remoteDir);
    if (!job.endState) {
      this._update({
        ...job,
        phase: 'cancelled',
        endState: 'cancelled',
        endedAt: Date.now()
      });
    }
  }

  jobs(): IJobInfo[] {
    return this._store.list();
  }

  onChange(listener: (job: IJobInfo) => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /**
   * Connects and prepares a cluster (for `%cluster doctor` and the comm's
   * `test`): the remote work directory, runtime and VENV1.
   */
  async prepareCluster(
    name: string,
    prompter?: IPrompter
  ): Promise<IRemoteRuntime & { agent: string; transport: ITransport }> {
    const cluster = this.registry.resolve(name);
    const transport = await this._connect(cluster, prompter);
    const runtime = await this._prepare(transport, cluster);
    const agent = agentPrefix(runtime.python, runtime.runtimeDir);
    return { ...runtime, agent, transport };
  }

  /** Flushes the job store and closes connections; detached jobs keep running. */
  async dispose(): Promise<void> {
    this._disposed = true;
    this._store.flush();
    await this.pool.closeAll?.();
  }

  private _job(jobId: string): IJobInfo {
    const job = this._store.get(jobId);
    if (!job) {
      const recent = this._store
        .list()
        .slice(0, 5)
        .map(j => j.id);
      throw new Error(
        `unknown job "${jobId}"` +
          (isJobId(jobId) ? " (not in this machine's job store)" : '') +
          (recent.length
            ? `. Recent jobs: ${recent.join(', ')}`
            : '. No jobs recorded yet.')
      );
    }
    return job;
  }

  private _scheduler(kind: SchedulerKind): IScheduler {
    if (kind === 'direct') {
      return this._direct;
    }
    let scheduler = this._batch.get(kind);
    if (!scheduler) {
      if (!this._schedulers) {
        throw new Error(`scheduler "${kind}" is not available in this bridge`);
      }
      scheduler = this._schedulers(kind);
      this._batch.set(kind, scheduler);
    }
    return scheduler;
  }

  private async _connect(
    cluster: IResolvedCluster,
    prompter?: IPrompter
  ): Promise<ITransport> {
    const transport = this.pool.get(cluster);
    if (transport.state === 'connected') {
      return transport;
    }
    this.registry.setConnectionState(cluster.name, 'connecting');
    try {
      await transport.connect(prompter);
    } catch (err) {
      this.registry.setConnectionState(
        cluster.name,
        'error',
        Private.firstLine(err)
      );
      throw err;
    }
    this.registry.setConnectionState(cluster.name, 'connected');
    return transport;
  }

  private async _prepare(
    transport: ITransport,
    cluster: IResolvedCluster,
    sink?: IOutputSink
  ): Promise<IRemoteRuntime> {
    const known = this._runtime.peek(transport, cluster);
    if (known) {
      return known;
    }
    const runtime = await this._runtime.ensure(transport, cluster);
    for (const notice of runtime.notices) {
      const key = `${cluster.name}\0${notice}`;
      if (sink && !this._noticed.has(key)) {
        this._noticed.add(key);
        sink.stream('stderr', `[cluster-bridge] ${notice}\n`);
      }
    }
    return runtime;
  }

  private _dryRun(
    cluster: IResolvedCluster,
    kind: SchedulerKind,
    scheduler: IScheduler,
    spec: IJobSpec,
    agent: string,
    bundle: unknown,
    sink: IOutputSink
  ): void {
    let text: string;
    if (kind === 'direct') {
      text = `Command (bundle.json on stdin):\n${agent} go ${shellQuote(spec.jobDir)}\n`;
    } else {
      const plan = explainJob(scheduler, spec);
      text =
        `Job script${plan.scriptPath ? ` (${plan.scriptPath})` : ''}:\n` +
        plan.script.replace(/\n?$/, '\n') +
        (plan.command ? `\nSubmitted with:\n${plan.command}\n` : '');
    }
    sink.stream(
      'stdout',
      `Dry run on cluster "${cluster.name}" (${kind}): nothing was submitted.\n\n` +
        `Job directory: ${spec.jobDir}\n\n` +
        text +
        `\nbundle.json:\n${JSON.stringify(bundle, null, 2)}\n`
    );
  }

  private async _follow(
    ctx: IJobContext,
    options: {
      offset: number;
      signal?: AbortSignal;
      first?: IFirstCommand;
    }
  ): Promise<IRunOutcome> {
    const { job, sink, status, transport } = ctx;
    const jobDir = job.remoteDir;
    const parser = new EventLineParser(options.offset);
    let resolveDone: () => void = () => undefined;
    const doneArrived = new Promise<void>(resolve => (resolveDone = resolve));
    const mapper = new EventMapper({
      jobId: job.id,
      sink,
      gpuCard: this.gpuCard,
      onStatus: event => this._onStatusEvent(ctx, event)
    });
    let synthesized: IDoneEvent | null = null;
    let current: IStreamHandle | null = null;
    let cancelRequested = false;
    let finished = false;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const later = (ms: number, fn: () => void) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    };
    const synthesize = (
      state: JobEndState,
      reason?: string,
      exitCode?: number | null
    ) => {
      if (mapper.done || synthesized) {
        return;
      }
      synthesized = {
        type: 'done',
        seq: -1,
        t: Date.now() / 1000,
        state,
        reason,
        exitCode
      };
      resolveDone();
      current?.close();
    };
    const feed = (chunk: Buffer) => {
      const { events, bad } = parser.push(chunk);
      for (const line of bad) {
        sink.stream('stderr', `${line}\n`);
      }
      for (const event of events) {
        this._handle(ctx, mapper, event);
      }
      job.offset = parser.offset;
      if (mapper.done) {
        resolveDone();
      }
    };

    this._active.set(job.id, ctx);
    const onAbort = () => {
      if (cancelRequested) {
        return;
      }
      cancelRequested = true;
      status.set({ detail: 'cancelling' });
      // Cancel again while no `done` arrives: an interrupt that lands before the
      // job has started (no pid yet) would otherwise be lost.
      const attempt = (n: number) => {
        if (mapper.done || synthesized || finished) {
          return;
        }
        this._cancelRemote(ctx)
          .catch(err => {
            if (n === 0) {
              sink.stream(
                'stderr',
                `[cluster-bridge] cancel failed: ${Private.message(err)}\n`
              );
            }
          })
          .then(() => later(1000, () => attempt(n + 1)));
      };
      attempt(0);
      later(this._timing.cancelWaitMs, () =>
        synthesize('cancelled', 'the job did not confirm the cancel in time')
      );
    };
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) {
      onAbort();
    }
    const unwatch = this._watch(ctx, synthesize, later);

    let command: IFirstCommand | undefined = options.first;
    let failures = 0;
    try {
      for (;;) {
        const before = parser.offset;
        const stderr: Buffer[] = [];
        let error: unknown = null;
        let code: number | null = null;
        const cmd = command ?? {
          command: `${ctx.agent} follow ${shellQuote(jobDir)} --offset ${parser.offset}`,
          stdin: undefined
        };
        try {
          current = transport.stream(cmd.command, {
            stdin: cmd.stdin,
            onStdout: feed,
            onStderr: chunk => void stderr.push(chunk)
          });
          const ended = current.done.then(r => {
            code = r.code;
            if (r.stderr && stderr.length === 0) {
              stderr.push(Buffer.from(r.stderr));
            }
          });
          ended.catch(() => undefined);
          // Done as soon as the `done` event arrives; no wait for the channel to close.
          await Promise.race([ended, doneArrived]);
        } catch (err) {
          error = err;
        }
        current = null;
        if (mapper.done || synthesized) {
          break;
        }
        parser.dropPartial();
        if (this._disposed) {
          synthesize(
            'lost',
            `the bridge shut down while following; the job may still be running: %cluster attach ${job.id}`
          );
          break;
        }
        const first = command;
        command = undefined;
        if (Private.isDrop(error, transport)) {
          try {
            await this._reconnect(ctx);
          } catch (err) {
            synthesize(
              'lost',
              `connection lost: ${Private.firstLine(err)}. The job may still be running: %cluster attach ${job.id}`
            );
            break;
          }
          continue;
        }
        const errText =
          Buffer.concat(stderr).toString('utf8').trim() ||
          Private.message(error);
        if (first && parser.offset === options.offset) {
          if (first.venv2Key) {
            this._venv2.get(transport)?.delete(first.venv2Key);
          }
          if (first.fallback) {
            // VENV2's python did not run `go` (env removed, moved...): VENV1 can.
            command = first.fallback;
            continue;
          }
          // The agent failed before the job started (missing runtime, bad bundle...).
          this._runtime.forget(transport);
          this._venv2.delete(transport);
          throw new Error(
            `cluster "${ctx.cluster.name}": starting the job failed (exit ${code}): ${errText}`
          );
        }
        if (code === 3) {
          // The agent saw the job process die without a `done` event.
          synthesize(
            'lost',
            errText || 'the job process ended without writing its end'
          );
          break;
        }
        failures = parser.offset > before ? 0 : failures + 1;
        if (failures >= 3) {
          synthesize(
            'lost',
            `following the job's log failed: ${errText || `exit ${code}`}`
          );
          break;
        }
        await new Promise(resolve => setTimeout(resolve, 300 * failures));
      }
    } catch (err) {
      job.phase = 'failed';
      job.endState = 'failed';
      job.endedAt = Date.now();
      job.detail = Private.firstLine(err);
      this._update(job);
      status.set({
        phase: 'failed',
        endState: 'failed',
        endedAt: job.endedAt,
        detail: job.detail
      });
      throw err;
    } finally {
      finished = true;
      options.signal?.removeEventListener('abort', onAbort);
      unwatch();
      for (const timer of timers) {
        clearTimeout(timer);
      }
      this._active.delete(job.id);
    }
    const done = (mapper.done ?? synthesized) as IDoneEvent;
    return this._finish(
      ctx,
      done,
      mapper,
      cancelRequested,
      synthesized !== null
    );
  }

  private _handle(
    ctx: IJobContext,
    mapper: EventMapper,
    event: IJobEvent
  ): void {
    mapper.handle(event);
    if (
      event.type !== 'status' &&
      event.type !== 'done' &&
      ctx.job.phase !== 'running' &&
      event.type !== 'env'
    ) {
      // Output means the cell runs, even if no status event said so.
      this._setPhase(ctx, 'running');
    }
  }

  private _onStatusEvent(ctx: IJobContext, event: IStatusEvent): void {
    if (
      event.phase === 'done' ||
      event.phase === 'failed' ||
      event.phase === 'cancelled'
    ) {
      return; // the `done` event ends the job
    }
    if (event.node) {
      ctx.job.node = event.node;
    }
    // The agent names VENV2's python when the cell starts: later cells can `go` with it.
    const python = (event as { python?: unknown }).python;
    if (ctx.venv2Key && typeof python === 'string' && python.startsWith('/')) {
      let known = this._venv2.get(ctx.transport);
      if (!known) {
        known = new Map();
        this._venv2.set(ctx.transport, known);
      }
      known.set(ctx.venv2Key, python);
    }
    this._setPhase(ctx, event.phase, event.message);
  }

  private _setPhase(ctx: IJobContext, phase: JobPhase, detail?: string): void {
    const { job, status } = ctx;
    const changed = job.phase !== phase;
    job.phase = phase;
    status.set({ phase, node: job.node, detail });
    if (changed) {
      this._update(job);
    }
  }

  /** Scheduler-side watch: queue reason, node, and an end the log never recorded. */
  private _watch(
    ctx: IJobContext,
    synthesize: (
      state: JobEndState,
      reason?: string,
      exitCode?: number | null
    ) => void,
    later: (ms: number, fn: () => void) => void
  ): () => void {
    const { job } = ctx;
    if (job.scheduler === 'direct') {
      return this._watchDirect(ctx, synthesize);
    }
    if (!job.schedulerId) {
      return () => undefined;
    }
    const poller = this._poller(ctx);
    let ended = false;
    return poller.watch(job.schedulerId, (state: SchedulerState) => {
      if (
        state.state === 'pending' &&
        (job.phase === 'submitted' ||
          job.phase === 'queued' ||
          job.phase === 'preparing')
      ) {
        const detail = [
          state.reason,
          state.expectedStart ? `expected start ${state.expectedStart}` : ''
        ]
          .filter(Boolean)
          .join(', ');
        this._setPhase(ctx, 'queued', detail || undefined);
      } else if (state.state === 'running') {
        if (state.node) {
          job.node = state.node;
        }
        if (job.phase === 'submitted' || job.phase === 'queued') {
          this._setPhase(ctx, 'starting');
        }
      } else if (state.state === 'ended' && !ended) {
        ended = true;
        // Give the log a moment to deliver its own `done` (it has the details).
        later(this._timing.endedGraceMs, () =>
          synthesize(state.end, state.reason, state.exitCode)
        );
      }
    });
  }

  /** Direct jobs: a slow liveness probe through the agent's `status`. */
  private _watchDirect(
    ctx: IJobContext,
    synthesize: (
      state: JobEndState,
      reason?: string,
      exitCode?: number | null
    ) => void
  ): () => void {
    let stopped = false;
    let misses = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const tick = async () => {
      timer = null;
      try {
        const result = await ctx.transport.exec(
          `${ctx.agent} status ${shellQuote(ctx.job.remoteDir)}`
        );
        const info = Private.parseStatus(result.stdout);
        if (info && info.pid) {
          ctx.job.schedulerId = String(info.pid);
        }
        if (info && info.alive === false) {
          misses += 1;
          // Twice dead and still no `done` in the log: the process died without writing it.
          if (misses >= 2) {
            const state = Private.endState(info.state);
            synthesize(
              state,
              info.reason ?? 'the job process ended without writing its end',
              info.exitCode
            );
            return;
          }
        }
      } catch {
        // connection trouble: the follow loop handles reconnects
      }
      if (!stopped) {
        timer = setTimeout(() => void tick(), this._timing.directProbeMs);
      }
    };
    timer = setTimeout(() => void tick(), this._timing.directProbeMs);
    return () => {
      stopped = true;
      if (timer) {
        clearTimeout(timer);
      }
    };
  }

  private _poller(ctx: IJobContext): StatePoller {
    const key = `${ctx.cluster.name}\0${ctx.job.scheduler}`;
    let entry = this._pollers.get(key);
    if (!entry || entry.transport !== ctx.transport) {
      entry = {
        transport: ctx.transport,
        poller: new StatePoller(ctx.transport, ctx.scheduler)
      };
      this._pollers.set(key, entry);
    }
    return entry.poller;
  }

  private async _cancelRemote(ctx: IJobContext): Promise<void> {
    const { job } = ctx;
    await ctx.scheduler.cancel(
      ctx.transport,
      job.schedulerId ?? '',
      job.remoteDir
    );
    if (job.scheduler !== 'direct') {
      this._poller(ctx).poke();
    }
  }

  private async _reconnect(ctx: IJobContext): Promise<void> {
    const { cluster, status } = ctx;
    status.set({ detail: 'connection lost, reconnecting' });
    this.registry.setConnectionState(
      cluster.name,
      'connecting',
      'connection lost'
    );
    const deadline = Date.now() + this._timing.reconnectMs;
    let wait = 250;
    for (;;) {
      try {
        await ctx.transport.connect(ctx.prompter);
        this.registry.setConnectionState(cluster.name, 'connected');
        status.set({ detail: undefined });
        return;
      } catch (err) {
        if (Date.now() + wait > deadline) {
          this.registry.setConnectionState(
            cluster.name,
            'error',
            Private.firstLine(err)
          );
          throw err;
        }
      }
      await new Promise(resolve => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 5000);
    }
  }

  private async _finish(
    ctx: IJobContext,
    end: IDoneEvent,
    mapper: EventMapper,
    cancelRequested: boolean,
    synthesized: boolean
  ): Promise<IRunOutcome> {
    const { job, sink, status } = ctx;
    let done = end;
    if (
      !synthesized &&
      !cancelRequested &&
      job.scheduler !== 'direct' &&
      done.state !== 'completed'
    ) {
      // The job's own log says it was stopped; the scheduler knows why (TIMEOUT, OOM, node failure).
      done = await this._refineEnd(ctx, done);
    }
    if (cancelRequested && done.state === 'failed') {
      // The scheduler signals every process of the job at once (scancel), so the
      // runner can die before the agent has seen its own signal and recorded the
      // cancel: after a cancel we asked for, a failed end is that cancel.
      done = { ...done, state: 'cancelled' };
    }
    const state = done.state;
    const phase: JobPhase =
      state === 'completed'
        ? 'done'
        : state === 'cancelled'
          ? 'cancelled'
          : 'failed';
    job.phase = phase;
    job.endState = state;
    job.exitCode = done.exitCode ?? null;
    job.endedAt = Date.now();
    job.detail = done.reason;
    if (synthesized && job.scheduler !== 'direct') {
      await this._showSchedulerLog(ctx);
    }
    if (phase === 'failed' && !mapper.raised) {
      const message = Private.endMessage(done);
      sink.error(Private.ename(state), message, [message]);
    } else if (phase === 'cancelled' && !mapper.raised) {
      sink.stream('stderr', '[cluster-bridge] job cancelled\n');
    }
    status.set({
      phase,
      endState: state,
      exitCode: job.exitCode,
      endedAt: job.endedAt,
      node: job.node,
      detail: phase === 'done' ? undefined : done.reason
    });
    this._update(job);
    const outcome: IRunOutcome['status'] =
      phase === 'cancelled' || cancelRequested
        ? 'aborted'
        : phase === 'done' && !mapper.raised
          ? 'ok'
          : 'error';
    return { status: outcome, job: { ...job } };
  }

  /** The scheduler's end state when it is more specific than the log's. */
  private async _refineEnd(
    ctx: IJobContext,
    done: IDoneEvent
  ): Promise<IDoneEvent> {
    const id = ctx.job.schedulerId;
    if (!id) {
      return done;
    }
    const specific = new Set<JobEndState>([
      'timeout',
      'out_of_memory',
      'node_fail'
    ]);
    const deadline = Date.now() + this._timing.endedGraceMs * 2;
    for (;;) {
      try {
        const state = (await ctx.scheduler.states(ctx.transport, [id])).get(id);
        if (state?.state === 'ended') {
          return specific.has(state.end)
            ? {
                ...done,
                state: state.end,
                reason: state.reason ?? done.reason,
                exitCode: state.exitCode ?? done.exitCode
              }
            : done;
        }
      } catch {
        return done;
      }
      if (Date.now() > deadline) {
        return done;
      }
      await new Promise(resolve => setTimeout(resolve, 300));
    }
  }

  /** A batch job that died without a `done`: its scheduler log usually says why. */
  private async _showSchedulerLog(ctx: IJobContext): Promise<void> {
    try {
      const dir = shellQuote(ctx.job.remoteDir);
      const result = await ctx.transport.exec(
        `tail -c 2000 ${dir}/scheduler.err 2>/dev/null`
      );
      const text = result.stdout.trim();
      if (text) {
        ctx.sink.stream(
          'stderr',
          `[cluster-bridge] scheduler log (${ctx.job.remoteDir}/scheduler.err):\n${text}\n`
        );
      }
    } catch {
      // best effort
    }
  }

  private _update(job: IJobInfo): void {
    this._store.put(job);
    const copy = { ...job };
    for (const listener of [...this._listeners]) {
      try {
        listener(copy);
      } catch {
        // a listener's failure never breaks a job
      }
    }
  }

  private _store: JobStore;
  private _runtime: RuntimeInstaller;
  private _timing: ITiming;
  private _schedulers?: (kind: SchedulerKind) => IScheduler;
  private _direct = new DirectScheduler();
  private _batch = new Map<SchedulerKind, IScheduler>();
  private _pollers = new Map<
    string,
    { transport: ITransport; poller: StatePoller }
  >();
  private _active = new Map<string, IJobContext>();
  private _listeners = new Set<(job: IJobInfo) => void>();
  private _noticed = new Set<string>();
  /** VENV2 pythons by connection, then `workDir\0envHash`: learnt from a cell's running status. */
  private _venv2 = new WeakMap<ITransport, Map<string, string>>();
  private _disposed = false;
}

namespace Private {
  export function message(err: unknown): string {
    return err instanceof Error ? err.message : String(err ?? '');
  }

  export function firstLine(err: unknown): string {
    return message(err).split('\n')[0];
  }

  export function title(code: string): string {
    const line = code.split('\n').find(l => l.trim()) ?? '';
    return line.length > 80 ? line.slice(0, 77) + '...' : line.trim();
  }

  /** The connection dropped (as opposed to the command ending). */
  export function isDrop(error: unknown, transport: ITransport): boolean {
    if (error && (error as { kind?: string }).kind === 'disconnected') {
      return true;
    }
    return transport.state !== 'connected';
  }

  export function parseStatus(text: string): {
    alive?: boolean;
    pid?: number;
    state?: string;
    exitCode?: number | null;
    reason?: string;
  } | null {
    try {
      const data = JSON.parse(text.trim().split('\n').pop() ?? '');
      return data && typeof data === 'object' ? data : null;
    } catch {
      return null;
    }
  }

  const END_STATES = new Set<JobEndState>([
    'completed',
    'failed',
    'cancelled',
    'timeout',
    'out_of_memory',
    'node_fail',
    'rejected',
    'lost'
  ]);

  export function endState(state: string | undefined): JobEndState {
    return state && END_STATES.has(state as JobEndState)
      ? (state as JobEndState)
      : 'lost';
  }

  export function ename(state: JobEndState): string {
    switch (state) {
      case 'timeout':
        return 'JobTimeout';
      case 'out_of_memory':
        return 'JobOutOfMemory';
      case 'node_fail':
        return 'JobNodeFailure';
      case 'lost':
        return 'JobLost';
      case 'rejected':
        return 'JobRejected';
      default:
        return 'JobFailed';
    }
  }

  export function endMessage(done: IDoneEvent): string {
    const what: { [state: string]: string } = {
      failed: 'the job failed',
      timeout: 'the job hit its time limit',
      out_of_memory: 'the job ran out of memory',
      node_fail: "the job's node failed",
      lost: 'the job ended without reporting its end',
      rejected: 'the scheduler rejected the job'
    };
    let text = what[done.state] ?? `the job ended: ${done.state}`;
    if (typeof done.exitCode === 'number' && done.exitCode !== 0) {
      text += ` (exit code ${done.exitCode})`;
    }
    if (done.reason) {
      text += `: ${done.reason}`;
    }
    return text;
  }
}
