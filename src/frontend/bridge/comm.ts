/**
 * Request/reply over the `cluster_bridge` comm (src/shared/comm.ts): every
 * request gets a fresh id, its reply settles the matching promise, and unasked
 * pushes are re-emitted as a signal. Knows nothing of sessions, so tests drive
 * it with a fake comm.
 */
import { PromiseDelegate } from '@lumino/coreutils';
import { Signal, type ISignal } from '@lumino/signaling';
import type {
  CommPush,
  CommReply,
  CommRequest,
  CommResult
} from '../../shared/comm';

/** The part of `Kernel.IComm` the client uses. */
export interface ICommTransport {
  send(data: unknown): void;
  /** Called by the client once; the transport feeds every comm_msg's data. */
  setHandlers(handlers: {
    onMessage: (data: unknown) => void;
    onClose: () => void;
  }): void;
  close(): void;
}

/** A request without its id: the client assigns one. */
export type CommRequestBody = CommRequest extends infer R
  ? R extends { id: string }
    ? Omit<R, 'id'>
    : never
  : never;

export class CommError extends Error {
  constructor(
    message: string,
    readonly op: string
  ) {
    super(message);
    this.name = 'CommError';
  }
}

export class CommClient {
  constructor(
    private _transport: ICommTransport,
    options: CommClient.IOptions = {}
  ) {
    this._timeout = options.timeout ?? 60_000;
    this._prefix = options.idPrefix ?? Private.randomPrefix();
    _transport.setHandlers({
      onMessage: data => this._onMessage(data),
      onClose: () => this._onClose()
    });
  }

  /** Pushes (`{ event: ... }`) from the kernel. */
  get pushed(): ISignal<this, CommPush> {
    return this._pushed;
  }

  /** Emitted once when the comm closes (kernel restart, shutdown). */
  get closed(): ISignal<this, void> {
    return this._closed;
  }

  get isClosed(): boolean {
    return this._isClosed;
  }

  /** Number of requests still waiting for their reply. */
  get pendingCount(): number {
    return this._pending.size;
  }

  /** Send one request; resolves with the reply's `result`, rejects on `ok: false`. */
  request<R extends CommRequestBody>(body: R): Promise<CommResult<R['op']>> {
    if (this._isClosed) {
      return Promise.reject(new CommError('comm is closed', body.op));
    }
    const id = `${this._prefix}-${++this._counter}`;
    const pending = new PromiseDelegate<unknown>();
    const timer = setTimeout(() => {
      if (this._pending.delete(id)) {
        pending.reject(
          new CommError(
            `no reply to '${body.op}' within ${this._timeout} ms`,
            body.op
          )
        );
      }
    }, this._timeout);
    this._pending.set(id, { delegate: pending, timer, op: body.op });
    try {
      this._transport.send({ ...body, id } as CommRequest);
    } catch (err) {
      this._settle(id);
      return Promise.reject(err);
    }
    return pending.promise as Promise<CommResult<R['op']>>;
  }

  /** Close the comm and reject whatever is still pending. */
  dispose(): void {
    if (this._isClosed) {
      return;
    }
    try {
      this._transport.close();
    } catch {
      // already gone with its kernel
    }
    this._onClose();
  }

  private _onMessage(data: unknown): void {
    if (!data || typeof data !== 'object') {
      return;
    }
    const msg = data as Partial<CommReply> & Partial<CommPush>;
    if (typeof msg.event === 'string') {
      this._pushed.emit(msg as CommPush);
      return;
    }
    if (typeof msg.id !== 'string') {
      return;
    }
    const entry = this._settle(msg.id);
    if (!entry) {
      // A reply to a request that already timed out, or to another client.
      return;
    }
    const reply = msg as CommReply;
    if (reply.ok) {
      entry.delegate.resolve(reply.result);
    } else {
      entry.delegate.reject(
        new CommError(String(reply.error ?? 'request failed'), entry.op)
      );
    }
  }

  private _onClose(): void {
    if (this._isClosed) {
      return;
    }
    this._isClosed = true;
    for (const [id, entry] of [...this._pending]) {
      this._settle(id);
      entry.delegate.reject(new CommError('comm closed', entry.op));
    }
    this._closed.emit();
    Signal.clearData(this);
  }

  private _settle(id: string): Private.IPending | undefined {
    const entry = this._pending.get(id);
    if (entry) {
      clearTimeout(entry.timer);
      this._pending.delete(id);
    }
    return entry;
  }

  private _counter = 0;
  private _isClosed = false;
  private _pending = new Map<string, Private.IPending>();
  private _prefix: string;
  private _timeout: number;
  private _pushed = new Signal<this, CommPush>(this);
  private _closed = new Signal<this, void>(this);
}

export namespace CommClient {
  export interface IOptions {
    /** Milliseconds before an unanswered request rejects. */
    timeout?: number;
    /** Prefix of request ids (random by default, so clients never collide). */
    idPrefix?: string;
  }
}

namespace Private {
  export interface IPending {
    delegate: PromiseDelegate<unknown>;
    timer: ReturnType<typeof setTimeout>;
    op: string;
  }

  export function randomPrefix(): string {
    return Math.random().toString(36).slice(2, 10);
  }
}
