/**
 * One interface for reaching a machine: SSH (ssh2, pooled) or local child
 * processes. Commands are POSIX sh command lines; callers quote every
 * interpolated value with shellQuote() from ../util/quote.
 */
import type { Duplex } from 'stream';
import type { ConnectionState } from '../../shared/config';

export interface IExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when killed by a signal. */
  code: number | null;
  signal?: string;
}

export interface IExecOptions {
  /** Bytes written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /** Aborting kills the remote command (closes the channel / kills the process). */
  signal?: AbortSignal;
  /** Extra environment for the command (an `export NAME=value;` prefix, quoted). */
  env?: { [name: string]: string };
  /** exec() only: most bytes collected per stream (default 64 MiB); beyond, the command is stopped and exec rejects with kind 'overflow'. */
  maxBuffer?: number;
  /** Asks the user if running this command needs a (re)connection (host key, passphrase, one-time code). */
  prompter?: IPrompter;
  /** A short control command (cancel, liveness probe): may use the channel slot long-running commands leave free, so it never waits behind running cells. */
  priority?: boolean;
}

/** A long-running command whose output arrives in chunks. */
export interface IStreamHandle {
  /**
   * Resolves with the exit status when the command ends, or when close() /
   * the AbortSignal stopped it (code null). Rejects with a TransportError of
   * kind 'disconnected' when the connection dropped: resume from your offset.
   * `stdout` is always ''; `stderr` holds stderr when no onStderr was given.
   */
  readonly done: Promise<IExecResult>;
  /** Closes the channel / kills the local process. */
  close(): void;
}

export interface IStreamOptions extends IExecOptions {
  onStdout: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** Asks the user something (host key, passphrase, one-time code) through input_request. */
export interface IPrompter {
  /** `password` hides the answer. Rejects when the user cannot be asked. */
  ask(prompt: string, password: boolean): Promise<string>;
}

/**
 * Errors: methods reject with TransportError (./errors) whose `kind` says
 * what happened ('unreachable', 'auth', 'hostkey', 'disconnected',
 * 'aborted', ...). exec() rejects with kind 'aborted' (name AbortError) when
 * its signal fires. Relative paths are relative to the home directory.
 */
export interface ITransport {
  readonly cluster: string;
  readonly state: ConnectionState;
  /** The last connection error, user-facing (when state is 'error'). */
  readonly error?: string;
  /** Opens (or reuses) the connection; rejects with a clear, user-facing message. */
  connect(prompter?: IPrompter): Promise<void>;
  exec(command: string, options?: IExecOptions): Promise<IExecResult>;
  stream(command: string, options: IStreamOptions): IStreamHandle;
  /** Writes a file atomically (temp + rename) with the given mode (default 0o600). */
  writeFile(path: string, data: string | Buffer, mode?: number): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  /** Absolute home directory of the remote user (cached). */
  home(): Promise<string>;
  /**
   * A byte stream to host:port as seen from the remote (ssh: a direct-tcpip
   * channel, no remote process; local: a TCP socket). Sessions talk over it.
   */
  tunnel(host: string, port: number): Promise<Duplex>;
  /**
   * A command's stdin and stdout as one byte stream (ssh: an exec channel,
   * holding a session slot; local: a child process). Ends when the command
   * exits 0; any other end destroys it with an error that carries stderr.
   * Destroying it stops the command. Sessions relay through it where the
   * server forbids forwarding.
   */
  execDuplex(command: string): Promise<Duplex>;
  close(): Promise<void>;
}
