/**
 * This session's input history for `history_request` (a console's up arrow,
 * %history-like frontends): the cells run with store_history, in memory,
 * numbered by execution count. Session 0 is this one, as in ipykernel; other
 * sessions have nothing. Output is never kept (`output: true` gets null).
 */
import { globToRegExp } from '../util/glob';
import type { JSONObject } from './wire';

/** How many inputs are kept. */
export const HISTORY_LIMIT = 1000;

/** [session, line, input] or, when output was asked for, [session, line, [input, null]]. */
export type HistoryEntry = [number, number, string | [string, null]];

export class SessionHistory {
  add(line: number, code: string): void {
    this._inputs.push([line, code]);
    if (this._inputs.length > HISTORY_LIMIT) {
      this._inputs.splice(0, this._inputs.length - HISTORY_LIMIT);
    }
  }

  /** The answer to a history_request's content. */
  query(content: JSONObject): HistoryEntry[] {
    const n = (v: unknown, fallback: number) =>
      typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : fallback;
    let picked: [number, string][];
    switch (content.hist_access_type) {
      case 'range': {
        if (n(content.session, 0) !== 0) {
          return [];
        }
        const start = n(content.start, 1);
        const stop = content.stop == null ? Infinity : n(content.stop, 0);
        picked = this._inputs.filter(([line]) => line >= start && line < stop);
        break;
      }
      case 'search': {
        // IPython's search pattern: a glob over the whole input.
        const pattern = globToRegExp(
          typeof content.pattern === 'string' ? content.pattern : '*'
        );
        picked = this._inputs.filter(([, code]) => pattern.test(code));
        if (content.unique === true) {
          const seen = new Set<string>();
          picked = picked
            .reverse()
            .filter(([, code]) => !seen.has(code) && !!seen.add(code))
            .reverse();
        }
        if (typeof content.n === 'number') {
          picked = picked.slice(-Math.max(0, n(content.n, 0)));
        }
        break;
      }
      default: {
        // 'tail', and what older clients send without a type.
        const count = n(content.n, 10);
        picked = count > 0 ? this._inputs.slice(-count) : [];
      }
    }
    const output = content.output === true;
    return picked.map(([line, code]) => [
      0,
      line,
      output ? [code, null] : code
    ]);
  }

  private _inputs: [number, string][] = [];
}
