/**
 * The Remote Jobs panel's per-rank view of a distributed job (the row's
 * "Ranks" toggle): one entry per rank with its last lines, each tagged
 * `[rank N]`, and which rank failed. The data comes from the bridge's
 * `rankLogs` request; while the job runs the view follows it (re-reads every
 * few seconds) unless the user turns that off. Every text from the remote
 * goes in as textContent: never HTML.
 */
import type { IJobInfo, IRankLog, IRankLogs } from '../../shared/jobs';
import { isJobOver } from '../../shared/jobState';
import type { IClusterBridge } from '../tokens';
import { appendElement } from '../renderers/dom';
import { appendButton } from './button';

/** Lines of each rank the view asks for. */
export const RANK_VIEW_LINES = 200;
/** How often a followed job's ranks are read again. */
export const RANK_FOLLOW_MS = 3000;

/** "4 ranks on 2 nodes" for a row's meta line; '' for a job without ranks. */
export function rankLayoutText(job: Pick<IJobInfo, 'ranks' | 'nodes'>): string {
  if (!job.ranks) {
    return '';
  }
  const nodes = job.nodes ?? 1;
  return `${job.ranks} rank${job.ranks === 1 ? '' : 's'} on ${nodes} node${nodes === 1 ? '' : 's'}`;
}

/** The view's status line: what was read, and which rank failed. */
export function rankLogsSummary(logs: IRankLogs): string {
  if (!logs.found) {
    return `The job directory of ${logs.jobId} is gone (cleaned): no rank output is left to show.`;
  }
  const parts = [`${logs.worldSize} ranks`];
  if (logs.failedRank !== undefined) {
    parts.push(`rank ${logs.failedRank} failed`);
  }
  const count = (state: IRankLog['state']) =>
    logs.ranks.filter(r => r.state === state).length;
  for (const state of ['running', 'waiting', 'cancelled'] as const) {
    if (count(state)) {
      parts.push(`${count(state)} ${state}`);
    }
  }
  return parts.join(' · ');
}

/** "rank 1 · node-a · failed (its error ended the job)". */
export function rankHeading(rank: IRankLog): string {
  const state = rank.state === 'error' ? 'failed' : rank.state;
  return [
    `rank ${rank.rank}`,
    rank.node ?? '',
    rank.failed ? `${state} (its error ended the job)` : state
  ]
    .filter(Boolean)
    .join(' · ');
}

export class RanksView {
  constructor(options: RanksView.IOptions) {
    this._bridge = options.bridge;
    this._job = options.job;
    this._followMs = options.followMs ?? RANK_FOLLOW_MS;
    this._isVisible = options.isVisible ?? (() => true);
    this.node = document.createElement('div');
    this.node.className = 'jp-ClusterBridge-ranks';
    this.node.setAttribute('aria-label', `Ranks of job ${this._job.id}`);

    const bar = appendElement(this.node, 'div', 'jp-ClusterBridge-ranks-bar');
    const refresh = appendButton(
      bar,
      'Refresh',
      `Read the ranks of job ${this._job.id} again`
    );
    refresh.classList.add('jp-ClusterBridge-ranks-refresh');
    refresh.addEventListener('click', () => void this.refresh());
    const label = appendElement(bar, 'label', 'jp-ClusterBridge-ranks-follow');
    this._follow = document.createElement('input');
    this._follow.type = 'checkbox';
    this._follow.checked = true;
    this._follow.addEventListener('change', () => this._schedule());
    label.append(this._follow, ' Follow while it runs');
    this._status = appendElement(
      this.node,
      'div',
      'jp-ClusterBridge-ranks-status',
      'Loading…'
    );
    this._status.setAttribute('role', 'status');
    this._list = appendElement(this.node, 'div', 'jp-ClusterBridge-ranks-list');
  }

  readonly node: HTMLElement;

  /** The job's newest record (the panel re-renders on every change). */
  setJob(job: IJobInfo): void {
    const ended = !isJobOver(this._job) && isJobOver(job);
    this._job = job;
    if (ended) {
      void this.refresh(); // the ranks' last lines and ends
    }
  }

  /** Reads the ranks again; a failure shows in the view. */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    this._clearTimer();
    try {
      const logs = await this._bridge.rankLogs(this._job.id, RANK_VIEW_LINES);
      if (!this._disposed) {
        this._render(logs);
      }
    } catch (err) {
      if (!this._disposed) {
        this._status.textContent = `Could not read the ranks: ${(err as Error)?.message ?? String(err)}`;
        this.node.dataset.state = 'error';
      }
    }
    this._schedule();
  }

  dispose(): void {
    this._disposed = true;
    this._clearTimer();
    this.node.remove();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  private _render(logs: IRankLogs): void {
    this.node.dataset.state = logs.found ? 'found' : 'gone';
    this._status.textContent = rankLogsSummary(logs);
    this._list.replaceChildren(...logs.ranks.map(r => this._rank(r)));
  }

  private _rank(rank: IRankLog): HTMLElement {
    const entry = document.createElement('details');
    entry.className = 'jp-ClusterBridge-rank';
    entry.dataset.rank = String(rank.rank);
    entry.dataset.state = rank.state;
    if (rank.failed) {
      entry.classList.add('jp-mod-failed');
    }
    // Open unless the user closed it: a refresh keeps what they chose.
    entry.open = !this._closed.has(rank.rank);
    entry.addEventListener('toggle', () => {
      if (entry.open) {
        this._closed.delete(rank.rank);
      } else {
        this._closed.add(rank.rank);
      }
    });
    appendElement(
      entry,
      'summary',
      'jp-ClusterBridge-rank-heading',
      rankHeading(rank)
    );
    const pre = appendElement(entry, 'pre', 'jp-ClusterBridge-rank-lines');
    if (rank.truncated) {
      appendElement(
        pre,
        'div',
        'jp-ClusterBridge-rank-note',
        '(earlier output not shown)'
      );
    }
    if (!rank.lines.length) {
      appendElement(
        pre,
        'div',
        'jp-ClusterBridge-rank-note',
        rank.state === 'waiting' ? '(not started yet)' : '(no output)'
      );
    }
    for (const line of rank.lines) {
      const row = appendElement(
        pre,
        'div',
        'jp-ClusterBridge-rank-line',
        line.text
      );
      if (line.stderr) {
        row.classList.add('jp-mod-stderr');
      }
    }
    return entry;
  }

  private _schedule(): void {
    this._clearTimer();
    if (this._disposed || !this._follow.checked || isJobOver(this._job)) {
      return;
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._isVisible()) {
        void this.refresh();
      } else {
        this._schedule();
      }
    }, this._followMs);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _bridge: Pick<IClusterBridge, 'rankLogs'>;
  private _job: IJobInfo;
  private _followMs: number;
  private _isVisible: () => boolean;
  private _follow: HTMLInputElement;
  private _status: HTMLElement;
  private _list: HTMLElement;
  private _closed = new Set<number>();
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _disposed = false;
}

export namespace RanksView {
  export interface IOptions {
    bridge: Pick<IClusterBridge, 'rankLogs'>;
    job: IJobInfo;
    /** Follow interval (ms). */
    followMs?: number;
    /** Following pauses while this is false (the panel is hidden). */
    isVisible?: () => boolean;
  }
}
