/**
 * Tells the bridge when a notebook's own kernel goes away on purpose, so its
 * remote sessions end with its local namespace: the notebook's server session
 * was shut down (close and shut down, Shut Down Kernel, the Running panel,
 * another tab), the notebook switched to another kernel, or the user
 * restarted the kernel. A crash (autorestart) or closing the tab while the
 * kernel keeps running ends nothing.
 */
import type { ISessionContext } from '@jupyterlab/apputils';
import type { Session } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import type { ISignal } from '@lumino/signaling';
import { Signal } from '@lumino/signaling';
import type { IClusterBridge } from '../tokens';

export class NotebookEndWatcher implements IDisposable {
  constructor(options: NotebookEndWatcher.IOptions) {
    this._bridge = options.bridge;
    this._sessions = options.sessions;
    this._known = Private.notebooksOf(this._sessions.running());
    this._sessions.runningChanged.connect(this._onRunningChanged, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Follow a notebook's session context for deliberate restarts. */
  watchNotebook(context: ISessionContext): void {
    let last = '';
    const onStatus = (_: ISessionContext, status: string) => {
      // 'autorestarting' is a crash: the user did not ask to lose the state.
      // A restart says 'restarting' twice (the context, then its kernel).
      if (status === 'restarting' && last !== 'restarting') {
        this._report(context.path);
      }
      last = status;
    };
    context.statusChanged.connect(onStatus, this);
    context.disposed.connect(() => {
      context.statusChanged.disconnect(onStatus, this);
    }, this);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._sessions.runningChanged.disconnect(this._onRunningChanged, this);
    Signal.clearData(this);
  }

  private _onRunningChanged(
    _: unknown,
    models: ReadonlyArray<Session.IModel>
  ): void {
    const now = Private.notebooksOf(models);
    for (const [id, before] of this._known) {
      const after = now.get(id);
      // Gone, or another kernel behind the same session: the namespace is.
      if (!after || after.kernelId !== before.kernelId) {
        this._report(before.path);
      }
    }
    this._known = now;
  }

  private _report(path: string): void {
    if (!path) {
      return;
    }
    this._bridge
      .notebookClosed(this._bridge.notebookKey(path))
      .catch(err =>
        console.warn(
          `cluster-bridge: could not stop the sessions of ${path}`,
          err
        )
      );
  }

  private _bridge: Pick<IClusterBridge, 'notebookClosed' | 'notebookKey'>;
  private _sessions: NotebookEndWatcher.ISessions;
  private _known: Map<string, Private.INotebookSession>;
  private _isDisposed = false;
}

export namespace NotebookEndWatcher {
  /** The part of Session.IManager the watcher reads. */
  export interface ISessions {
    running(): IterableIterator<Session.IModel>;
    readonly runningChanged: ISignal<unknown, Session.IModel[]>;
  }

  export interface IOptions {
    bridge: Pick<IClusterBridge, 'notebookClosed' | 'notebookKey'>;
    sessions: ISessions;
  }
}

namespace Private {
  export interface INotebookSession {
    path: string;
    kernelId: string | undefined;
  }

  /** Notebook sessions by id (the bridge's own session is no notebook). */
  export function notebooksOf(
    models: Iterable<Session.IModel>
  ): Map<string, INotebookSession> {
    const map = new Map<string, INotebookSession>();
    for (const model of models) {
      if (model.type === 'notebook') {
        map.set(model.id, { path: model.path, kernelId: model.kernel?.id });
      }
    }
    return map;
  }
}
