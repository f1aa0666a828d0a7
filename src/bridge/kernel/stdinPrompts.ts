/**
 * Questions to the user on the stdin channel (passwords, host keys): an
 * input_request parented to the cell that asks, settled by its input_reply.
 * Prompts go out one at a time: frontends show a single input box.
 */
import type { IPrompter } from '../transport/types';
import { IMessage, ISessionInfo, makeMessage } from './wire';

export class StdinPrompts {
  constructor(options: StdinPrompts.IOptions) {
    this._session = options.session;
    this._send = options.send;
    this._log = options.log;
  }

  /** The prompter of one execute request. */
  prompter(
    parent: IMessage,
    allowStdin: boolean,
    signal: AbortSignal
  ): IPrompter {
    return {
      ask: (prompt, password) => {
        if (!allowStdin) {
          return Promise.reject(
            new Error(
              'this frontend does not accept input (allow_stdin is false)'
            )
          );
        }
        const run = () => this._ask(parent, prompt, password, signal);
        const result = this._chain.then(run, run);
        this._chain = result.then(
          () => undefined,
          () => undefined
        );
        return result;
      }
    };
  }

  /** An input_reply: answers the prompt it names (or the one waiting). */
  reply(msg: IMessage): void {
    const parentId = (msg.parent_header as { msg_id?: string }).msg_id;
    let key = parentId && this._pending.has(parentId) ? parentId : undefined;
    if (!key) {
      // Some clients leave parent_header empty; there is one prompt at a time.
      key = this._pending.keys().next().value;
    }
    if (!key) {
      this._log('input_reply with no pending input_request');
      return;
    }
    const resolve = this._pending.get(key)!;
    this._pending.delete(key);
    const value = msg.content.value;
    resolve(typeof value === 'string' ? value : '');
  }

  private _ask(
    parent: IMessage,
    prompt: string,
    password: boolean,
    signal: AbortSignal
  ): Promise<string> {
    if (signal.aborted) {
      return Promise.reject(new Error('interrupted'));
    }
    const request = makeMessage(
      'input_request',
      { prompt, password },
      this._session,
      parent
    );
    return new Promise<string>((resolve, reject) => {
      const onAbort = () => {
        this._pending.delete(request.header.msg_id);
        reject(new Error('interrupted while waiting for input'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this._pending.set(request.header.msg_id, value => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      });
      this._send(request);
    });
  }

  private _session: ISessionInfo;
  private _send: (request: IMessage) => void;
  private _log: (text: string) => void;
  private _pending = new Map<string, (value: string) => void>();
  private _chain: Promise<unknown> = Promise.resolve();
}

export namespace StdinPrompts {
  export interface IOptions {
    session: ISessionInfo;
    /** Sends an input_request on the stdin channel. */
    send: (request: IMessage) => void;
    log: (text: string) => void;
  }
}
