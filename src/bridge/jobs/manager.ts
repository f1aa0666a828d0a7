/**
 * Over 500 lines: it is the one place that chooses a cell's path (session,
 * one-off, array, ranks, vars, sync); each path's work lives in its own module.
 *
 * JobManager: the job pipeline's public face. A cell goes: resolve the
 * cluster -> open() it (connector.ts: connection, runtime, VENV1) -> bundle
 * and spec (submission.ts) -> direct: ONE exec of the agent's `go` / batch
 * and detached: prepare + submit -> JobFollower (follower.ts) streams the
 * event log into the cell while JobWatcher (watch.ts) asks the scheduler ->
 * ending.ts settles and records the end.
 */
import * as path from 'path';

import type { IResolvedCluster, SchedulerKind } from '../../shared/config';
import type { IJobInfo, IRankLogs } from '../../shared/jobs';
import { ClusterRegistry } from '../clusters/registry';
import { refuseSyncOnSession, syncForCell } from '../data/sync';
import { agentPrefix, DirectScheduler } from '../schedulers/direct';
import { honouredRequest } from '../schedulers/options';
import type { IScheduler } from '../schedulers/types';
import type { IPrompter, ITransport } from '../transport/types';
import { makeBundle, newJobId, type IJobBundle } from './bundle';
import {
  ClusterConnector,
  OpenAborted,
  type ITransportProvider
} from './connector';
import {
  DEFAULT_TIMING,
  errorMessage,
  type IJobContext,
  type IOpenCluster,
  type ITiming
} from './context';
import { elementCell } from './arrayRerun';
import { checkedLines, readRankLogs } from './rankLogs';
import { arrayRefusals, refuseArrayAttach, runArray } from './arrayRun';
import { markFailed, showFailed } from './ending';
import { JobFollower, type IFirstCommand } from './follower';
import { JobRecords } from './records';
import { IRemoteRuntime, RuntimeInstaller } from './runtime';
import { StatusLine } from './status';
import {
  detachedNotice,
  dryRunText,
  fastPath,
  jobSpec,
  newJobInfo,
  submitJob
} from './submission';
import type {
  IJobManager,
  IOutputSink,
  IRerunOptions,
  IRunCellOptions,
  IRunOutcome
} from './types';
import { Venv2Cache } from './venv2Cache';
import { JobWatcher } from './watch';
import type { ISessionInfo } from '../../shared/sessions';
import {
  SessionManager,
  type ILiveSession,
  type ISessionStartOptions
} from '../sessions/manager';
import { SessionTable, type ISessionRecord } from '../sessions/table';
import { CellVars } from '../data/varsCell';
import {
  checkDistributed,
  isDistributed,
  outsideSessionNotice,
  refuseInSession
} from './ranksPlan';
import { varsFolders } from '../data/varsLocal';
import {
  builtVenv2Python,
  probeVersions,
  sessionVersions,
  type IPythonVersions
} from '../data/varsVersions';

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

export class JobManager implements IJobManager {
  constructor(options: IJobManagerOptions) {
    this.registry = options.registry;
    this.pool = options.pool;
    this._schedulers = options.schedulers;
    this._records = new JobRecords(options.stateDir);
    this._connector = new ClusterConnector(
      options.registry,
      options.pool,
      options.runtime ?? new RuntimeInstaller()
    );
    this._timing = { ...DEFAULT_TIMING, ...(options.timing ?? {}) };
    this._watcher = new JobWatcher(this._timing);
    this.sessions = new SessionManager({
      table: new SessionTable(options.stateDir),
      scheduler: kind => this._scheduler(kind),
      open: name => this._connector.open(this.registry.resolve(name))
    });
  }

  /** One live remote Python per (notebook, cluster). */
  readonly sessions: SessionManager;

  readonly registry: ClusterRegistry;
  readonly pool: ITransportProvider;

  /** Show GPU cards (the frontend's `gpuCard` setting). */
  gpuCard = true;

  get storeFile(): string {
    return this._records.file;
  }

