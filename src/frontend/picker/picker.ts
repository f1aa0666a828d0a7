/**
 * The notebook toolbar's cluster picker: a native <select> (keyboard and
 * screen-reader friendly) listing the bridge's clusters with a connection
 * mark, and a mark when this notebook has a live session on the picked
 * cluster. The choice lives in the notebook metadata `cluster_bridge.cluster`
 * and is what a bare `%%cluster` runs on.
 */
import type { INotebookModel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';
import type { IClusterInfo } from '../../shared/config';
import { isSessionLive, type ISessionInfo } from '../../shared/sessions';
import { sessionSummary } from '../jobs/sessionFormat';
import { readPickedCluster, writePickedCluster } from '../pickedCluster';
import type { IClusterBridge } from '../tokens';

export class ClusterPicker extends Widget {
  constructor(options: ClusterPicker.IOptions) {
    super();
    this._bridge = options.bridge;
    this.addClass('jp-ClusterBridge-picker');
    const id = Private.nextId();

    const label = document.createElement('label');
    label.className = 'jp-ClusterBridge-picker-label';
    label.htmlFor = id;
    label.textContent = 'Cluster';
    label.title = 'Cluster used by a bare %%cluster in this notebook';

    const select = (this._select = document.createElement('select'));
    select.id = id;
    select.className = 'jp-ClusterBridge-picker-select';
    select.setAttribute(
      'aria-description',
      'Cluster used by a bare %%cluster in this notebook'
    );
    select.title = 'Cluster used by a bare %%cluster in this notebook';
    this._sessionMark = document.createElement('span');
    this._sessionMark.className = 'jp-ClusterBridge-picker-session';
    this._sessionMark.textContent = '● session';
    // The tooltip's time left is worked out when it is about to show.
    this._sessionMark.addEventListener('pointerenter', () =>
      this._renderSession()
    );
    this.node.append(label, select, this._sessionMark);

    select.addEventListener('change', () => this._onChange());
    // First use: opening the list starts (or joins) the bridge session.
    for (const type of ['focus', 'pointerdown', 'keydown']) {
      select.addEventListener(type, () => this._connect());
    }
    this._bridge.clustersChanged.connect(this._render, this);
    this._bridge.settingsChanged.connect(this._render, this);
    this._bridge.connectionChanged.connect(this._render, this);
    this._bridge.sessionsChanged.connect(this._render, this);
    this._path = options.path ?? '';
    this.model = options.model ?? null;
  }

  /** The notebook's path: %%cluster cells name their notebook by it. */
  get path(): string {
    return this._path;
  }
  set path(path: string) {
    if (this._path !== path) {
      this._path = path;
      this._render();
    }
  }

  /**
   * The notebook's own kernel id: a Cluster Bridge kernel names the
   * sessions of its plain cells `kernel:<id>`.
   */
  get kernelId(): string {
    return this._kernelId;
  }
  set kernelId(id: string) {
    if (this._kernelId !== id) {
      this._kernelId = id;
      this._render();
    }
  }

  /** This notebook's live session on the picked cluster, if any. */
  get liveSession(): ISessionInfo | undefined {
    const cluster = this.value || this._bridge.defaultCluster;
    const mine = [
      this._bridge.notebookKey(this._path),
      this._kernelId && `kernel:${this._kernelId}`
    ];
    return this._bridge.sessions.find(
      s =>
        isSessionLive(s) &&
        s.cluster === cluster &&
        !!s.notebook &&
        mine.includes(s.notebook)
    );
  }

  /** The notebook model whose metadata holds the choice. */
  get model(): INotebookModel | null {
    return this._model;
  }
  set model(model: INotebookModel | null) {
    if (this._model === model) {
      return;
    }
    this._model?.metadataChanged.disconnect(this._render, this);
    this._model = model;
    model?.metadataChanged.connect(this._render, this);
    this._render();
  }

  /** The picked cluster name, '' for the default. */
  get value(): string {
    return readPickedCluster(this._model);
  }

  /** The <select>, for tests. */
  get select(): HTMLSelectElement {
    return this._select;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model?.metadataChanged.disconnect(this._render, this);
    this._bridge.clustersChanged.disconnect(this._render, this);
    this._bridge.settingsChanged.disconnect(this._render, this);
    this._bridge.connectionChanged.disconnect(this._render, this);
    this._bridge.sessionsChanged.disconnect(this._render, this);
    super.dispose();
  }

  private _connect(): void {
    if (this._bridge.isConnected || this._connecting) {
      return;
    }
    this._connecting = true;
    this._bridge
      .ensureStarted()
      .catch(err => console.warn('cluster-bridge: bridge not started', err))
      .finally(() => {
        this._connecting = false;
        this._render();
      });
  }

  private _onChange(): void {
    const model = this._model;
    if (!model) {
      return;
    }
    writePickedCluster(model, this._select.value);
  }

  private _render(): void {
    const select = this._select;
    const value = this.value;
    const clusters = [...this._bridge.clusters];
    if (value && !clusters.some(c => c.name === value)) {
      // Chosen earlier, not (yet) known to the bridge: keep it visible.
      clusters.push({
        name: value,
        source: 'settings',
        type: 'ssh',
        scheduler: 'direct',
        state: 'disconnected'
      });
    }
    const fallback = this._bridge.defaultCluster;
    const options: HTMLOptionElement[] = [];
    const first = document.createElement('option');
    first.value = '';
    first.textContent = fallback ? `default (${fallback})` : 'default';
    first.setAttribute(
      'aria-label',
      fallback ? `Default cluster, ${fallback}` : 'Default cluster'
    );
    options.push(first);
    for (const cluster of clusters) {
      options.push(Private.option(cluster));
    }
    select.replaceChildren(...options);
    select.value = value;
    const picked = clusters.find(c => c.name === value);
    const state = picked ? Private.STATE_TEXT[picked.state] : '';
    const session = this._renderSession();
    select.setAttribute(
      'aria-label',
      `Cluster for %%cluster cells: ${value || 'default'}${
        state ? `, ${state}` : ''
      }${session ? `, live session (${session.state})` : ''}`
    );
    this.node.dataset.state = picked?.state ?? '';
    this.toggleClass('jp-mod-connected', this._bridge.isConnected);
  }

  private _renderSession(): ISessionInfo | undefined {
    const session = this.liveSession;
    const mark = this._sessionMark;
    mark.hidden = !session;
    mark.dataset.state = session?.state ?? '';
    mark.title = session
      ? `${sessionSummary(session, Date.now())}. Its variables stay between %%cluster cells; restart or stop it in the Remote Jobs panel.`
      : '';
    return session;
  }

  private _bridge: IClusterBridge;
  private _model: INotebookModel | null = null;
  private _select: HTMLSelectElement;
  private _sessionMark: HTMLElement;
  private _path: string;
  private _kernelId = '';
  private _connecting = false;
}

export namespace ClusterPicker {
  export interface IOptions {
    bridge: IClusterBridge;
    model?: INotebookModel | null;
    /** The notebook's path (see `path`). */
    path?: string;
  }
}

namespace Private {
  let count = 0;

  export function nextId(): string {
    return `jp-ClusterBridge-picker-${++count}`;
  }

  export const STATE_TEXT: { [state: string]: string } = {
    connected: 'connected',
    connecting: 'connecting',
    disconnected: 'not connected',
    error: 'connection error'
  };

  const MARK: { [state: string]: string } = {
    connected: '●',
    connecting: '◐',
    disconnected: '○',
    error: '⊘'
  };

  export function option(cluster: IClusterInfo): HTMLOptionElement {
    const el = document.createElement('option');
    el.value = cluster.name;
    el.textContent = `${MARK[cluster.state] ?? '○'} ${cluster.name}`;
    const state = STATE_TEXT[cluster.state] ?? cluster.state;
    el.setAttribute(
      'aria-label',
      `${cluster.name}, ${state}${cluster.error ? `: ${cluster.error}` : ''}`
    );
    el.title = [
      `${cluster.name}: ${state}`,
      cluster.scheduler !== 'direct' ? cluster.scheduler : '',
      cluster.description ?? '',
      cluster.error ?? ''
    ]
      .filter(Boolean)
      .join(' · ');
    el.dataset.state = cluster.state;
    return el;
  }
}
