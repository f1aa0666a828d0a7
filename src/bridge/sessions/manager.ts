/**
 * SessionManager: one live remote Python per (notebook, cluster). Starts it
 * (direct: the agent's `session-start`; batch: `session-prepare` + a held
 * allocation running `session-run`), reattaches to it after a dropped
 * connection or a new kernel process (the table on disk + `session-info`),
 * hands cells to it over one tunnel (SessionClient), and stops, restarts
 * and lists sessions. Following a cell's log stays the JobFollower's job.
 * Over 500 lines on purpose: the table, the open tunnels and the
 * connect/reattach rules are one state; the agent calls are in remote.ts.
 */
import { randomBytes } from 'crypto';

import type { SchedulerKind } from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import type { ISessionInfo } from '../../shared/sessions';
import { agentCommand } from '../schedulers/direct';
import type { IScheduler } from '../schedulers/types';
import { envHash, envSpecFor } from '../jobs/bundle';
import {
  firstLine,
  type IOpenCluster,
  type ISessionHooks
} from '../jobs/context';
import type { StatusLine } from '../jobs/status';
import type { IOutputSink } from '../jobs/types';
import type { IPrompter } from '../transport/types';
import { SessionClient, type IRemoteSessionStatus } from './client';
import { sessionInfo, startDirect, submitBatch, waitReady } from './remote';
import { SessionLink } from './sessionLink';
import {
  conflictingOptions,
  resourcesOf,
  resourcesText,
  timeLimitSeconds
} from './resources';
import { SessionTable, type ISessionRecord } from './table';

/** Defaults of the per-cluster `session` settings (seconds). */
export const DEFAULT_IDLE_TIMEOUT_S = 3 * 3600;
export const DEFAULT_WARN_BEFORE_S = 300;

/** How long an interrupt may take before the cell says so. */
export const INTERRUPT_NOTICE_MS = 5000;

/** A cell may not join the running session: its options differ. */
export class SessionConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionConflictError';
  }
}

/** A session ready for cells. */
export interface ILiveSession {
  record: ISessionRecord;
  client: SessionClient;
}

export interface ISessionManagerOptions {
  table: SessionTable;
  scheduler(kind: SchedulerKind): IScheduler;
  /** Connects a cluster (JobManager.open). */
  open(cluster: string): Promise<IOpenCluster>;
  /** Poll interval while a batch session waits for its allocation. */
  pollMs?: number;
}

/** `%cluster session NAME [options]`. */
export interface ISessionStartOptions {
  notebook: string;
  request: IJobRequest;
  sink: IOutputSink;
  prompter?: IPrompter;
  signal?: AbortSignal;
}

/** What `ensure` needs about the cell. */
export interface ISessionCell {
  open: IOpenCluster;
  kind: SchedulerKind;
  notebook: string;
  request: IJobRequest;
  status: StatusLine;
  sink: IOutputSink;
  signal?: AbortSignal;
}

export class SessionManager {
  constructor(private readonly _options: ISessionManagerOptions) {
    this._table = _options.table;
  }

  get tableFile(): string {
    return this._table.file;
  }

  /** The live session of the cell's notebook on its cluster, started or reattached as needed. */
  async ensure(cell: ISessionCell): Promise<ILiveSession> {
    const { open, notebook, request } = cell;
    const name = open.cluster.name;
    let existing = this._table.find(notebook, name);
    const stopping = existing && this._stopping.get(existing.id);
    if (stopping) {
      // Stopped meanwhile (the notebook's kernel restarted): the cell goes to a new session.
      await stopping.catch(() => undefined);
      existing = this._table.find(notebook, name);
    }
    if (existing) {
      const differ = conflictingOptions(existing.request, request);
      if (differ.length > 0) {
        throw new SessionConflictError(
          Private.conflictText(existing, request, differ)
        );
      }
      const live = await this._reattach(existing, cell);
      if (live) {
        return live;
      }
    }
    this._noticeEnd(notebook, name, cell.sink);
    return this._start(cell);
  }

  /** The notebook's last session here ended by itself (idle, time limit, gone): say so once. */
  private _noticeEnd(
    notebook: string,
    cluster: string,
    sink: IOutputSink
  ): void {
    const last = this._table
      .list()
      .find(r => r.notebook === notebook && r.cluster === cluster);
    if (
      !last ||
      last.state !== 'ended' ||
      last.endNoticed ||
      Private.ASKED_ENDS.includes(last.reason ?? '')
    ) {
      return;
    }
    this._put({ ...last, endNoticed: true });
    sink.stream(
      'stderr',
      `[cluster-bridge] The session on ${cluster} ended (${last.reason ?? 'gone'}); starting a new one: variables from before are gone.\n`
    );
  }

