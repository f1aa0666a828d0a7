/**
 * Terminal plumbing shared by the run/jobs/doctor commands: an IOutputSink
 * that prints a cell's outputs as they come, and an IPrompter on the TTY.
 */
import * as readline from 'readline';
import { Writable } from 'stream';

import type { MimeBundle } from '../../shared/events';
import type { IOutputSink } from '../jobs/types';
import type { IPrompter } from '../transport/types';

export interface ITerminalSinkOptions {
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

/**
 * Streams go to stdout/stderr as they arrive; rich outputs print their
 * text/plain; the live status display (one with a display id) goes to stderr,
 * one line per change, so stdout holds only what the cell produced.
 */
export function terminalSink(
  options: ITerminalSinkOptions = {}
): IOutputSink & { errors: number } {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const lastStatus = new Map<string, string>();
  const line = (text: string) => (text.endsWith('\n') ? text : text + '\n');
  const status = (data: MimeBundle, displayId: string) => {
    const text = Private.plain(data);
    if (text !== undefined && lastStatus.get(displayId) !== text) {
      lastStatus.set(displayId, text);
      err.write(line(text));
    }
  };
  const sink = {
    errors: 0,
    stream: (name: 'stdout' | 'stderr', text: string) => {
      (name === 'stderr' ? err : out).write(text);
    },
    display: (data: MimeBundle, _metadata?: unknown, displayId?: string) => {
      if (displayId) {
        status(data, displayId);
        return;
      }
      const text = Private.plain(data);
      if (text !== undefined) {
        out.write(line(text));
      }
    },
    updateDisplay: (data: MimeBundle, _metadata: unknown, displayId: string) =>
      status(data, displayId),
    result: (data: MimeBundle) => {
      const text = Private.plain(data);
      if (text !== undefined) {
        out.write(line(text));
      }
    },
    error: (ename: string, evalue: string, traceback: string[]) => {
      sink.errors++;
      err.write(
        line(
          traceback.length > 0 ? traceback.join('\n') : `${ename}: ${evalue}`
        )
      );
    }
  };
  return sink;
}

/** Asks on the terminal; a password is not echoed. Rejects without a TTY. */
export function terminalPrompter(): IPrompter {
  return {
    ask: (prompt, password) => {
      if (!process.stdin.isTTY) {
        return Promise.reject(
          new Error(`cannot ask "${prompt.trim()}": stdin is not a terminal`)
        );
      }
      return new Promise(resolve => {
        const output = new Private.MutableOutput(process.stderr);
        const rl = readline.createInterface({
          input: process.stdin,
          output,
          terminal: true
        });
        rl.question(prompt, answer => {
          rl.close();
          if (password) {
            process.stderr.write('\n');
          }
          resolve(answer);
        });
        output.muted = password;
      });
    }
  };
}

namespace Private {
  /** text/plain of a bundle, with a note for outputs that have none. */
  export function plain(data: MimeBundle): string | undefined {
    const text = data['text/plain'];
    if (typeof text === 'string') {
      return text;
    }
    if (Array.isArray(text)) {
      return text.join('');
    }
    const kinds = Object.keys(data);
    return kinds.length > 0 ? `<${kinds.join(', ')} output>` : undefined;
  }

  export class MutableOutput extends Writable {
    muted = false;
    constructor(private _target: NodeJS.WritableStream) {
      super();
    }
    _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
      if (!this.muted) {
        this._target.write(chunk);
      }
      done();
    }
  }
}
