/**
 * SshTransport: one pooled ssh2 connection per cluster. The connection is
 * opened on first use (or connect()), shared by every command, kept alive
 * with keepalives and reopened transparently by the next command after a
 * drop; commands running on a dropped connection reject with kind
 * 'disconnected' so callers can resume (e.g. follow from their offset).
 * Channels are limited to sshd's MaxSessions and retried when refused.
 */
import type { ClientChannel, ParsedKey, SFTPWrapper } from 'ssh2';
import type { Duplex } from 'stream';
import type { ConnectionState, IClusterConfig } from '../../shared/config';
import { envPrefix } from '../util/quote';
import { abortError, isTransportError, TransportError } from './errors';
import {
  isSftpStatusError,
  sftpError,
  sftpReadFile,
  sftpWriteFile
} from './sftp';
import { CommandDuplex } from './commandDuplex';
import { execReadFile, execWriteFile } from './execFiles';
import { ChannelLimiter } from './limiter';
import {
  collectOutput,
  type IOutputSinks,
  type IRunningCommand,
  streamOutput
} from './output';
import { openChannel, runChannel, stopChannel } from './sshChannel';
import { connectRoute, type IConnection } from './sshConnection';
import {
  resolveRoute,
  type ISshConfigSources,
  type ISshRoute
} from './sshRoute';
import type {
  IExecOptions,
  IExecResult,
  IPrompter,
  IStreamHandle,
  IStreamOptions,
  ITransport
} from './types';

/** How long a stopped command may take to close its channel before we stop waiting. */
const STOP_GRACE_MS = 3000;

export interface ISshTransportOptions {
  /** ~/.ssh/config text, home and local user (tests); default: the real ones. */
  sources?: ISshConfigSources;
  /** Per connection step (TCP, handshake, each auth try), prompts excluded. Default 10 s. */
  timeoutMs?: number;
  /** SSH keepalive interval. Default 15 s (3 missed answers drop the connection). */
  keepaliveMs?: number;
  /** Channels open at once on one connection (sshd's MaxSessions). Default 10. */
  maxSessions?: number;
  /** ssh-agent socket; null disables the agent. Default SSH_AUTH_SOCK. */
  agent?: string | null;
  /** How many times a refused channel open is retried. Default 8. */
  channelRetries?: number;
  /** false: move files with exec (`cat`) instead of SFTP. Default true. */
  sftp?: boolean;
  /** Debug lines (never secrets). */
  log?: (msg: string) => void;
}

