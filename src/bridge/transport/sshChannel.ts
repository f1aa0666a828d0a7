/**
 * The channels of one SSH connection: opening one (exec or the SFTP
 * subsystem, refusals past MaxSessions retried with backoff), running a
 * command on it to its exit status, and stopping it (TERM, then close).
 */
import type { ClientChannel } from 'ssh2';
import { TransportError } from './errors';
import { isChannelRefusal, retryDelay } from './limiter';
import type { IOutputSinks } from './output';
import type { IConnection } from './sshConnection';
import type { IExecResult } from './types';

export interface IChannelContext {
  /** For messages. */
  cluster: string;
  /** How many times a refused open is retried. */
  retries: number;
  log?: (msg: string) => void;
  /** False once `conn` is no longer the transport's connection (it dropped). */
  isCurrent: (conn: IConnection) => boolean;
}

/** Opens a channel (retrying refusals) and hands it to `use` synchronously. */
export async function openChannel<T>(
  conn: IConnection,
  /** A command for exec; undefined opens the SFTP subsystem. */
  script: string | undefined,
  use: (ch: ClientChannel) => Promise<T>,
  context: IChannelContext
): Promise<T> {
  const { cluster, retries } = context;
  for (let attempt = 0; ; attempt++) {
    let used: Promise<T> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const opened = (err: Error | undefined, ch: ClientChannel): void => {
          if (err) {
            reject(err);
          } else {
            used = use(ch);
            resolve();
          }
        };
        if (script === undefined) {
          conn.client.sftp((err, sftp) =>
            opened(err, sftp as unknown as ClientChannel)
          );
        } else {
          conn.client.exec(script, opened);
        }
      });
    } catch (err) {
      if (!context.isCurrent(conn)) {
        throw new TransportError(
          'disconnected',
          `${cluster}: the connection dropped while opening a channel`,
          err
        );
      }
      if (!isChannelRefusal(err) || attempt >= retries) {
        throw new TransportError(
          'channel',
          `${cluster}: cannot open an SSH channel: ${(err as Error).message}`,
          err
        );
      }
      context.log?.(
        `${cluster}: channel refused (${(err as Error).message}); retrying`
      );
      await new Promise(r => setTimeout(r, retryDelay(attempt)));
      continue;
    }
    return used!;
  }
}

export function stopChannel(channel: ClientChannel): void {
  // ssh2's channel.signal() is a no-op once our side sent EOF (stdin
  // closed), which is always the case here: send the request directly.
  const ch = channel as unknown as {
    outgoing: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  try {
    if (ch.outgoing.state === 'open' || ch.outgoing.state === 'eof') {
      ch._client?._protocol?.signal(ch.outgoing.id, 'TERM');
    }
  } catch {
    // Signals are optional in the protocol.
  }
  // Give the TERM a moment to arrive before the channel goes.
  setTimeout(() => {
    try {
      channel.close();
    } catch {
      // Already closed.
    }
  }, 50).unref();
}

/** Feeds stdin, forwards output, resolves at close: the exit status, or 'dropped'. */
export function runChannel(
  channel: ClientChannel,
  stdin: string | Buffer | undefined,
  sinks: IOutputSinks
): Promise<IExecResult | 'dropped'> {
  return new Promise(resolve => {
    let code: number | null = null;
    let signal: string | undefined;
    let exited = false;
    channel.on('data', (b: Buffer) => sinks.onStdout(b));
    // Reading stderr is required: without it `close` never fires.
    channel.stderr.on('data', (b: Buffer) => sinks.onStderr(b));
    channel.on('exit', (c: number | null, sig?: string) => {
      exited = true;
      if (typeof c === 'number') {
        code = c;
      } else {
        signal = sig ? (sig.startsWith('SIG') ? sig : `SIG${sig}`) : undefined;
      }
    });
    channel.on('error', () => undefined);
    channel.on('close', () => {
      resolve(
        exited
          ? { stdout: '', stderr: '', code, ...(signal ? { signal } : {}) }
          : 'dropped'
      );
    });
    if (stdin !== undefined) {
      channel.end(stdin);
    } else {
      channel.end();
    }
  });
}
