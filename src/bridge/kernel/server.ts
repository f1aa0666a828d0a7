/**
 * The zeromq@6 side of the kernel: binds the five sockets named by a
 * connection file, decodes what arrives into the KernelCore and sends what the
 * core produces. Router for shell/control/stdin, Publisher for iopub, Reply for
 * the heartbeat (echo). zeromq@6 allows one send in flight per socket, so each
 * socket has its own send queue.
 */
import * as zmq from 'zeromq';

import { Channel, decode, encode, IMessage, iopubTopic, Signer } from './wire';

export interface IConnectionInfo {
  transport: 'tcp' | 'ipc';
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export type MessageHandler = (channel: Channel, message: IMessage) => void;

export interface IKernelServerOptions {
  connection: IConnectionInfo;
  /** Topic prefix of iopub messages (`kernel.<id>.<type>`). */
  kernelId: string;
  log?: (text: string) => void;
}

export class KernelServer {
  constructor(options: IKernelServerOptions) {
    this._info = options.connection;
    this._kernelId = options.kernelId;
    this._log = options.log ?? (() => undefined);
    this._signer = new Signer(
      this._info.key ?? '',
      this._info.signature_scheme || 'hmac-sha256'
    );
  }

  /** Ports actually bound (differs from the file when a port was 0). */
  get ports(): { [channel: string]: number } {
    return { ...this._ports };
  }

  /** Binds every socket and starts the receive loops. */
  async start(onMessage: MessageHandler): Promise<void> {
    this._onMessage = onMessage;
    const routers: [Channel, keyof IConnectionInfo][] = [
      ['shell', 'shell_port'],
      ['control', 'control_port'],
      ['stdin', 'stdin_port']
    ];
    for (const [channel, key] of routers) {
      const socket = new zmq.Router({ linger: 1000 });
      await this._bind(socket, channel, this._info[key] as number);
      this._routers.set(channel, socket);
      this._queues.set(
        channel,
        new Private.SendQueue(socket, channel, this._log)
      );
    }
    this._iopub = new zmq.Publisher({ linger: 1000 });
    await this._bind(this._iopub, 'iopub', this._info.iopub_port);
    this._queues.set(
      'iopub',
      new Private.SendQueue(this._iopub, 'iopub', this._log)
    );
    this._hb = new zmq.Reply({ linger: 0 });
    await this._bind(this._hb, 'hb', this._info.hb_port);

    for (const [channel, socket] of this._routers) {
      void this._receive(channel, socket);
    }
    void this._heartbeat(this._hb);
  }

  /** Encodes, signs and queues a message on its channel's socket. */
  send(channel: Channel, message: IMessage): void {
    const queue = this._queues.get(channel);
    if (!queue || this._closed) {
      return;
    }
    const msg =
      channel === 'iopub'
        ? {
            ...message,
            identities: [iopubTopic(this._kernelId, message.header.msg_type)]
          }
        : message;
    queue.push(encode(msg, this._signer));
  }

  /** Flushes pending sends (briefly) and closes every socket. */
  async close(): Promise<void> {
    if (this._closed) {
      return;
    }
    await Promise.race([
      Promise.all([...this._queues.values()].map(q => q.drained())),
      new Promise(resolve => setTimeout(resolve, 1000))
    ]);
    this._closed = true;
    for (const socket of [...this._routers.values(), this._iopub, this._hb]) {
      try {
        socket?.close();
      } catch {
        // already closed
      }
    }
  }

  private async _bind(
    socket: zmq.Socket,
    name: string,
    port: number
  ): Promise<void> {
    const { transport, ip } = this._info;
    const address =
      transport === 'ipc'
        ? `ipc://${ip}-${port}`
        : `tcp://${ip}:${port && port > 0 ? port : '*'}`;
    await socket.bind(address);
    const bound = /:(\d+)$/.exec(socket.lastEndpoint ?? '');
    this._ports[name] =
      transport === 'ipc' ? port : bound ? parseInt(bound[1], 10) : port;
  }

  private async _receive(channel: Channel, socket: zmq.Router): Promise<void> {
    try {
      for await (const frames of socket) {
        const result = decode(frames, this._signer);
        if (!result.ok) {
          // Never log the frames themselves: they may hold secrets (passphrases on stdin).
          this._log(`dropped a message on ${channel}: ${result.reason}`);
          continue;
        }
        try {
          this._onMessage?.(channel, result.message);
        } catch (err) {
          this._log(`handler failed on ${channel}: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      if (!this._closed) {
        this._log(`${channel} receive loop ended: ${(err as Error).message}`);
      }
    }
  }

  private async _heartbeat(socket: zmq.Reply): Promise<void> {
    try {
      for await (const frames of socket) {
        await socket.send(frames);
      }
    } catch (err) {
      if (!this._closed) {
        this._log(`heartbeat loop ended: ${(err as Error).message}`);
      }
    }
  }

  private _info: IConnectionInfo;
  private _kernelId: string;
  private _log: (text: string) => void;
  private _signer: Signer;
  private _onMessage: MessageHandler | undefined;
  private _routers = new Map<Channel, zmq.Router>();
  private _iopub: zmq.Publisher | undefined;
  private _hb: zmq.Reply | undefined;
  private _queues = new Map<Channel, Private.SendQueue>();
  private _ports: { [channel: string]: number } = {};
  private _closed = false;
}

namespace Private {
  /** One send in flight per socket (zeromq@6 answers EBUSY otherwise), in order. */
  export class SendQueue {
    constructor(
      private _socket: zmq.Writable,
      private _name: string,
      private _log: (text: string) => void
    ) {}

    push(frames: Buffer[]): void {
      this._queue.push(frames);
      if (!this._busy) {
        void this._drain();
      }
    }

    drained(): Promise<void> {
      if (!this._busy && this._queue.length === 0) {
        return Promise.resolve();
      }
      return new Promise(resolve => this._waiters.push(resolve));
    }

    private async _drain(): Promise<void> {
      this._busy = true;
      while (this._queue.length > 0) {
        const frames = this._queue.shift()!;
        try {
          await this._socket.send(frames);
        } catch (err) {
          this._log(`send on ${this._name} failed: ${(err as Error).message}`);
        }
      }
      this._busy = false;
      for (const resolve of this._waiters.splice(0)) {
        resolve();
      }
    }

    private _queue: Buffer[][] = [];
    private _busy = false;
    private _waiters: (() => void)[] = [];
  }
}
