/**
 * A running command's stdin and stdout as one byte stream (ITransport.execDuplex):
 * an ssh exec channel or a local child process. Its stderr is kept (the
 * last bytes) and becomes the stream's error when the command fails, so a
 * relay that cannot connect says why instead of just closing.
 */
import { Duplex, type Readable, type Writable } from 'stream';
import { TransportError } from './errors';

/** Most stderr bytes kept for the error message. */
const STDERR_KEPT = 4096;

export interface ICommandEnds {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Stops the command (TERM to its process group, then close). */
  kill(): void;
  /** For messages: the cluster and what ran. */
  label: string;
}

export class CommandDuplex extends Duplex {
  /**
   * Listen with `onExit` before the first tick: a fast command's exit can
   * arrive at once.
   */
  constructor(private readonly _ends: ICommandEnds) {
    super({ allowHalfOpen: false });
    _ends.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) {
        _ends.stdout.pause();
      }
    });
    _ends.stderr.on('data', (chunk: Buffer) => {
      this._stderr = Buffer.concat([this._stderr, chunk]).subarray(
        -STDERR_KEPT
      );
    });
    // Writes after the command is gone fail here; the exit says why.
    _ends.stdin.on('error', () => undefined);
  }

  /** What the command wrote to stderr so far. */
  get stderrText(): string {
    return this._stderr.toString('utf8').trim();
  }

  /**
   * The command ended: exit code (null when killed or dropped). A clean exit
   * ends the stream; anything else destroys it with an error that carries
   * stderr. Call once, after stdout has ended (ssh: channel close; local:
   * child close).
   */
  onExit(code: number | null, signal?: string, dropped = false): void {
    this._exited = true;
    if (this.destroyed) {
      return;
    }
    if (code === 0) {
      this.push(null);
      return;
    }
    const why = dropped
      ? 'the connection dropped'
      : code === null
        ? `it was stopped${signal ? ` (${signal})` : ''}`
        : `it exited with ${code}`;
    const stderr = this.stderrText;
    this.destroy(
      new TransportError(
        dropped ? 'disconnected' : 'channel',
        `${this._ends.label}: ${why}${stderr ? `: ${stderr}` : ''}`
      )
    );
  }

  _read(): void {
    this._ends.stdout.resume();
  }

  _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void
  ): void {
    if (this._ends.stdin.write(chunk)) {
      callback();
    } else {
      this._ends.stdin.once('drain', () => callback());
    }
  }

  _final(callback: (error?: Error | null) => void): void {
    this._ends.stdin.end();
    callback();
  }

  _destroy(
    error: Error | null,
    callback: (error?: Error | null) => void
  ): void {
    if (!this._exited) {
      this._ends.kill();
    }
    callback(error);
  }

  private _stderr: Buffer = Buffer.alloc(0);
  private _exited = false;
}
