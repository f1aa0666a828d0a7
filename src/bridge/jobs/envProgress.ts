/**
 * Environment build progress (conda / pip output from the agent's `env`
 * events) as ONE display that updates in place: the last lines while the
 * build runs, then the agent's closing line ("Environment ... ready in N s.")
 * once the job moves on. A build log is not the cell's output, so it neither
 * piles up nor shows as red stderr; when the build fails, its tail stays (the
 * error output after it carries the installer's own words). Pure logic.
 */
import type { IOutputSink } from './types';

/** Lines of build output kept on screen while it runs. */
export const ENV_TAIL_LINES = 25;

export class EnvProgress {
  constructor(sink: IOutputSink, displayId: string) {
    this._sink = sink;
    this._displayId = displayId;
  }

  /** More build output. */
  add(text: string): void {
    if (this._settled || !text) {
      return;
    }
    this._partial += text;
    const cut = this._partial.lastIndexOf('\n');
    if (cut >= 0) {
      for (const line of this._partial.slice(0, cut).split('\n')) {
        this._lines.push(Private.terminalLine(line));
      }
      this._partial = this._partial.slice(cut + 1);
      if (this._lines.length > ENV_TAIL_LINES) {
        this._lines.splice(0, this._lines.length - ENV_TAIL_LINES);
      }
    }
    this._show(this._tail());
  }

  /**
   * The build is over. ok: the job went on to run the cell, so only the
   * closing line stays; otherwise the tail stays as it is.
   */
  settle(ok: boolean): void {
    if (this._settled || !this._shown) {
      this._settled = true;
      return;
    }
    this._settled = true;
    if (ok) {
      const last = [...this._lines, Private.terminalLine(this._partial)]
        .filter(line => line.trim())
        .pop();
      if (last) {
        this._show(last + '\n');
      }
    }
  }

  private _tail(): string {
    const partial = Private.terminalLine(this._partial);
    return [...this._lines, ...(partial ? [partial] : [])].join('\n') + '\n';
  }

  private _show(text: string): void {
    const data = { 'text/plain': text };
    if (this._shown) {
      this._sink.updateDisplay(data, {}, this._displayId);
    } else {
      this._shown = true;
      this._sink.display(data, {}, this._displayId);
    }
  }

  private _sink: IOutputSink;
  private _displayId: string;
  private _lines: string[] = [];
  private _partial = '';
  private _shown = false;
  private _settled = false;
}

namespace Private {
  /** What a terminal shows of a line with carriage returns (progress bars): the last part. */
  export function terminalLine(line: string): string {
    const parts = line.split('\r').filter(part => part !== '');
    return parts.length ? parts[parts.length - 1] : '';
  }
}