  /** Hooks for the follower of one cell of `live`. */
  hooks(record: ISessionRecord, jobId: string): ISessionHooks {
    return {
      openStream: (offset, onData) => {
        const client = this._clients.get(record.id);
        return client && !client.closed
          ? client.follow(jobId, offset, onData)
          : null;
      },
      interrupt: () => this.interrupt(record.id, jobId),
      stuckNotice:
        `[cluster-bridge] The interrupt has not stopped the cell after ${INTERRUPT_NOTICE_MS / 1000} s ` +
        `(code inside a C extension may not see it). Interrupt again, or end the session with ` +
        `%cluster restart ${record.cluster} (its variables are lost).\n`,
      interruptNoticeMs: INTERRUPT_NOTICE_MS
    };
  }

  /**
   * KeyboardInterrupt in one cell of a session (never a signal to the
   * session's process group: that would end the session).
   */
  async interrupt(sessionId: string, jobId: string): Promise<void> {
    const record = this._table.get(sessionId);
    if (!record || record.state === 'ended') {
      return; // the session, and so the cell, is over
    }
    const client = await this._client(record);
    await client.request('interrupt', { job: jobId });
  }

  /** Sessions of this table, live ones with what the session says about itself. */
  async list(): Promise<ISessionInfo[]> {
    const records = this._table.list();
    const infos = await Promise.all(
      records.map(async record => {
        if (record.state === 'ended') {
          return Private.info(record);
        }
        try {
          const client = await Private.withTimeout(this._client(record), 10000);
          const status = await Private.withTimeout(client.status(), 3000);
          return Private.info(record, status);
        } catch (err) {
          const now = this._table.get(record.id) ?? record;
          return Private.info({
            ...now,
            reason:
              now.state === 'ended'
                ? now.reason
                : `not reachable: ${firstLine(err)}`
          });
        }
      })
    );
    return infos;
  }

  /** What the table knows, without asking any session. */
  known(): ISessionInfo[] {
    return this._table.list().map(r => Private.info(r));
  }

  /** The sessions of one notebook that are not over, per the table. */
  liveOf(notebook: string): ISessionRecord[] {
    return this._table
      .list()
      .filter(r => r.notebook === notebook && r.state !== 'ended');
  }

  get(id: string): ISessionRecord | undefined {
    return this._table.get(id);
  }

  /** The live session of a notebook on a cluster, per the table. */
  find(notebook: string, cluster: string): ISessionInfo | undefined {
    const record = this._table.find(notebook, cluster);
    return record ? Private.info(record) : undefined;
  }

  /** What a list shows of a record (no remote folder, no request object). */
  info(record: ISessionRecord): ISessionInfo {
    return Private.info(record);
  }

  /** Stops a session and frees its resources (the allocation too). */
  async stop(id: string, reason = 'stopped'): Promise<ISessionRecord> {
    const record = this._table.get(id);
    if (!record) {
      throw new Error(`no session ${JSON.stringify(id)}`);
    }
    if (record.state === 'ended') {
      return record;
    }
    let stopping = this._stopping.get(id);
    if (!stopping) {
      stopping = this._stopRemote(record, reason);
      this._stopping.set(id, stopping);
      const forget = () => this._stopping.delete(id);
      stopping.then(forget, forget);
    }
    return stopping;
  }

  private async _stopRemote(
    record: ISessionRecord,
    reason: string
  ): Promise<ISessionRecord> {
    const id = record.id;
    const open = await this._options.open(record.cluster);
    const client = this._clients.get(id);
    this._clients.delete(id);
    if (client && !client.closed) {
      await Private.withTimeout(client.request('stop'), 5000).catch(
        () => undefined
      );
      client.close();
    }
    const result = await open.transport.exec(
      agentCommand(open.agent, 'session-stop', record.remoteDir)
    );
    if (result.code !== 0) {
      throw new Error(
        `stopping the session on ${record.cluster} failed: ${result.stderr.trim() || `exit ${result.code}`}`
      );
    }
    if (record.schedulerId) {
      await this._options
        .scheduler(record.scheduler as SchedulerKind)
        .cancel(
          open.transport,
          record.schedulerId,
          record.remoteDir,
          open.agent
        )
        .catch(() => undefined); // the allocation may already be over
    }
    return this._end(record, reason);
  }

