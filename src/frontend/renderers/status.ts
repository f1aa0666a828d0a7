/**
 * The live status line of a remote cell (STATUS_MIME). The bridge updates it
 * in place (update_display_data); while the job is not terminal the elapsed
 * time ticks here, then it settles into one compact line.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { STATUS_MIME, type IStatusPayload } from '../../shared/mime';
import { statusLine } from '../../shared/jobWording';
import { formatStatus } from './format';

export class StatusRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options?: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options?.mimeType ?? STATUS_MIME;
    this.addClass('jp-ClusterBridge-status');
    this.node.setAttribute('role', 'status');
    this._mark = Private.span(this.node, 'jp-ClusterBridge-status-mark');
    this._mark.setAttribute('aria-hidden', 'true');
    this._text = Private.span(this.node, 'jp-ClusterBridge-status-text');
    this._elapsed = Private.span(this.node, 'jp-ClusterBridge-status-elapsed');
    this._ids = Private.span(this.node, 'jp-ClusterBridge-status-ids');
  }

  /** The payload now shown. */
  get payload(): IStatusPayload | null {
    return this._payload;
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this._mimeType] as unknown as IStatusPayload;
    this._payload = data && typeof data === 'object' ? data : null;
    this._paint();
    return Promise.resolve();
  }

  dispose(): void {
    this._stopTicking();
    super.dispose();
  }

  protected onAfterDetach(): void {
    this._stopTicking();
  }

  protected onAfterAttach(): void {
    this._paint();
  }

  private _paint(): void {
    const p = this._payload;
    if (!p) {
      this._text.textContent = 'Cluster Bridge: no status';
      this._stopTicking();
      return;
    }
    const now = Date.now();
    const view = formatStatus(p, now);
    this.node.dataset.phase = String(p.phase);
    this.node.dataset.tone = view.tone;
    this.toggleClass('jp-mod-terminal', view.terminal);
    for (const tone of Private.TONES) {
      this.toggleClass(`jp-ClusterBridge-status-${tone}`, tone === view.tone);
    }
    this._mark.textContent = Private.MARKS[view.tone];
    this._text.textContent = view.text;
    this._elapsed.textContent = view.elapsed;
    this._ids.textContent = view.ids;
    this.node.title = statusLine(p, now);
    // Polite live region only while it moves; a finished line is just text.
    this.node.setAttribute('aria-live', view.terminal ? 'off' : 'polite');
    if (view.terminal || !this.isAttached) {
      this._stopTicking();
    } else if (this._timer === null) {
      this._timer = setInterval(() => {
        if (this._payload) {
          this._elapsed.textContent = formatStatus(
            this._payload,
            Date.now()
          ).elapsed;
        }
      }, 1000);
    }
  }

  private _stopTicking(): void {
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _mimeType: string;
  private _payload: IStatusPayload | null = null;
  private _timer: ReturnType<typeof setInterval> | null = null;
  private _mark: HTMLElement;
  private _text: HTMLElement;
  private _elapsed: HTMLElement;
  private _ids: HTMLElement;
}

export const statusRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [STATUS_MIME],
  defaultRank: 40,
  createRenderer: options => new StatusRenderer(options)
};

namespace Private {
  export const TONES = [
    'waiting',
    'active',
    'ok',
    'error',
    'cancelled'
  ] as const;

  export const MARKS: { [tone: string]: string } = {
    waiting: '…',
    active: '▶',
    ok: '✓',
    error: '✗',
    cancelled: '■'
  };

  export function span(parent: HTMLElement, className: string): HTMLElement {
    const el = document.createElement('span');
    el.className = className;
    parent.appendChild(el);
    return el;
  }
}
