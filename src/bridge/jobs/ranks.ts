/**
 * A distributed cell's other ranks as one output kept current in place
 * (display id `cb-ranks-<jobId>`, RANKS_MIME plus a text/plain fallback
 * whose lines are tagged `[rank N]`): rank 0's output is the cell's own and
 * never passes here. Updates are throttled; each rank's outputs are bounded.
 */
import type { IRankEvent, IRanksEvent } from '../../shared/events';
import {
  RANKS_MIME,
  type IRankInfo,
  type IRanksPayload
} from '../../shared/mime';
import {
  addBoundedText,
  pushBounded,
  type IOutputBounds
} from './ranksOutputs';
import type { IOutputSink } from './types';

/** Per rank: outputs and stream characters kept. */
export const RANK_BOUNDS: IOutputBounds = { outputs: 50, text: 20000 };
/** At most one update of the display per this many ms (the end is sent at once). */
export const RANKS_UPDATE_MS = 250;
/** Lines of each rank's text in the text/plain fallback. */
const PLAIN_LINES = 40;

export interface IRanksViewOptions {
  jobId: string;
  sink: IOutputSink;
  updateMs?: number;
}

export class RanksView {
  constructor(options: IRanksViewOptions) {
    this._options = options;
    this._payload = {
      jobId: options.jobId,
      worldSize: 0,
      nodes: [],
      ranks: []
    };
  }

  get payload(): IRanksPayload {
    return this._payload;
  }

  handle(event: IRanksEvent | IRankEvent): void {
    if (event.type === 'ranks') {
      this._start(event);
    } else {
      this._rank(event);
    }
    this._changed();
  }

  /** Sends a pending update now (the job ended). */
  finish(): void {
    if (this._timer !== undefined) {
      clearTimeout(this._timer);
      this._timer = undefined;
    }
    if (this._dirty) {
      this._send();
    }
  }

  /** The text/plain fallback: each rank's last lines, tagged `[rank N]`. */
  plain(): string {
    const p = this._payload;
    const failed =
      p.failedRank !== undefined ? `; rank ${p.failedRank} failed` : '';
    const lines = [
      `${p.worldSize} ranks on ${p.nodes.join(', ') || '?'}${failed} (rank 0's output is above)`
    ];
    for (const r of p.ranks) {
      const text = r.outputs
        .map(o =>
          o.type === 'stream'
            ? o.text
            : o.type === 'error'
              ? `${o.ename}: ${o.evalue}\n`
              : `${String(o.data['text/plain'] ?? '[display]')}\n`
        )
        .join('');
      const own = text
        .split('\n')
        .filter((l, i, all) => l !== '' || i < all.length - 1);
      for (const line of own.slice(-PLAIN_LINES)) {
        lines.push(`[rank ${r.rank}] ${line}`);
      }
      lines.push(
        `[rank ${r.rank}] (${r.state}${r.node ? ` on ${r.node}` : ''})`
      );
    }
    return lines.join('\n');
  }

  private _start(event: IRanksEvent): void {
    const p = this._payload;
    p.worldSize = event.worldSize;
    p.launch = event.launch;
    p.ranks = [];
    for (let r = 1; r < event.worldSize; r++) {
      p.ranks.push({
        rank: r,
        localRank: r % Math.max(1, event.tasksPerNode),
        node: '',
        state: 'running',
        outputs: []
      });
    }
  }

  private _rank(wrapper: IRankEvent): void {
    const p = this._payload;
    const event = wrapper.event;
    if (
      event.type === 'rank-start' &&
      event.node &&
      !p.nodes.includes(event.node)
    ) {
      p.nodes.push(event.node);
    }
    if (
      event.type === 'rank-end' &&
      event.failed &&
      p.failedRank === undefined
    ) {
      p.failedRank = wrapper.rank;
    }
    const info: IRankInfo | undefined = p.ranks.find(
      r => r.rank === wrapper.rank
    );
    if (!info) {
      return; // rank 0 (its output is the cell's) or a rank the start did not announce
    }
    switch (event.type) {
      case 'rank-start':
        info.node = event.node;
        info.localRank = event.localRank;
        break;
      case 'rank-end':
        info.state = event.state;
        break;
      case 'stream':
        addBoundedText(info, event.name, event.text, RANK_BOUNDS);
        break;
      case 'notice':
        addBoundedText(info, 'stderr', event.text + '\n', RANK_BOUNDS);
        break;
      case 'display':
      case 'result':
        pushBounded(info, { type: 'display', data: event.data }, RANK_BOUNDS);
        break;
      case 'error':
        pushBounded(
          info,
          {
            type: 'error',
            ename: event.ename,
            evalue: event.evalue,
            traceback: event.traceback ?? []
          },
          RANK_BOUNDS
        );
        break;
    }
  }

  private _changed(): void {
    this._dirty = true;
    if (!this._shown) {
      this._send(); // the first form at once: the output appears where the cell is
      return;
    }
    if (this._timer === undefined) {
      const wait = Math.max(
        0,
        this._sentAt + (this._options.updateMs ?? RANKS_UPDATE_MS) - Date.now()
      );
      this._timer = setTimeout(() => {
        this._timer = undefined;
        this._send();
      }, wait);
      this._timer.unref?.();
    }
  }

  private _send(): void {
    const data = {
      [RANKS_MIME]: Private.copy(this._payload),
      'text/plain': this.plain()
    };
    const id = `cb-ranks-${this._options.jobId}`;
    if (this._shown) {
      this._options.sink.updateDisplay(data, undefined, id);
    } else {
      this._options.sink.display(data, undefined, id);
      this._shown = true;
    }
    this._dirty = false;
    this._sentAt = Date.now();
  }

  private _options: IRanksViewOptions;
  private _payload: IRanksPayload;
  private _shown = false;
  private _dirty = false;
  private _sentAt = 0;
  private _timer: ReturnType<typeof setTimeout> | undefined;
}

namespace Private {
  /** A snapshot: the sink may keep what it is given while the view changes on. */
  export function copy(p: IRanksPayload): IRanksPayload {
    return {
      ...p,
      nodes: [...p.nodes],
      ranks: p.ranks.map(r => ({
        ...r,
        outputs: r.outputs.map(o => ({ ...o }))
      }))
    };
  }
}
