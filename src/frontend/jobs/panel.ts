/**
 * The Remote Jobs side panel: the remote sessions (SessionsView), then the
 * running, queued and finished jobs of this server as the bridge reports
 * them, each with cancel and open (reattach). Plain DOM on a Lumino widget;
 * the data comes from IClusterBridge.
 */
import { Widget } from '@lumino/widgets';
import type { IJobInfo } from '../../shared/jobs';
import type { IClusterBridge } from '../tokens';
import { appendElement } from '../renderers/dom';
import { isJobOver, shownState } from '../../shared/jobState';
import { schedulerIdText } from '../../shared/jobWording';
import { appendButton } from './button';
import { rankLayoutText, RanksView } from './ranksView';
import { SessionsView } from './sessionsView';

export class JobsPanel extends Widget {
  constructor(options: JobsPanel.IOptions) {
    super();
    this._bridge = options.bridge;
    this._onOpen = options.onOpen;
    this.addClass('jp-ClusterBridge-jobs');
    this.title.caption = 'Remote Jobs';

    const header = appendElement(
      this.node,
      'div',
      'jp-ClusterBridge-jobs-header'
    );
    appendElement(header, 'h2', 'jp-ClusterBridge-jobs-title', 'Remote Jobs');
    const refresh = appendElement(
      header,
      'button',
      'jp-Button jp-mod-styled jp-mod-minimal jp-ClusterBridge-jobs-refresh',
      'Refresh'
    ) as HTMLButtonElement;
    refresh.type = 'button';
    refresh.title = 'Ask the bridge for the sessions and jobs again';
    refresh.addEventListener('click', () => void this.refresh());

    this._sessions = new SessionsView({
      bridge: this._bridge,
      notebookPath: options.notebookPath,
      onError: message => {
        this._error = message;
        this._render();
      }
    });
    this.node.appendChild(this._sessions.node);
    appendElement(this.node, 'h3', 'jp-ClusterBridge-jobs-section', 'Jobs');
    this._status = appendElement(
      this.node,
      'div',
      'jp-ClusterBridge-jobs-status'
    );
    this._status.setAttribute('role', 'status');
    this._list = appendElement(this.node, 'ul', 'jp-ClusterBridge-jobs-list');
    this._list.setAttribute('aria-label', 'Remote jobs');

    this._bridge.jobsChanged.connect(this._render, this);
    this._bridge.connectionChanged.connect(this._render, this);
    this._render();
  }

  /** Ask the bridge (starting it if needed) for the sessions and jobs. */
  async refresh(): Promise<void> {
    this._status.textContent = 'Loading…';
    const [jobs, sessions] = await Promise.allSettled([
      this._bridge.refreshJobs(),
      this._bridge.refreshSessions()
    ]);
    this._error = [
      Private.failure('Could not load jobs', jobs),
      Private.failure('Could not load sessions', sessions)
    ]
      .filter(Boolean)
      .join('; ');
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopPolling();
    this._sessions.dispose();
    for (const view of this._ranks.values()) {
      view.dispose();
    }
    this._bridge.jobsChanged.disconnect(this._render, this);
    this._bridge.connectionChanged.disconnect(this._render, this);
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.refresh();
    // Pushes keep the lists current; a slow poll covers a bridge without
    // them, and sessions' memory and idle time, which change without a push.
    this._stopPolling();
    this._poll = setInterval(() => {
      if (this.isVisible && this._bridge.isConnected) {
        this._bridge.refreshJobs().catch(() => undefined);
        this._bridge.refreshSessions().catch(() => undefined);
      }
    }, 5000);
    this._sessions.startTicking();
  }

  protected onAfterHide(): void {
    this._stopPolling();
    this._sessions.stopTicking();
  }

  private _stopPolling(): void {
    if (this._poll !== null) {
      clearInterval(this._poll);
      this._poll = null;
    }
  }

  private _render(): void {
    const jobs = this._bridge.jobs;
    this._status.textContent =
      this._error ||
      (jobs.length
        ? `${jobs.filter(j => !isJobOver(j)).length} active, ${jobs.length} in all`
        : this._bridge.isConnected
          ? 'No remote jobs yet.'
          : 'Not connected to the Cluster Bridge kernel.');
    for (const [id, view] of this._ranks) {
      if (!jobs.some(j => j.id === id)) {
        view.dispose();
        this._ranks.delete(id);
      }
    }
    this._list.replaceChildren(...jobs.map(job => this._row(job)));
  }