  /** Connects and prepares a cluster: what every job on it needs. */
  open(
    cluster: IResolvedCluster,
    prompter?: IPrompter,
    sink?: IOutputSink
  ): Promise<IOpenCluster> {
    return this._connector.open(cluster, prompter, sink);
  }

  async runCell(options: IRunCellOptions): Promise<IRunOutcome> {
    const { sink, signal } = options;
    const cluster = this.registry.resolve(options.request.cluster);
    const kind: SchedulerKind =
      options.request.scheduler ?? cluster.config.scheduler ?? 'direct';
    const scheduler = this._scheduler(kind);
    // Before anything runs: an option this scheduler cannot honour is a usage error.
    const request = honouredRequest(kind, options.request, cluster.config);
    arrayRefusals(kind, request, !!options.vars);
    checkDistributed(kind, request, cluster.config.defaults);
    const jobId = newJobId();
    const startedAt = Date.now();
    const status = new StatusLine(sink, {
      jobId,
      cluster: cluster.name,
      phase: 'connecting',
      scheduler: kind,
      startedAt
    });
    if (!request.dryRun) {
      status.flush();
    }
    let open: IOpenCluster;
    let bundle: IJobBundle;
    try {
      open = await this._connector.open(cluster, options.prompter, sink, {
        signal,
        preparing: () =>
          status.set({
            phase: 'preparing',
            detail: 'checking the remote runtime'
          })
      });
      bundle = makeBundle({
        jobId,
        code: options.code,
        lineOffset: options.lineOffset,
        executionCount: options.executionCount,
        request,
        cluster,
        workDir: open.runtime.workDir
      });
      const mirror = await syncForCell(open, request, {
        notebook: options.notebook,
        stateDir: path.dirname(this.storeFile),
        status,
        sink,
        signal
      });
      if (mirror) {
        bundle.syncDir = mirror;
      }
    } catch (err) {
      if (err instanceof OpenAborted) {
        status.set({
          phase: 'cancelled',
          endState: 'cancelled',
          endedAt: Date.now()
        });
        return { status: 'aborted' };
      }
      showFailed(status, err);
      throw err;
    }
    const spec = jobSpec(open, jobId, request);
    if (request.dryRun) {
      status.dispose();
      sink.stream('stdout', dryRunText(open, scheduler, spec, bundle));
      return { status: 'ok' };
    }
    const ctx: IJobContext = {
      ...open,
      job: newJobInfo(spec, cluster, kind, options.code, startedAt),
      scheduler,
      sink,
      status,
      prompter: options.prompter
    };
    const vars =
      options.vars &&
      new CellVars(open, jobId, options.vars, this._varsFolders);
    if (request.array) {
      // A sweep is one-off jobs, never the notebook's session.
      await this._sendVars(vars, ctx, bundle, signal);
      this._records.put(ctx.job);
      const swept = await runArray(ctx, spec, bundle, this._records, signal, {
        indexes: options.arrayIndexes,
        reconnect: c => this._reconnect(c),
        onCancel: cancel =>
          cancel
            ? this._active.set(ctx.job.id, { cancelRemote: cancel })
            : this._active.delete(ctx.job.id)
      });
      return Private.received(vars, swept, signal);
    }
    const distributed = isDistributed(request);
    if (
      distributed &&
      options.notebook !== undefined &&
      this.sessions
        .liveOf(options.notebook)
        .some(r => r.cluster === cluster.name)
    ) {
      sink.stream('stderr', outsideSessionNotice(request));
    }
    if (
      options.notebook !== undefined &&
      !request.fresh &&
      !request.detach &&
      !distributed
    ) {
      return this._runInSession(ctx, bundle, options.notebook, signal, vars);
    }
    await this._sendVars(vars, ctx, bundle, signal);
    this._records.put(ctx.job);

    if (kind === 'direct' && !request.detach) {
      status.set({ phase: 'starting', detail: undefined });
      const { first, venv2Key } = fastPath(ctx, bundle, this._venv2);
      ctx.venv2Key = venv2Key;
      return Private.received(
        vars,
        await this._follow(ctx, signal, first),
        signal
      );
    }
    status.set({ phase: 'submitted', detail: undefined });
    const rejected = await submitJob(ctx, spec, bundle, this._records, signal);
    if (rejected) {
      return rejected;
    }
    if (request.detach) {
      // On disk before the cell says "detached": a kernel restart right after must find it.
      this._records.flush();
      status.flush();
      status.dispose();
      sink.stream('stdout', detachedNotice(ctx));
      return { status: 'ok', job: { ...ctx.job } };
    }
    return Private.received(vars, await this._follow(ctx, signal), signal);
  }

