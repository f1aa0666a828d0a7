/**
 * The warm fast path's memory: which VENV2 python runs a direct cell's env,
 * per connection. A cell's `running` status names it; the next cell with the
 * same env runs `go` on it directly (one Python start instead of two).
 */
import type { ITransport } from '../transport/types';

export class Venv2Cache {
  /** The key of a job's env: its work directory and env hash. */
  static key(workDir: string, envHash: string): string {
    return `${workDir}\0${envHash}`;
  }

  get(transport: ITransport, key: string): string | undefined {
    return this._pythons.get(transport)?.get(key);
  }

  /** Remembers a python the agent reported; only absolute paths can be run later. */
  learn(transport: ITransport, key: string, python: unknown): void {
    if (typeof python !== 'string' || !python.startsWith('/')) {
      return;
    }
    let known = this._pythons.get(transport);
    if (!known) {
      known = new Map();
      this._pythons.set(transport, known);
    }
    known.set(key, python);
  }

  /** This python did not run `go` (the env was removed or moved). */
  forget(transport: ITransport, key: string): void {
    this._pythons.get(transport)?.delete(key);
  }

  /** The remote may have been wiped: nothing known about it holds. */
  forgetAll(transport: ITransport): void {
    this._pythons.delete(transport);
  }

  private _pythons = new WeakMap<ITransport, Map<string, string>>();
}
