/**
 * The kernel core: one handleMessage switch over the Jupyter messages, with
 * the transport injected as a send function (no zeromq here, so tests drive it
 * with plain objects). Busy/idle, execute_input, execution counts, replies,
 * comms and stdin prompts (stdinPrompts.ts) are handled once, centrally; what
 * a cell *does* is the IKernelHandler's job (handler.ts; the bridge's is
 * ClusterCells).
 *
 * Ordering: execute requests run concurrently. Each gets its execution count
 * on arrival, its iopub messages carry its own parent header, and its reply
 * is sent when it finishes (replies may come back in a different order than
 * the requests went out).
 */
import {
  interruptMatches,
  interruptScope,
  type IInterruptScope,
  type IRunningCell
} from '../../shared/interrupt';
import { NOTEBOOK_METADATA_KEY } from '../../shared/sessions';
import type { IOutputSink } from '../jobs/types';
import { KernelComms } from './comms';
import type { IExecuteError, IExecuteOutcome, IKernelHandler } from './handler';
import { SessionHistory } from './history';
import { StdinPrompts } from './stdinPrompts';
import {
  Channel,
  IMessage,
  ISessionInfo,
  JSONObject,
  makeMessage,
  PROTOCOL_VERSION
} from './wire';

export type SendFunction = (channel: Channel, message: IMessage) => void;

export interface IKernelCoreOptions {
  handler: IKernelHandler;
  send: SendFunction;
  session: ISessionInfo;
  implementationVersion: string;
  banner?: string;
  /** Diagnostics (stderr in the real kernel). Never given secrets. */
  log?: (text: string) => void;
  /** Called after shutdown_reply went out and the handler was disposed. */
  onShutdown?: (restart: boolean) => void;
}

export const LANGUAGE_INFO = {
  name: 'python',
  version: '3',
  mimetype: 'text/x-python',
  file_extension: '.py',
  codemirror_mode: { name: 'ipython', version: 3 },
  pygments_lexer: 'ipython3',
  nbconvert_exporter: 'python'
};

export class KernelCore {
  constructor(options: IKernelCoreOptions) {
    this._handler = options.handler;
    this._send = options.send;
    this._session = options.session;
    this._options = options;
    this._log = options.log ?? (() => undefined);
    this._comms = new KernelComms({
      targets: options.handler.commTargets(),
      iopub: (parent, type, content) => this._iopub(parent, type, content),
      log: this._log
    });
    this._stdin = new StdinPrompts({
      session: options.session,
      send: request => this._send('stdin', request),
      log: this._log
    });
  }

  /** Number of execute requests still running. */
  get running(): number {
    return this._running.size;
  }

  /** Completes when every running execute request has replied (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this._running.size > 0) {
      await Promise.allSettled([...this._running.values()].map(r => r.done));
    }
  }

  /**
   * Handles one decoded message. Never throws and never awaits an execution:
   * execute requests continue in the background so that the next message
   * (another cell, an interrupt, a comm) is handled at once.
   */
  handleMessage(channel: Channel, msg: IMessage): Promise<void> {
    return this._dispatch(channel, msg).catch(err => {
      this._log(
        `error handling ${msg.header.msg_type}: ${Private.describe(err)}`
      );
    });
  }

  private async _dispatch(channel: Channel, msg: IMessage): Promise<void> {
    const type = msg.header.msg_type;
    if (channel === 'stdin') {
      if (type === 'input_reply') {
        this._stdin.reply(msg);
      } else {
        this._log(`ignoring ${type} on stdin`);
      }
      return;
    }
    if (channel !== 'shell' && channel !== 'control') {
      this._log(`ignoring ${type} on ${channel}`);
      return;
    }
    if (type === 'execute_request') {
      this._execute(channel, msg);
      return;
    }
    this._status('busy', msg);
    try {
      await this._request(channel, msg);
    } finally {
      this._status('idle', msg);
    }
  }