  /** A new, empty session with the same resources; the old one is stopped. */
  async restart(
    id: string,
    sink: IOutputSink,
    status: StatusLine
  ): Promise<ISessionRecord> {
    const old = await this.stop(id, 'restarted');
    const open = await this._options.open(old.cluster);
    const live = await this._start({
      open,
      kind: old.scheduler as SchedulerKind,
      notebook: old.notebook,
      request: old.request,
      status,
      sink
    });
    return live.record;
  }

  /** Stops every live session of a notebook (its kernel was shut down on purpose). */
  async stopNotebook(notebook: string): Promise<number> {
    const live = this.liveOf(notebook);
    const results = await Promise.allSettled(
      live.map(r => this.stop(r.id, 'its notebook was closed'))
    );
    return results.filter(r => r.status === 'fulfilled').length;
  }

  /** Every change of a record (start, state, end). */
  onChange(listener: () => void): () => void {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** Marks a session ended (the follower saw its process go, a time limit...). */
  markEnded(id: string, reason: string): void {
    const record = this._table.get(id);
    if (record && record.state !== 'ended') {
      this._end(record, reason);
    }
  }

  /** Closes the tunnels; the sessions live on (the next kernel reattaches). */
  dispose(): void {
    for (const client of this._clients.values()) {
      client.close();
    }
    this._clients.clear();
  }

  private async _start(cell: ISessionCell): Promise<ILiveSession> {
    const { open, kind, notebook, request, status, signal } = cell;
    const cluster = open.cluster;
    const id = Private.newSessionId();
    const remoteDir = `${open.runtime.workDir}/sessions/${id}`;
    const env = envSpecFor(cluster, request);
    const spec = {
      sessionId: id,
      cluster: cluster.name,
      notebook,
      env,
      envHash: envHash(env),
      bind: kind === 'direct' ? '127.0.0.1' : '0.0.0.0',
      idleTimeout:
        cluster.config.session?.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_S,
      timeLimit: request.time ? timeLimitSeconds(request.time) : null,
      warnBefore: cluster.config.session?.warnBefore ?? DEFAULT_WARN_BEFORE_S,
      request: resourcesOf(request),
      workDir: open.runtime.workDir
    };
    const record: ISessionRecord = {
      id,
      cluster: cluster.name,
      notebook,
      resources: resourcesText(request),
      request: resourcesOf(request),
      state: kind === 'direct' ? 'starting' : 'queued',
      scheduler: kind,
      startedAt: Date.now(),
      remoteDir
    };
    this._put(record);
    status.set({
      phase: 'starting',
      detail: `starting a session on ${cluster.name}`
    });
    try {
      if (kind === 'direct') {
        await startDirect(
          open,
          record,
          spec,
          status,
          r => this._put(r),
          signal
        );
      } else {
        await submitBatch(
          open,
          record,
          spec,
          status,
          this._scheduler(record),
          r => this._put(r)
        );
        await waitReady(
          open,
          record,
          status,
          this._scheduler(record),
          r => this._put(r),
          this._options.pollMs ?? 200,
          signal
        );
      }
      const client = await this._connect(open, record, cell.sink);
      return { record: this._table.get(id) ?? record, client };
    } catch (err) {
      this._end(
        this._table.get(id) ?? record,
        `failed to start: ${firstLine(err)}`
      );
      if (record.schedulerId && signal?.aborted) {
        await this._options
          .scheduler(kind)
          .cancel(open.transport, record.schedulerId, remoteDir, open.agent)
          .catch(() => undefined);
      }
      throw err;
    }
  }

  /** A tunnel to a record's session when it still lives; null (and the record ended) when not. */
  private async _reattach(
    record: ISessionRecord,
    cell: ISessionCell
  ): Promise<ILiveSession | null> {
    const client = this._clients.get(record.id);
    if (client && !client.closed) {
      return { record, client };
    }
    const info = await sessionInfo(cell.open, record);
    if (!info.status || info.status.state === 'ended' || info.alive === false) {
      this._end(
        record,
        String(info.status?.reason ?? 'the session process is gone')
      );
      return null;
    }
    if (!info.endpoint) {
      await waitReady(
        cell.open,
        record,
        cell.status,
        this._scheduler(record),
        r => this._put(r),
        this._options.pollMs ?? 200,
        cell.signal
      );
    }
    return {
      record,
      client: await this._connect(cell.open, record, cell.sink)
    };
  }

  /** The client of a record, connecting when there is none. */
  private async _client(record: ISessionRecord): Promise<SessionClient> {
    const client = this._clients.get(record.id);
    if (client && !client.closed) {
      return client;
    }
    const open = await this._options.open(record.cluster);
    const info = await sessionInfo(open, record);
    if (!info.status || info.status.state === 'ended' || info.alive === false) {
      this._end(
        record,
        String(info.status?.reason ?? 'the session process is gone')
      );
      throw new Error(`the session on ${record.cluster} has ended`);
    }
    return this._connect(open, record);
  }

  /** `sink`: the cell connecting, for the link's one-time notice. */
  private async _connect(
    open: IOpenCluster,
    record: ISessionRecord,
    sink?: IOutputSink
  ): Promise<SessionClient> {
    let pending = this._connecting.get(record.id);
    if (!pending) {
      pending = (async () => {
        const info = await sessionInfo(open, record);
        if (!info.endpoint || !info.token) {
          throw new Error(`the session on ${record.cluster} is not listening`);
        }
        const socket = await this._link.open(
          open,
          record.scheduler === 'direct' ? '127.0.0.1' : info.endpoint.host,
          info.endpoint.port,
          sink
        );
        const client = await SessionClient.connect(
          socket,
          info.token,
          `session on ${record.cluster}`
        );
        client.onDrop = () => {
          if (this._clients.get(record.id) === client) {
            this._clients.delete(record.id);
          }
        };
        this._clients.set(record.id, client);
        // The allocation's end, for the status line's time left (one round trip per connect).
        const status = await client.status().catch(() => undefined);
        const deadline =
          typeof status?.deadline === 'number'
            ? status.deadline * 1000
            : undefined;
        const now = this._table.get(record.id) ?? record;
        if (
          now.state === 'starting' ||
          now.state === 'queued' ||
          now.node !== info.endpoint.node ||
          now.deadline !== deadline
        ) {
          this._put({
            ...now,
            state: 'idle',
            reason: undefined,
            node: info.endpoint.node ?? now.node,
            deadline
          });
        }
        return client;
      })();
      this._connecting.set(record.id, pending);
      pending.then(
        () => this._connecting.delete(record.id),
        () => this._connecting.delete(record.id)
      );
    }
    return pending;
  }

  private _end(record: ISessionRecord, reason: string): ISessionRecord {
    const ended: ISessionRecord = {
      ...record,
      state: 'ended',
      reason,
      endedAt: Date.now()
    };
    this._put(ended);
    const client = this._clients.get(record.id);
    this._clients.delete(record.id);
    client?.close();
    return ended;
  }

  private _put(record: ISessionRecord): void {
    this._table.put(record);
    for (const listener of this._listeners) {
      try {
        listener();
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private _scheduler(record: ISessionRecord): IScheduler {
    return this._options.scheduler(record.scheduler as SchedulerKind);
  }

  private _table: SessionTable;
  private _clients = new Map<string, SessionClient>();
  private _stopping = new Map<string, Promise<ISessionRecord>>();
  private _connecting = new Map<string, Promise<SessionClient>>();
  private _link = new SessionLink();
  private _listeners = new Set<() => void>();
}

namespace Private {
  /** Ends the user asked for: the next cell needs no notice. */
  export const ASKED_ENDS = ['stopped', 'restarted', 'its notebook was closed'];

  export function newSessionId(now = Date.now()): string {
    return `s-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
  }

  export function conflictText(
    session: ISessionRecord,
    request: IJobRequest,
    differ: string[]
  ): string {
    const running = session.resources || 'no resource options';
    const asked = resourcesText(request);
    return (
      `This notebook's session on ${session.cluster} runs with ${running}; this cell asks for ${asked} ` +
      `(${differ.join(', ')} differ${differ.length === 1 ? 's' : ''}). Resources are fixed when a session starts. ` +
      `To go on: leave the options out to run in the session, \`%cluster restart ${session.cluster}\` and ` +
      `\`%cluster session ${session.cluster} ${asked}\` to start it over with the new resources ` +
      `(its variables are lost), or add --fresh to run this cell as a one-off process.`
    );
  }

  export function info(
    record: ISessionRecord,
    status?: IRemoteSessionStatus
  ): ISessionInfo {
    const {
      remoteDir: _dir,
      request: _request,
      endNoticed: _noticed,
      ...info
    } = record;
    if (!status) {
      return info;
    }
    return {
      ...info,
      state: status.state === 'busy' ? 'busy' : 'idle',
      node: status.node ?? info.node,
      idleSeconds: status.idleSeconds,
      memoryBytes: status.rssBytes,
      gpus: status.gpus,
      deadline:
        typeof status.deadline === 'number'
          ? status.deadline * 1000
          : undefined,
      cells: status.cells ?? info.cells
    };
  }

  export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer in ${ms / 1000} s`)),
        ms
      );
      promise.then(
        value => {
          clearTimeout(timer);
          resolve(value);
        },
        err => {
          clearTimeout(timer);
          reject(err);
        }
      );
    });
  }
}
