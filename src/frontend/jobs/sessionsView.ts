/**
 * The Sessions section of the Remote Jobs panel: one row per remote session
 * (cluster, notebook, resources, state, started, idle, memory, GPUs, time
 * left) with Restart and Stop. Idle time and time left tick every second
 * without rebuilding the rows, so keyboard focus stays on its button.
 */
import type { IDisposable } from '@lumino/disposable';
import { schedulerIdText } from '../../shared/jobWording';
import { isSessionLive, type ISessionInfo } from '../../shared/sessions';
import { appendElement } from '../renderers/dom';
import type { IClusterBridge } from '../tokens';
import { appendButton } from './button';
import { notebookName, sessionFacts } from './sessionFormat';

export class SessionsView implements IDisposable {
  constructor(options: SessionsView.IOptions) {
    this._bridge = options.bridge;
    this._onError = options.onError;
    this._notebookPath = options.notebookPath ?? (key => key);
    this.node = document.createElement('section');
    this.node.className = 'jp-ClusterBridge-sessions';
    this.node.setAttribute('aria-label', 'Remote sessions');
    appendElement(this.node, 'h3', 'jp-ClusterBridge-jobs-section', 'Sessions');
    this._status = appendElement(
      this.node,
      'div',
      'jp-ClusterBridge-sessions-status'
    );
    this._list = appendElement(
      this.node,
      'ul',
      'jp-ClusterBridge-sessions-list'
    );
    this._list.setAttribute('aria-label', 'Remote sessions');
    this._bridge.sessionsChanged.connect(this._onSessions, this);
    this.render();
  }

  readonly node: HTMLElement;

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Rebuild the rows from the bridge's list. */
  render(now = Date.now()): void {
    const sessions = this._bridge.sessions;
    const live = sessions.filter(isSessionLive).length;
    this._status.textContent = sessions.length
      ? `${live} live${sessions.length > live ? `, ${sessions.length - live} ended` : ''}`
      : 'No sessions: the first %%cluster cell of a notebook starts one.';
    this._rows.clear();
    this._list.replaceChildren(...sessions.map(s => this._row(s, now)));
  }

  /** Update the ticking facts (idle time, time left) in place. */
  tick(now = Date.now()): void {
    for (const row of this._rows.values()) {
      const facts = sessionFacts(row.info, now, this._receivedAt);
      row.idle.textContent = facts.idle ? `idle ${facts.idle}` : '';
      row.left.textContent = facts.timeLeft;
      row.left.classList.toggle('jp-mod-warn', facts.endingSoon);
    }
  }

  /** Tick every second (while the panel is shown). */
  startTicking(): void {
    this.stopTicking();
    this._timer = setInterval(() => this.tick(), 1000);
  }

  stopTicking(): void {
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.stopTicking();
    this._bridge.sessionsChanged.disconnect(this._onSessions, this);
  }

  private _onSessions(): void {
    this._receivedAt = Date.now();
    this.render(this._receivedAt);
  }

  private _row(info: ISessionInfo, now: number): HTMLElement {
    const facts = sessionFacts(info, now, this._receivedAt);
    const li = document.createElement('li');
    li.className = 'jp-ClusterBridge-session';
    li.dataset.sessionId = info.id;
    li.dataset.state = info.state;

    const top = appendElement(li, 'div', 'jp-ClusterBridge-job-top');
    appendElement(
      top,
      'span',
      `jp-ClusterBridge-job-state jp-mod-${info.state}`,
      info.state
    );
    appendElement(top, 'span', 'jp-ClusterBridge-job-cluster', info.cluster);
    const path = this._notebookPath(info.notebook);
    const notebook = appendElement(
      top,
      'span',
      'jp-ClusterBridge-session-notebook',
      notebookName(path)
    );
    notebook.title = path;

    appendElement(
      li,
      'div',
      'jp-ClusterBridge-session-resources',
      facts.resources
    );
    const meta = appendElement(li, 'div', 'jp-ClusterBridge-session-meta');
    const fact = (name: string, text: string) =>
      appendElement(meta, 'span', `jp-ClusterBridge-session-${name}`, text);
    fact('started', `started ${facts.started}`);
    fact('scheduler', schedulerIdText(info));
    fact('node', info.node ? `node ${info.node}` : '');
    const idle = fact('idle', facts.idle ? `idle ${facts.idle}` : '');
    fact('memory', facts.memory);
    fact('gpus', facts.gpus);
    const left = fact('left', facts.timeLeft);
    left.classList.toggle('jp-mod-warn', facts.endingSoon);
    if (info.reason) {
      appendElement(li, 'div', 'jp-ClusterBridge-job-meta', info.reason);
    }
    this._rows.set(info.id, { info, idle, left });

    if (isSessionLive(info)) {
      this._actions(li, info);
    }
    return li;
  }

  private _actions(li: HTMLElement, info: ISessionInfo): void {
    const actions = appendElement(li, 'div', 'jp-ClusterBridge-job-actions');
    const name = notebookName(this._notebookPath(info.notebook));
    const what = `the session on ${info.cluster} for ${name}`;
    const restart = appendButton(
      actions,
      'Restart',
      `Restart ${what} (its variables are lost)`
    );
    const stop = appendButton(actions, 'Stop', `Stop ${what}`);
    stop.classList.add('jp-mod-warn');
    const act = (action: 'stop' | 'restart') => {
      restart.disabled = stop.disabled = true;
      this._bridge.sessionAction(info.id, action).catch(err => {
        restart.disabled = stop.disabled = false;
        this._onError(
          `${action === 'stop' ? 'Stop' : 'Restart'} failed: ${(err as Error).message ?? err}`
        );
      });
    };
    restart.addEventListener('click', () => act('restart'));
    stop.addEventListener('click', () => act('stop'));
  }

  private _bridge: IClusterBridge;
  private _onError: (message: string) => void;
  private _notebookPath: (key: string) => string;
  private _status: HTMLElement;
  private _list: HTMLElement;
  private _rows = new Map<string, Private.IRow>();
  private _receivedAt = Date.now();
  private _timer: ReturnType<typeof setInterval> | null = null;
  private _isDisposed = false;
}

export namespace SessionsView {
  export interface IOptions {
    bridge: IClusterBridge;
    /** Show an error where the panel shows its status. */
    onError: (message: string) => void;
    /**
     * The path to show for a session's notebook key (a Cluster Bridge kernel
     * notebook's sessions are keyed `kernel:<id>`); the key itself by default.
     */
    notebookPath?: (key: string) => string;
  }
}

namespace Private {
  /** A rendered row and the elements that tick. */
  export interface IRow {
    info: ISessionInfo;
    idle: HTMLElement;
    left: HTMLElement;
  }
}