  /** `%cluster rerun ID ELEMENT`: that element of an array job alone, as a new job. */
  async rerunElement(
    jobId: string,
    index: number,
    options: IRerunOptions
  ): Promise<IRunOutcome> {
    const job = this._records.get(jobId);
    const open = await this._connector.open(
      this.registry.resolve(job.cluster),
      options.prompter,
      options.sink
    );
    const cell = await elementCell(open.transport, job, index);
    options.sink.stream(
      'stdout',
      `Re-running element ${index} (${cell.request.array!.name}=${JSON.stringify(cell.value)}) of ${jobId} on ${job.cluster}\n`
    );
    return this.runCell({
      ...options,
      request: { ...cell.request, cluster: job.cluster },
      code: cell.code,
      lineOffset: cell.lineOffset,
      executionCount: cell.executionCount,
      arrayIndexes: [index]
    });
  }

  /** A cell of the notebook's session: ensure the session, hand it the cell, follow its log. */
  private async _runInSession(
    ctx: IJobContext,
    bundle: IJobBundle,
    notebook: string,
    signal?: AbortSignal,
    vars?: CellVars
  ): Promise<IRunOutcome> {
    const { status, sink, job } = ctx;
    let live: ILiveSession;
    try {
      live = await this.sessions.ensure({
        open: ctx,
        kind: job.scheduler,
        notebook,
        request: bundle.request,
        status,
        sink,
        signal
      });
      const { client } = live;
      await vars?.send(bundle, () => sessionVersions(client), signal);
    } catch (err) {
      if (signal?.aborted) {
        status.set({
          phase: 'cancelled',
          endState: 'cancelled',
          endedAt: Date.now()
        });
        return { status: 'aborted' };
      }
      showFailed(status, err);
      throw err;
    }
    const { client } = live;
    const record = this.sessions.get(live.record.id) ?? live.record;
    job.session = record.id;
    job.schedulerId = record.schedulerId;
    job.node = record.node;
    ctx.scheduler = this._scheduler(record.scheduler as SchedulerKind);
    job.scheduler = ctx.scheduler.kind;
    this._records.put(job);
    let ahead = 0;
    try {
      const reply = await client.request('run', {
        job: job.id,
        jobdir: job.remoteDir,
        bundle
      });
      ahead = Number(reply.ahead ?? 0);
    } catch (err) {
      const detail = `the session on ${record.cluster} did not take the cell: ${errorMessage(err)}`;
      markFailed(job, status, this._records, detail);
      throw new Error(detail);
    }
    status.set({
      phase: ahead > 0 ? 'queued' : 'running',
      schedulerId: record.schedulerId,
      node: record.node,
      session: record.id,
      deadline: record.deadline,
      detail:
        ahead > 0
          ? `waiting for ${ahead} cell${ahead === 1 ? '' : 's'} ahead in the session`
          : undefined
    });
    ctx.session = this.sessions.hooks(record, job.id);
    const outcome = await this._follow(ctx, signal);
    if (job.endState === 'timeout' || job.endState === 'lost') {
      // The session's process or allocation is over: the next cell starts a new one.
      this.sessions.markEnded(record.id, job.detail ?? job.endState);
    }
    return Private.received(vars, outcome, signal);
  }