export class SshTransport implements ITransport {
  constructor(
    readonly cluster: string,
    readonly config: IClusterConfig,
    private readonly _options: ISshTransportOptions = {}
  ) {
    this._limiter = new ChannelLimiter(_options.maxSessions ?? 10);
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The last connection error, user-facing. */
  get error(): string | undefined {
    return this._error;
  }

  /** The resolved route (target and hops), for `%cluster doctor` and messages. */
  get route(): ISshRoute {
    if (!this._route) {
      this._route = resolveRoute(
        this.cluster,
        this.config,
        this._options.sources
      );
    }
    return this._route;
  }

  async connect(prompter?: IPrompter): Promise<void> {
    if (prompter) {
      this._prompter = prompter;
    }
    await this._connection(prompter);
  }

  exec(command: string, options: IExecOptions = {}): Promise<IExecResult> {
    return collectOutput(options, sinks => this._run(command, options, sinks), {
      overflow: max => `${this.cluster}: command output exceeded ${max} bytes`
    });
  }

  stream(command: string, options: IStreamOptions): IStreamHandle {
    return streamOutput(options, sinks =>
      this._run(command, options, sinks, true)
    );
  }

  /** A direct-tcpip channel: not a session, so sshd's MaxSessions does not count it. */
  async tunnel(host: string, port: number): Promise<Duplex> {
    const conn = await this._connection();
    return new Promise((resolve, reject) => {
      conn.client.forwardOut('127.0.0.1', 0, host, port, (err, channel) => {
        if (err) {
          reject(
            new TransportError(
              'channel',
              `${this.cluster}: cannot open a tunnel to ${host}:${port} (${err.message}); the server may forbid TCP forwarding (AllowTcpForwarding)`,
              err
            )
          );
          return;
        }
        resolve(channel);
      });
    });
  }

  /**
   * A command's stdin/stdout as one byte stream on an exec channel, which
   * holds one session slot until it closes (sessions where the server
   * forbids forwarding relay through it). Its stderr ends up in the error.
   */
  async execDuplex(command: string): Promise<Duplex> {
    const conn = await this._connection();
    const release = await this._limiter.acquire();
    try {
      return await this._openChannel(conn, command, async ch => {
        const duplex = new CommandDuplex({
          stdin: ch,
          stdout: ch,
          stderr: ch.stderr,
          kill: () => stopChannel(ch),
          label: this.cluster
        });
        let code: number | null = null;
        let signal: string | undefined;
        let exited = false;
        ch.on('exit', (c: number | null, sig?: string) => {
          exited = true;
          code = typeof c === 'number' ? c : null;
          signal = sig;
        });
        ch.on('error', () => undefined);
        ch.on('close', () => {
          release();
          duplex.onExit(code, signal, !exited);
        });
        return duplex;
      });
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Atomic write (temp + rename, exact mode) over the connection's SFTP
   * channel; over one exec (`cat > tmp && chmod && mv`) where the server has
   * no SFTP. bench/transport.ts compares the two.
   */
  async writeFile(
    file: string,
    data: string | Buffer,
    mode = 0o600
  ): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const sftp = this._options.sftp === false ? undefined : await this._sftp();
    if (sftp) {
      try {
        return await sftpWriteFile(sftp.session, file, buf, mode);
      } catch (err) {
        throw this._sftpFailure('write', file, sftp.conn, err);
      }
    }
    return execWriteFile(this, file, buf, mode);
  }

  async readFile(file: string): Promise<Buffer> {
    const sftp = this._options.sftp === false ? undefined : await this._sftp();
    if (sftp) {
      try {
        return await sftpReadFile(sftp.session, file);
      } catch (err) {
        throw this._sftpFailure('read', file, sftp.conn, err);
      }
    }
    return execReadFile(this, file);
  }

  /** The connection's SFTP channel for streamed transfers (fastPut/fastGet); undefined without SFTP. */
  async sftpChannel(): Promise<SFTPWrapper | undefined> {
    return this._options.sftp === false
      ? undefined
      : (await this._sftp())?.session;
  }

  /**
   * An SFTP channel of its own (one session slot until it closes) for a
   * transfer an interrupt may cut: ending it stops that transfer and leaves
   * the shared channel alone. Undefined without SFTP.
   */
  async openSftpChannel(): Promise<SFTPWrapper | undefined> {
    if (!(await this.sftpChannel())) {
      return undefined;
    }
    return this._openSftp(await this._connection(), () => undefined);
  }

  /** The connection's SFTP channel (opened once, holding one session slot); undefined without SFTP. */
  private async _sftp(): Promise<
    { session: SFTPWrapper; conn: IConnection } | undefined
  > {
    if (this._sftpMissing) {
      return undefined;
    }
    const conn = await this._connection();
    let pending = this._sftpSessions.get(conn);
    if (!pending) {
      pending = this._openSftp(conn, () => {
        if (this._sftpSessions.get(conn) === pending) {
          this._sftpSessions.delete(conn);
        }
      }).catch(err => {
        this._sftpSessions.delete(conn);
        if (isTransportError(err, 'channel')) {
          // The server has no SFTP subsystem: use exec from now on.
          this._sftpMissing = true;
          return undefined;
        }
        throw err;
      });
      this._sftpSessions.set(conn, pending);
    }
    const session = await pending;
    return session ? { session, conn } : undefined;
  }

  /** An SFTP channel holding one session slot until it closes. */
  private async _openSftp(
    conn: IConnection,
    onClose: () => void
  ): Promise<SFTPWrapper> {
    const release = await this._limiter.acquire();
    try {
      const session = await this._openChannel(
        conn,
        undefined,
        async ch => ch as unknown as SFTPWrapper
      );
      session.on('close', () => {
        release();
        onClose();
      });
      return session;
    } catch (err) {
      release();
      throw err;
    }
  }

  private _sftpFailure(
    op: 'read' | 'write',
    file: string,
    conn: IConnection,
    err: unknown
  ): Error {
    if (isSftpStatusError(err)) {
      return sftpError(op, this.cluster, file, err);
    }
    if (this._conn !== conn) {
      return new TransportError(
        'disconnected',
        `${this.cluster}: the connection dropped while ${op === 'read' ? 'reading' : 'writing'} ${file}`,
        err
      );
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  async home(): Promise<string> {
    if (this._home === undefined) {
      const r = await this.exec('printf %s "$HOME"');
      if (r.code !== 0 || !r.stdout.startsWith('/')) {
        throw new TransportError(
          'config',
          `${this.cluster}: cannot find the remote home directory (${r.stderr.trim() || r.stdout})`
        );
      }
      this._home = r.stdout;
    }
    return this._home;
  }

  async close(): Promise<void> {
    this._closed = true;
    const conn = this._conn;
    this._conn = undefined;
    this._connecting = undefined;
    this._setState('disconnected');
    if (conn) {
      await Private.endConnection(conn);
    }
  }

  // --- connection ------------------------------------------------------------------

  private _connection(prompter?: IPrompter): Promise<IConnection> {
    if (this._conn) {
      return Promise.resolve(this._conn);
    }
    if (!this._connecting) {
      this._closed = false;
      this._setState('connecting');
      const attempt = this._open(prompter ?? this._prompter);
      this._connecting = attempt;
      attempt.then(
        conn => {
          if (this._connecting !== attempt) {
            conn.end(); // closed meanwhile
            return;
          }
          this._connecting = undefined;
          this._conn = conn;
          this._error = undefined;
          this._setState('connected');
          conn.client.on('close', () => {
            if (this._conn === conn) {
              this._conn = undefined;
              this._setState(this._closed ? 'disconnected' : 'disconnected');
              this._options.log?.(`${this.cluster}: connection closed`);
            }
          });
        },
        (err: Error) => {
          if (this._connecting === attempt) {
            this._connecting = undefined;
            this._error = err.message;
            this._setState('error');
          }
        }
      );
    }
    return this._connecting;
  }

  private async _open(prompter?: IPrompter): Promise<IConnection> {
    let route: ISshRoute;
    try {
      route = this.route;
    } catch (err) {
      throw err instanceof TransportError
        ? err
        : new TransportError(
            'config',
            `${this.cluster}: ${(err as Error).message}`,
            err
          );
    }
    const agent =
      this._options.agent === null
        ? undefined
        : (this._options.agent ?? process.env.SSH_AUTH_SOCK);
    return connectRoute(route, {
      prompter,
      keyCache: this._keyCache,
      timeoutMs: this._options.timeoutMs ?? 10_000,
      keepaliveMs: this._options.keepaliveMs ?? 15_000,
      agent: agent || undefined,
      log: this._options.log
    });
  }

  private _setState(state: ConnectionState): void {
    this._state = state;
  }

  // --- channels --------------------------------------------------------------------

  /**
   * Runs a command on a channel. Stopping it (close()/abort) sends a TERM
   * signal request, which OpenSSH (7.9+) delivers with killpg() to the
   * session's whole process group, then closes the channel.
   */
  private _run(
    command: string,
    options: IExecOptions & { prompter?: IPrompter },
    sinks: IOutputSinks,
    isStream = false
  ): IRunningCommand {
    let channel: ClientChannel | undefined;
    let stopped = false;
    // sshd answers our channel close only once the command has exited; a
    // server that ignores signal requests must not hang the caller.
    let giveUp: () => void = () => undefined;
    const gaveUp = new Promise<'dropped'>(resolve => {
      giveUp = () =>
        setTimeout(() => resolve('dropped'), STOP_GRACE_MS).unref();
    });
    const stop = (): void => {
      if (stopped) {
        return;
      }
      stopped = true;
      giveUp();
      if (channel) {
        stopChannel(channel);
      }
    };
    const done = (async (): Promise<IExecResult> => {
      if (options.signal?.aborted) {
        throw abortError(`${this.cluster}: command`);
      }
      const onAbort = (): void => stop();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const script = envPrefix(options.env) + command;
        const conn = await this._connection(options.prompter);
        const release = await this._limiter.acquire(options.priority);
        try {
          if (stopped) {
            // Stopped before the command started: nothing ran.
            if (options.signal?.aborted && !isStream) {
              throw abortError(`${this.cluster}: command`);
            }
            return { stdout: '', stderr: '', code: null, signal: 'SIGTERM' };
          }
          // Listeners go on inside the exec callback: a fast command's exit and
          // close can arrive in the same socket read as the exec reply.
          const result = await this._openChannel(conn, script, ch => {
            channel = ch;
            const finished = runChannel(ch, options.stdin, sinks);
            if (stopped) {
              stopChannel(ch);
            }
            return Promise.race([finished, gaveUp]);
          });
          if (options.signal?.aborted && !isStream) {
            throw abortError(`${this.cluster}: command`);
          }
          if (result === 'dropped') {
            if (stopped) {
              return { stdout: '', stderr: '', code: null, signal: 'SIGTERM' };
            }
            throw new TransportError(
              'disconnected',
              `${this.cluster}: the connection dropped while a command was running`
            );
          }
          if (stopped && result.code === null && !result.signal) {
            return { ...result, signal: 'SIGTERM' };
          }
          return result;
        } finally {
          release();
        }
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
    })();
    return { done, close: stop };
  }

  /** Opens an exec channel (retrying refusals) and hands it to `use` synchronously. */
  private _openChannel<T>(
    conn: IConnection,
    /** A command for exec; undefined opens the SFTP subsystem. */
    script: string | undefined,
    use: (ch: ClientChannel) => Promise<T>
  ): Promise<T> {
    return openChannel(conn, script, use, {
      cluster: this.cluster,
      retries: this._options.channelRetries ?? 8,
      log: this._options.log,
      isCurrent: c => this._conn === c
    });
  }

  private _state: ConnectionState = 'disconnected';
  private _error?: string;
  private _route?: ISshRoute;
  private _conn?: IConnection;
  private _connecting?: Promise<IConnection>;
  private _prompter?: IPrompter;
  private _home?: string;
  private _closed = false;
  private _limiter: ChannelLimiter;
  private _keyCache = new Map<string, ParsedKey>();
  private _sftpSessions = new WeakMap<
    IConnection,
    Promise<SFTPWrapper | undefined>
  >();
  private _sftpMissing = false;
}

namespace Private {
  export function endConnection(conn: IConnection): Promise<void> {
    return new Promise(resolve => {
      const t = setTimeout(resolve, 1000);
      t.unref();
      conn.client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      conn.end();
    });
  }
}
