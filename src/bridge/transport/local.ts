/**
 * LocalTransport: the built-in `local` cluster. Commands run under
 * `/bin/sh -c` in their own process group (so an abort reaches every child),
 * with the user's home as working directory, like an SSH exec would.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import type { Duplex } from 'stream';
import type { ConnectionState } from '../../shared/config';
import { envPrefix } from '../util/quote';
import { CommandDuplex } from './commandDuplex';
import { abortError, TransportError } from './errors';
import { tempSibling } from './execFiles';
import type {
  IExecOptions,
  IExecResult,
  IPrompter,
  IStreamHandle,
  IStreamOptions,
  ITransport
} from './types';
import {
  collectOutput,
  type IOutputSinks,
  type IRunningCommand,
  streamOutput
} from './output';

/** Seconds between SIGTERM and SIGKILL when a command is aborted. */
const KILL_GRACE_MS = 2000;

export class LocalTransport implements ITransport {
  constructor(readonly cluster: string = 'local') {}

  get state(): ConnectionState {
    return this._closed ? 'disconnected' : 'connected';
  }

  async connect(_prompter?: IPrompter): Promise<void> {
    this._closed = false;
  }

  exec(command: string, options: IExecOptions = {}): Promise<IExecResult> {
    return collectOutput(options, sinks => this._run(command, options, sinks), {
      aborted: 'local command',
      overflow: max => `local command: output exceeded ${max} bytes`
    });
  }

  stream(command: string, options: IStreamOptions): IStreamHandle {
    return streamOutput(options, sinks => this._run(command, options, sinks));
  }

  tunnel(host: string, port: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', err =>
        reject(
          new TransportError(
            'channel',
            `local: cannot reach ${host}:${port}: ${err.message}`
          )
        )
      );
    });
  }

  async writeFile(
    file: string,
    data: string | Buffer,
    mode = 0o600
  ): Promise<void> {
    const target = this._resolve(file);
    const tmp = tempSibling(target);
    try {
      await fs.promises.writeFile(tmp, data, { mode, flag: 'wx' });
      // writeFile's mode is filtered by the umask; the caller's mode is exact.
      await fs.promises.chmod(tmp, mode);
      await fs.promises.rename(tmp, target);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  }

  readFile(file: string): Promise<Buffer> {
    return fs.promises.readFile(this._resolve(file));
  }

  async home(): Promise<string> {
    return os.homedir();
  }

  /** A child process's stdin/stdout as one byte stream (stderr in its error), like an ssh exec channel. */
  async execDuplex(command: string): Promise<Duplex> {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: os.homedir(),
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe']
    });
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null) {
        Private.killGroup(child.pid, 'SIGTERM');
      }
    };
    this._running.add(kill);
    const duplex = new CommandDuplex({
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      kill,
      label: this.cluster
    });
    child.on('error', err => duplex.destroy(err));
    child.on('close', (code, signal) => {
      this._running.delete(kill);
      duplex.onExit(code, signal ?? undefined);
    });
    return duplex;
  }

  async close(): Promise<void> {
    this._closed = true;
    for (const kill of [...this._running]) {
      kill();
    }
  }

  /** Relative paths are relative to the home directory, as over SFTP. */
  private _resolve(file: string): string {
    return path.resolve(os.homedir(), file);
  }

  private _run(
    command: string,
    options: IExecOptions,
    sinks: IOutputSinks
  ): IRunningCommand {
    if (options.signal?.aborted) {
      return {
        done: Promise.reject(abortError('local command')),
        close: () => undefined
      };
    }
    let script: string;
    try {
      script = envPrefix(options.env) + command;
    } catch (err) {
      return { done: Promise.reject(err), close: () => undefined };
    }
    const child = spawn('/bin/sh', ['-c', script], {
      cwd: os.homedir(),
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe']
    });
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (exited || child.pid === undefined) {
        return;
      }
      Private.killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (!exited && child.pid !== undefined) {
          Private.killGroup(child.pid, 'SIGKILL');
        }
      }, KILL_GRACE_MS);
      killTimer.unref();
    };
    this._running.add(kill);
    const onAbort = (): void => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', sinks.onStdout);
    child.stderr.on('data', sinks.onStderr);
    // A command that does not read its stdin must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    if (options.stdin !== undefined) {
      child.stdin.end(options.stdin);
    } else {
      child.stdin.end();
    }

    const done = new Promise<IExecResult>((resolve, reject) => {
      child.on('error', err => {
        exited = true;
        reject(
          new TransportError(
            'unreachable',
            `cannot start /bin/sh: ${err.message}`,
            err
          )
        );
      });
      child.on('close', (code, signal) => {
        exited = true;
        if (killTimer) {
          clearTimeout(killTimer);
        }
        this._running.delete(kill);
        options.signal?.removeEventListener('abort', onAbort);
        // The shell may be gone while a background child keeps the group alive.
        if (signal && child.pid !== undefined) {
          Private.killGroup(child.pid, 'SIGKILL');
        }
        resolve({
          stdout: '',
          stderr: '',
          code,
          ...(signal ? { signal } : {})
        });
      });
    });
    return { done, close: kill };
  }

  private _closed = false;
  private _running = new Set<() => void>();
}

namespace Private {
  export function killGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }
}