  private async _request(channel: Channel, msg: IMessage): Promise<void> {
    const type = msg.header.msg_type;
    const c = msg.content;
    switch (type) {
      case 'kernel_info_request':
        this._reply(channel, msg, 'kernel_info_reply', {
          status: 'ok',
          protocol_version: PROTOCOL_VERSION,
          implementation: 'cluster-bridge',
          implementation_version: this._options.implementationVersion,
          language_info: LANGUAGE_INFO,
          banner:
            this._options.banner ??
            'Cluster Bridge: cells run on remote machines and HPC clusters',
          help_links: []
        });
        return;
      case 'is_complete_request': {
        const r = this._handler.isComplete(Private.str(c.code));
        this._reply(channel, msg, 'is_complete_reply', { ...r });
        return;
      }
      case 'complete_request': {
        const code = Private.str(c.code);
        const pos = Private.cursor(c.cursor_pos, code);
        const r = await this._handler.complete(code, pos);
        this._reply(channel, msg, 'complete_reply', {
          status: 'ok',
          matches: r.matches,
          cursor_start: Private.toCodePoints(code, r.cursor_start),
          cursor_end: Private.toCodePoints(code, r.cursor_end),
          metadata: r.metadata ?? {}
        });
        return;
      }
      case 'inspect_request': {
        const code = Private.str(c.code);
        const pos = Private.cursor(c.cursor_pos, code);
        const level = typeof c.detail_level === 'number' ? c.detail_level : 0;
        const r = await this._handler.inspect(code, pos, level);
        this._reply(channel, msg, 'inspect_reply', {
          status: 'ok',
          found: r.found,
          data: r.found ? r.data : {},
          metadata: r.metadata ?? {}
        });
        return;
      }
      case 'history_request':
        this._reply(channel, msg, 'history_reply', {
          status: 'ok',
          history: this._history.query(c)
        });
        return;
      case 'comm_info_request': {
        const target =
          typeof c.target_name === 'string' ? c.target_name : undefined;
        this._reply(channel, msg, 'comm_info_reply', {
          status: 'ok',
          comms: this._comms.info(target)
        });
        return;
      }
      case 'comm_open':
        this._comms.open(msg);
        return;
      case 'comm_msg':
        await this._comms.message(msg);
        return;
      case 'comm_close':
        this._comms.close(msg);
        return;
      case 'interrupt_request':
        this.interrupt(interruptScope(c), msg.header.session);
        this._reply(channel, msg, 'interrupt_reply', { status: 'ok' });
        return;
      case 'shutdown_request':
        await this._shutdown(channel, msg);
        return;
      default:
        this._unknown(channel, msg);
    }
  }

  /**
   * Aborts the running cells a scoped interrupt names (only those the same
   * client connection started: shared/interrupt.ts), or every running cell
   * (a plain interrupt_request, or SIGINT to the process).
   */
  interrupt(scope?: IInterruptScope, session = ''): void {
    for (const run of this._running.values()) {
      if (!scope || interruptMatches(scope, session, run.cell)) {
        run.controller.abort();
      }
    }
  }

  private _execute(channel: Channel, msg: IMessage): void {
    const c = msg.content;
    const code = Private.str(c.code);
    const silent = c.silent === true;
    const storeHistory = silent ? false : c.store_history !== false;
    const allowStdin = c.allow_stdin !== false;
    if (storeHistory) {
      this._executionCount++;
      this._history.add(this._executionCount, code);
    }
    const executionCount = this._executionCount;
    this._counts.set(msg.header.msg_id, executionCount);
    this._status('busy', msg);
    if (!silent) {
      this._iopub(msg, 'execute_input', {
        code,
        execution_count: executionCount
      });
    }
    const controller = new AbortController();
    const state: Private.IRun = {
      cell: Private.runningCell(msg),
      controller,
      done: Promise.resolve(),
      lastError: undefined
    };
    const sink = this._sink(msg, silent, state);
    const prompter = this._stdin.prompter(msg, allowStdin, controller.signal);
    state.done = (async () => {
      let outcome: IExecuteOutcome;
      try {
        outcome = await this._handler.execute({
          code,
          executionCount,
          silent,
          storeHistory,
          allowStdin,
          signal: controller.signal,
          sink,
          prompter,
          request: msg
        });
      } catch (err) {
        this._log(`execute failed: ${Private.describe(err)}`);
        const e = err as Error;
        sink.error(e?.name || 'Error', e?.message ?? String(err), [
          `${e?.name || 'Error'}: ${e?.message ?? String(err)}`
        ]);
        outcome = { status: 'error' };
      }
      if (outcome.status === 'aborted' && !state.lastError) {
        sink.error('KeyboardInterrupt', 'interrupted', [
          'KeyboardInterrupt: the cell was interrupted'
        ]);
      }
      const content: JSONObject =
        outcome.status === 'ok'
          ? {
              status: 'ok',
              execution_count: executionCount,
              user_expressions: {},
              payload: []
            }
          : {
              status: 'error',
              execution_count: executionCount,
              ...(state.lastError ?? {
                ename: 'Error',
                evalue: 'the cell failed',
                traceback: []
              })
            };
      this._reply(channel, msg, 'execute_reply', content, {
        ...(outcome.metadata ?? {}),
        status: content.status as string,
        started: msg.header.date
      });
      this._status('idle', msg);
    })().finally(() => {
      this._running.delete(msg.header.msg_id);
      this._counts.delete(msg.header.msg_id);
    });
    this._running.set(msg.header.msg_id, state);
  }