  /** `%cluster session NAME [options]`: the notebook's session, started now if there is none. */
  async startSession(options: ISessionStartOptions): Promise<ISessionInfo> {
    const { sink, signal } = options;
    const cluster = this.registry.resolve(options.request.cluster);
    const kind: SchedulerKind =
      options.request.scheduler ?? cluster.config.scheduler ?? 'direct';
    const request = honouredRequest(kind, options.request, cluster.config);
    refuseInSession(request);
    refuseSyncOnSession(request);
    const status = this._sessionStatus(sink, cluster.name, kind);
    try {
      const open = await this._connector.open(cluster, options.prompter, sink, {
        signal
      });
      const live = await this.sessions.ensure({
        open,
        kind,
        notebook: options.notebook,
        request,
        status,
        sink,
        signal
      });
      status.dispose();
      return this.sessions.info(live.record);
    } catch (err) {
      showFailed(status, err);
      throw err;
    }
  }

  /** `%cluster restart NAME` and the jobs panel's Restart. */
  async restartSession(
    id: string,
    sink?: IOutputSink
  ): Promise<ISessionRecord> {
    const old = this.sessions.get(id);
    if (!old) {
      throw new Error(`no session ${JSON.stringify(id)}`);
    }
    const out = sink ?? Private.NO_OUTPUT;
    const status = this._sessionStatus(
      out,
      old.cluster,
      old.scheduler as SchedulerKind
    );
    try {
      const record = await this.sessions.restart(id, out, status);
      status.dispose();
      return record;
    } catch (err) {
      showFailed(status, err);
      throw err;
    }
  }

  private _sessionStatus(
    sink: IOutputSink,
    cluster: string,
    kind: SchedulerKind
  ): StatusLine {
    const status = new StatusLine(sink, {
      jobId: `session-${cluster}`,
      cluster,
      phase: 'connecting',
      scheduler: kind,
      startedAt: Date.now()
    });
    status.flush();
    return status;
  }

  async attach(
    jobId: string,
    sink: IOutputSink,
    signal?: AbortSignal,
    prompter?: IPrompter
  ): Promise<IRunOutcome> {
    const job = this._records.get(jobId);
    refuseArrayAttach(job);
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
    let open: IOpenCluster;
    try {
      open = await this._connector.open(cluster, prompter, sink);
    } catch (err) {
      showFailed(status, err);
      throw err;
    }
    status.set({ phase: job.endState ? job.phase : 'running', node: job.node });
    const ctx: IJobContext = {
      ...open,
      job: { ...job, detached: false },
      scheduler: this._scheduler(job.scheduler),
      sink,
      status,
      prompter
    };
    const session = job.session ? this.sessions.get(job.session) : undefined;
    if (session) {
      // A session cell: its cancel (from the jobs panel) interrupts it in the session.
      ctx.session = this.sessions.hooks(session, job.id);
    }
    // Replay the whole log: the cell that attaches shows every output.
    // Interrupting an attach detaches: the job was not started by this cell.
    return this._follow(ctx, signal, undefined, 'detach');
  }

  async cancel(jobId: string, prompter?: IPrompter): Promise<void> {
    const active = this._active.get(jobId);
    if (active) {
      await active.cancelRemote();
      return;
    }
    const job = this._records.get(jobId);
    if (job.session) {
      // A session cell: interrupt it in the session, which lives on.
      await this.sessions.interrupt(job.session, job.id);
      return;
    }
    const open = await this._connector.open(
      this.registry.resolve(job.cluster),
      prompter
    );
    await this._scheduler(job.scheduler).cancel(
      open.transport,
      job.schedulerId ?? '',
      job.remoteDir,
      open.agent
    );
    if (!job.endState) {
      this._records.put({
        ...job,
        phase: 'cancelled',
        endState: 'cancelled',
        endedAt: Date.now()
      });
    }
  }

  jobs(): IJobInfo[] {
    return this._records.list();
  }

  /** The jobs panel's Ranks view, read over the cluster's connection (running or ended jobs). */
  async rankLogs(jobId: string, lines?: number): Promise<IRankLogs> {
    const job = this._records.get(jobId);
    const open = await this._connector.open(this.registry.resolve(job.cluster));
    return readRankLogs(open.transport, job, checkedLines(lines));
  }

  onChange(listener: (job: IJobInfo) => void): () => void {
    return this._records.onChange(listener);
  }