  private _row(job: IJobInfo): HTMLElement {
    const li = document.createElement('li');
    li.className = 'jp-ClusterBridge-job';
    li.dataset.jobId = job.id;
    const state = shownState(job);
    li.dataset.state = state;

    const top = appendElement(li, 'div', 'jp-ClusterBridge-job-top');
    appendElement(
      top,
      'span',
      `jp-ClusterBridge-job-state jp-mod-${state}`,
      state
    );
    appendElement(top, 'span', 'jp-ClusterBridge-job-cluster', job.cluster);
    appendElement(
      top,
      'span',
      'jp-ClusterBridge-job-time',
      new Date(job.submittedAt).toLocaleString()
    );

    appendElement(
      li,
      'div',
      'jp-ClusterBridge-job-title',
      job.title || '(empty cell)'
    );
    const meta = [
      `job ${job.id}`,
      schedulerIdText(job),
      job.array
        ? `array of ${job.array} element${job.array > 1 ? 's' : ''}`
        : '',
      rankLayoutText(job),
      job.node ? `node ${job.node}` : '',
      job.detached ? 'detached' : '',
      job.detail ?? ''
    ].filter(Boolean);
    appendElement(li, 'div', 'jp-ClusterBridge-job-meta', meta.join(' · '));

    const actions = appendElement(li, 'div', 'jp-ClusterBridge-job-actions');
    const open = appendButton(
      actions,
      'Open',
      `Show the outputs of job ${job.id}`
    );
    open.addEventListener('click', () => this._onOpen(job));
    if (job.ranks) {
      this._ranksToggle(li, actions, job);
    }
    if (!isJobOver(job)) {
      const cancel = appendButton(actions, 'Cancel', `Cancel job ${job.id}`);
      cancel.classList.add('jp-mod-warn');
      cancel.addEventListener('click', () => {
        cancel.disabled = true;
        this._bridge.cancelJob(job.id).catch(err => {
          this._error = `Cancel failed: ${(err as Error).message ?? err}`;
          this._render();
        });
      });
    }
    return li;
  }

  /** The "Ranks" toggle; an open view survives the re-renders (it is kept per job). */
  private _ranksToggle(
    li: HTMLElement,
    actions: HTMLElement,
    job: IJobInfo
  ): void {
    const toggle = appendButton(
      actions,
      'Ranks',
      `Show each rank's output of job ${job.id}`
    );
    toggle.classList.add('jp-ClusterBridge-job-ranks');
    const view = this._ranks.get(job.id);
    toggle.setAttribute('aria-expanded', String(!!view));
    if (view) {
      view.setJob(job);
      li.appendChild(view.node);
    }
    toggle.addEventListener('click', () => {
      const shown = this._ranks.get(job.id);
      if (shown) {
        shown.dispose();
        this._ranks.delete(job.id);
        toggle.setAttribute('aria-expanded', 'false');
        return;
      }
      const created = new RanksView({
        bridge: this._bridge,
        job,
        isVisible: () => this.isVisible
      });
      this._ranks.set(job.id, created);
      li.appendChild(created.node);
      toggle.setAttribute('aria-expanded', 'true');
      void created.refresh();
    });
  }

  private _bridge: IClusterBridge;
  private _sessions: SessionsView;
  private _onOpen: (job: IJobInfo) => void;
  private _status: HTMLElement;
  private _list: HTMLElement;
  private _error = '';
  private _ranks = new Map<string, RanksView>();
  private _poll: ReturnType<typeof setInterval> | null = null;
}

export namespace JobsPanel {
  export interface IOptions {
    bridge: IClusterBridge;
    /** Reattach: show the job's outputs. */
    onOpen: (job: IJobInfo) => void;
    /** See SessionsView.IOptions.notebookPath. */
    notebookPath?: (key: string) => string;
  }
}

namespace Private {
  /** '' for a fulfilled refresh, else the prefix and the reason. */
  export function failure(
    prefix: string,
    result: PromiseSettledResult<unknown>
  ): string {
    if (result.status === 'fulfilled') {
      return '';
    }
    const reason = result.reason as Error | undefined;
    return `${prefix}: ${reason?.message ?? String(reason)}`;
  }
}
