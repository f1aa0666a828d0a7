/**
 * SessionClient: one connection to a remote session process (JSON lines over
 * a tunnel, see docs/architecture.md "Sessions"). Requests carry ids and get
 * one reply; `follow` pushes a cell's raw event-log text until its `done`.
 * A dropped tunnel rejects every pending request and ends every follow with
 * an error, so the follower falls back to the agent's `follow` by offset.
 */
import type { Duplex } from 'stream';
import { TransportError } from '../transport/errors';
import type { IExecResult, IStreamHandle } from '../transport/types';

/** A reply's fields beyond op/id/ok. */
export type SessionReply = { [key: string]: unknown };

/** The session's own view of itself (the `status` op). */
export interface IRemoteSessionStatus {
  state: 'idle' | 'busy';
  pid: number;
  node?: string;
  startedAt?: number;
  idleSeconds?: number;
  rssBytes?: number;
  gpus?: string;
  deadline?: number | null;
  current?: string | null;
  queued?: string[];
  cells?: number;
}

interface IPending {
  resolve(reply: SessionReply): void;
  reject(err: Error): void;
}

interface IFollowing {
  onData(chunk: Buffer): void;
  finish(result: IExecResult): void;
  fail(err: Error): void;
}

export class SessionClient {
  private constructor(private readonly _socket: Duplex) {
    _socket.on('data', (chunk: Buffer) => this._onData(chunk));
    _socket.on('error', err => this._drop(err));
    _socket.on('close', () => this._drop(new Error('closed')));
  }

  /** Opens the conversation: the token proves we may talk to this session. */
  static async connect(
    socket: Duplex,
    token: string,
    label: string
  ): Promise<SessionClient> {
    const client = new SessionClient(socket);
    const hello = await client._send({ op: 'hello', token }, 'hello');
    if (hello.ok !== true) {
      client.close();
      throw new Error(
        `${label}: the session refused the connection (${String(hello.error ?? 'no reason')})`
      );
    }
    return client;
  }

  get closed(): boolean {
    return this._closed;
  }

  /** Called once when the tunnel drops (not after close()). */
  onDrop: ((err: Error) => void) | null = null;

  /** One request; rejects with the session's error text when it answers ok: false. */
  async request(
    op: string,
    fields: { [key: string]: unknown } = {}
  ): Promise<SessionReply> {
    const reply = await this._send({ op, ...fields });
    if (reply.ok !== true) {
      throw new Error(String(reply.error ?? `session: ${op} failed`));
    }
    return reply;
  }

  async status(): Promise<IRemoteSessionStatus> {
    const reply = await this.request('status');
    return reply.status as IRemoteSessionStatus;
  }

  /**
   * Streams a cell's events.jsonl from `offset` (raw lines, like the agent's
   * `follow` stdout) until its `done`; as an IStreamHandle so the follower
   * treats it like any stream.
   */
  follow(
    job: string,
    offset: number,
    onData: (chunk: Buffer) => void
  ): IStreamHandle {
    let settle!: (result: IExecResult) => void;
    let fail!: (err: Error) => void;
    const done = new Promise<IExecResult>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const following: IFollowing = {
      onData,
      finish: result => {
        this._follows.delete(job);
        settle(result);
      },
      fail: err => {
        this._follows.delete(job);
        fail(err);
      }
    };
    this._follows.get(job)?.finish({ stdout: '', stderr: '', code: 0 });
    this._follows.set(job, following);
    this.request('follow', { job, offset }).catch((err: Error) =>
      following.fail(err)
    );
    return {
      done,
      close: () => following.finish({ stdout: '', stderr: '', code: null })
    };
  }

  close(): void {
    if (!this._closed) {
      this._closed = true;
      this._socket.destroy();
      this._failAll(
        new TransportError('disconnected', 'session connection closed')
      );
    }
  }

  private _send(
    message: { [key: string]: unknown },
    replyOp = 'reply'
  ): Promise<SessionReply> {
    if (this._closed) {
      return Promise.reject(
        new TransportError('disconnected', 'session connection closed')
      );
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(replyOp === 'hello' ? -1 : id, { resolve, reject });
      this._socket.write(JSON.stringify({ ...message, id }) + '\n');
    });
  }

  private _onData(chunk: Buffer): void {
    this._buffer = this._buffer.length
      ? Buffer.concat([this._buffer, chunk])
      : chunk;
    let start = 0;
    for (;;) {
      const nl = this._buffer.indexOf(0x0a, start);
      if (nl < 0) {
        break;
      }
      const line = this._buffer.subarray(start, nl).toString('utf8');
      start = nl + 1;
      if (line.trim()) {
        this._onMessage(line);
      }
    }
    this._buffer = this._buffer.subarray(start);
  }

  private _onMessage(line: string): void {
    let message: SessionReply;
    try {
      message = JSON.parse(line) as SessionReply;
    } catch {
      return; // not ours: the protocol is JSON lines
    }
    const op = message.op;
    if (op === 'hello' || op === 'reply') {
      const id = op === 'hello' ? -1 : Number(message.id);
      const pending = this._pending.get(id);
      if (pending) {
        this._pending.delete(id);
        pending.resolve(message);
      }
    } else if (op === 'events') {
      const data = message.data;
      if (typeof data === 'string') {
        this._follows.get(String(message.job))?.onData(Buffer.from(data));
      }
    } else if (op === 'followed') {
      this._follows
        .get(String(message.job))
        ?.finish({ stdout: '', stderr: '', code: 0 });
    }
  }

  private _drop(err: Error): void {
    if (this._closed) {
      return;
    }
    this._closed = true;
    const drop = new TransportError(
      'disconnected',
      `session connection lost: ${err.message}`
    );
    this._failAll(drop);
    this.onDrop?.(drop);
  }

  private _failAll(err: Error): void {
    for (const pending of this._pending.values()) {
      pending.reject(err);
    }
    this._pending.clear();
    for (const following of [...this._follows.values()]) {
      following.fail(err);
    }
  }

  private _buffer: Buffer = Buffer.alloc(0);
  private _closed = false;
  private _nextId = 1;
  private _pending = new Map<number, IPending>();
  private _follows = new Map<string, IFollowing>();
}