  /**
   * Connects and prepares a cluster (for `%cluster doctor` and the comm's
   * `test`): the remote work directory, runtime and VENV1.
   */
  async prepareCluster(
    name: string,
    prompter?: IPrompter
  ): Promise<IRemoteRuntime & { agent: string; transport: ITransport }> {
    const open = await this.open(this.registry.resolve(name), prompter);
    return {
      ...open.runtime,
      agent: agentPrefix(open.agent),
      transport: open.transport
    };
  }

  /** Flushes the job store and closes connections; detached jobs keep running. */
  async dispose(): Promise<void> {
    this._disposed = true;
    this.sessions.dispose();
    this._records.flush();
    await this._connector.closeAll();
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

  /** A dropped connection back, within the reconnect window (it prompts again where it must). */
  private _reconnect(ctx: IJobContext): Promise<void> {
    return this._connector.reconnect(
      ctx.cluster,
      ctx.transport,
      ctx.prompter,
      this._timing.reconnectMs
    );
  }

  /** Follows from the start of the log; the follower is what `cancel` reaches meanwhile. */
  private async _follow(
    ctx: IJobContext,
    signal?: AbortSignal,
    first?: IFirstCommand,
    onAbort?: 'cancel' | 'detach'
  ): Promise<IRunOutcome> {
    const follower = new JobFollower(ctx, {
      timing: this._timing,
      records: this._records,
      watcher: this._watcher,
      venv2: this._venv2,
      reconnect: c => this._reconnect(c),
      forgetRemote: c => {
        this._connector.forget(c.transport);
        this._venv2.forgetAll(c.transport);
      },
      disposed: () => this._disposed,
      gpuCard: this.gpuCard
    });
    this._active.set(ctx.job.id, follower);
    try {
      return await follower.run({ offset: 0, signal, first, onAbort });
    } finally {
      this._active.delete(ctx.job.id);
    }
  }

  /** A one-off cell's (or a sweep's) --in values, before anything is recorded or submitted. */
  private async _sendVars(
    vars: CellVars | undefined,
    ctx: IJobContext,
    bundle: IJobBundle,
    signal?: AbortSignal
  ): Promise<void> {
    try {
      await vars?.send(bundle, () => this._venv2Versions(ctx, bundle), signal);
    } catch (err) {
      showFailed(ctx.status, err);
      throw err;
    }
  }

  /** A one-off cell's VENV2 versions once the env is built; before, the runner checks. */
  private async _venv2Versions(
    ctx: IJobContext,
    bundle: IJobBundle
  ): Promise<IPythonVersions | undefined> {
    const key = Venv2Cache.key(ctx.runtime.workDir, bundle.envHash);
    const python =
      this._venv2.get(ctx.transport, key) ??
      (await builtVenv2Python(
        ctx.transport,
        ctx.runtime.workDir,
        bundle.envHash
      ));
    return python
      ? probeVersions(ctx.transport, python, ctx.agent.runtimeDir)
      : undefined;
  }

  private _records: JobRecords;
  private _varsFolders = varsFolders();
  private _connector: ClusterConnector;
  private _timing: ITiming;
  private _watcher: JobWatcher;
  private _venv2 = new Venv2Cache();
  private _schedulers?: (kind: SchedulerKind) => IScheduler;
  private _direct = new DirectScheduler();
  private _batch = new Map<SchedulerKind, IScheduler>();
  private _active = new Map<string, Pick<JobFollower, 'cancelRemote'>>();
  private _disposed = false;
}

namespace Private {
  /** The `--out` step of a finished cell, when it asked for one. */
  export function received(
    vars: CellVars | undefined,
    outcome: IRunOutcome,
    signal: AbortSignal | undefined
  ): Promise<IRunOutcome> | IRunOutcome {
    return vars ? vars.receive(outcome, signal) : outcome;
  }

  /** For a restart asked without a cell (the jobs panel): nothing to show. */
  export const NO_OUTPUT: IOutputSink = {
    stream: () => undefined,
    display: () => undefined,
    updateDisplay: () => undefined,
    result: () => undefined,
    error: () => undefined
  };
}