  /** The output sink of one cell: iopub messages parented to its request. */
  private _sink(
    parent: IMessage,
    silent: boolean,
    state: Private.IRun
  ): IOutputSink {
    const publish = (type: string, content: JSONObject) => {
      if (!silent) {
        this._iopub(parent, type, content);
      }
    };
    return {
      stream: (name, text) => publish('stream', { name, text }),
      display: (data, metadata, displayId) =>
        publish('display_data', {
          data,
          metadata: metadata ?? {},
          transient: displayId ? { display_id: displayId } : {}
        }),
      updateDisplay: (data, metadata, displayId) =>
        publish('update_display_data', {
          data,
          metadata: metadata ?? {},
          transient: { display_id: displayId }
        }),
      result: (data, metadata) =>
        publish('execute_result', {
          data,
          metadata: metadata ?? {},
          execution_count: this._countOf(parent)
        }),
      error: (ename, evalue, traceback) => {
        state.lastError = { ename, evalue, traceback };
        publish('error', { ename, evalue, traceback });
      }
    };
  }

  private _countOf(parent: IMessage): number {
    const run = this._counts.get(parent.header.msg_id);
    return run ?? this._executionCount;
  }

  private async _shutdown(channel: Channel, msg: IMessage): Promise<void> {
    const restart = msg.content.restart === true;
    try {
      // Before the reply: the client stops waiting for the process after it.
      await this._handler.shutdown?.(restart);
    } catch (err) {
      this._log(`shutdown failed: ${Private.describe(err)}`);
    }
    this._reply(channel, msg, 'shutdown_reply', { status: 'ok', restart });
    this._iopub(msg, 'shutdown_reply', { status: 'ok', restart });
    try {
      await this._handler.dispose();
    } catch (err) {
      this._log(`dispose failed: ${Private.describe(err)}`);
    }
    this._options.onShutdown?.(restart);
  }

  private _unknown(channel: Channel, msg: IMessage): void {
    const type = msg.header.msg_type;
    this._log(`unknown message type ${JSON.stringify(type)} on ${channel}`);
    // A request gets an error reply so a waiting client is not left hanging.
    if (type.endsWith('_request')) {
      this._reply(channel, msg, type.replace(/_request$/, '_reply'), {
        status: 'error',
        ename: 'UnknownMessageType',
        evalue: `cluster-bridge does not handle ${type}`,
        traceback: []
      });
    }
  }

  private _reply(
    channel: Channel,
    parent: IMessage,
    type: string,
    content: JSONObject,
    metadata: JSONObject = {}
  ): void {
    this._send(
      channel,
      makeMessage(type, content, this._session, parent, metadata)
    );
  }

  private _iopub(parent: IMessage, type: string, content: JSONObject): void {
    this._send(
      'iopub',
      makeMessage(type, content, this._session, parent, {}, [])
    );
  }

  private _status(state: 'busy' | 'idle', parent: IMessage): void {
    this._iopub(parent, 'status', { execution_state: state });
  }

  private _handler: IKernelHandler;
  private _send: SendFunction;
  private _session: ISessionInfo;
  private _options: IKernelCoreOptions;
  private _log: (text: string) => void;
  private _executionCount = 0;
  private _history = new SessionHistory();
  private _counts = new Map<string, number>();
  private _running = new Map<string, Private.IRun>();
  private _comms: KernelComms;
  private _stdin: StdinPrompts;
}

namespace Private {
  export interface IRun {
    cell: IRunningCell;
    controller: AbortController;
    done: Promise<void>;
    lastError: IExecuteError | undefined;
  }

  /** Who started a cell and from where, for scoped interrupts. */
  export function runningCell(msg: IMessage): IRunningCell {
    const notebook = msg.metadata[NOTEBOOK_METADATA_KEY];
    const cellId = msg.metadata.cellId;
    return {
      session: msg.header.session,
      ...(typeof notebook === 'string' ? { notebook } : {}),
      ...(typeof cellId === 'string' ? { cellId } : {})
    };
  }

  export function str(v: unknown): string {
    return typeof v === 'string' ? v : '';
  }

  /** cursor_pos counts unicode code points (5.2+); JS strings count UTF-16 units. */
  export function cursor(v: unknown, code: string): number {
    const points = Array.from(code);
    const n =
      typeof v === 'number' && Number.isFinite(v)
        ? Math.floor(v)
        : points.length;
    const clamped = Math.max(0, Math.min(n, points.length));
    return points.slice(0, clamped).join('').length;
  }

  export function toCodePoints(code: string, index: number): number {
    return Array.from(code.slice(0, Math.max(0, index))).length;
  }

  export function describe(err: unknown): string {
    return err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
}
