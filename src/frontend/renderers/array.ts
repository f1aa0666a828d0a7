/**
 * An array job's summary (ARRAY_MIME): one table row per element (index,
 * value, state, time, last expression, error), a row expands to that
 * element's outputs, failed rows are marked and carry a Re-run button that
 * puts the element's `%cluster rerun` line in a new cell below and runs it.
 * The bridge updates the payload in place; open rows stay open.
 */
import { DOMUtils } from '@jupyterlab/apputils';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { ARRAY_MIME, type IArrayPayload } from '../../shared/mime';
import { appendElement } from './dom';
import {
  arrayRows,
  arraySummary,
  readArrayPayload,
  type IArrayRowView
} from './arrayFormat';
import { droppedText, registryFor, SubOutputList } from './subOutputs';

/**
 * Re-runs an element: given its command and the output's node, says what was
 * done ("Inserted … below and started it").
 */
export type ArrayRerun = (
  command: string,
  origin: HTMLElement
) => Promise<string>;

export class ArrayRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    options: IRenderMime.IRendererOptions | undefined,
    private _rendermime: IRenderMimeRegistry,
    private _rerun: ArrayRerun
  ) {
    super();
    this._mimeType = options?.mimeType ?? ARRAY_MIME;
    this._id = `jp-ClusterBridge-Array-${DOMUtils.createDomID()}`;
    this.addClass('jp-ClusterBridge-Array');
    this._table = appendElement(
      this.node,
      'table',
      'jp-ClusterBridge-Array-table'
    ) as HTMLTableElement;
    this._caption = appendElement(
      this._table,
      'caption',
      'jp-ClusterBridge-Array-summary'
    );
    this._head = appendElement(this._table, 'thead', '');
    this._body = appendElement(this._table, 'tbody', '');
    this._note = appendElement(this.node, 'div', 'jp-ClusterBridge-Array-note');
    this._note.setAttribute('role', 'status');
  }

  /** Indices of the elements whose outputs are shown. */
  get expanded(): ReadonlySet<number> {
    return this._expanded;
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._payload = readArrayPayload(model.data[this._mimeType]);
    this._fallback = String(model.data['text/plain'] ?? '');
    this._trusted = model.trusted;
    return this._paint();
  }

  dispose(): void {
    if (!this.isDisposed) {
      this._outputs.forEach(list => list.clear());
      this._outputs.clear();
    }
    super.dispose();
  }

  /** Shows or hides element `index`'s outputs. */
  toggle(index: number, expanded = !this._expanded.has(index)): Promise<void> {
    if (expanded) {
      this._expanded.add(index);
    } else {
      this._expanded.delete(index);
    }
    return this._paint();
  }

  private _paint(): Promise<void> {
    const p = this._payload;
    if (!p) {
      this.addClass('jp-mod-plain');
      this._caption.textContent = this._fallback || 'Array job: no data';
      this._head.replaceChildren();
      this._body.replaceChildren();
      return Promise.resolve();
    }
    this.removeClass('jp-mod-plain');
    this._caption.textContent = arraySummary(p);
    this._paintHead(p);
    const focused = (document.activeElement as HTMLElement | null)?.dataset
      ?.focusKey;
    const rows = arrayRows(p);
    const rendering: Promise<void>[] = [];
    const trs: HTMLElement[] = [];
    for (const row of rows) {
      trs.push(this._cachedRow(row));
      if (this._expanded.has(row.index)) {
        const detail = this._detail(p, row);
        trs.push(detail.tr);
        rendering.push(detail.rendering);
      }
    }
    // Outputs and rows of elements that closed or went away are let go.
    const present = new Set(rows.map(r => r.index));
    for (const [index, list] of this._outputs) {
      if (!this._expanded.has(index) || !present.has(index)) {
        list.clear();
        this._outputs.delete(index);
      }
    }
    for (const index of this._rows.keys()) {
      if (!present.has(index)) {
        this._rows.delete(index);
      }
    }
    this._body.replaceChildren(...trs);
    if (focused) {
      this._body
        .querySelector<HTMLElement>(`[data-focus-key="${focused}"]`)
        ?.focus();
    }
    return Promise.all(rendering).then(() => undefined);
  }

  private _paintHead(p: IArrayPayload): void {
    const names = ['', 'index', p.name, 'state', 'time', 'last', 'error', ''];
    if (this._head.dataset.name === p.name) {
      return;
    }
    this._head.dataset.name = p.name;
    const tr = document.createElement('tr');
    for (const name of names) {
      const th = appendElement(tr, 'th', '', name);
      th.setAttribute('scope', 'col');
    }
    tr.children[0].setAttribute('aria-label', 'outputs');
    tr.children[7].setAttribute('aria-label', 'actions');
    this._head.replaceChildren(tr);
  }

  /**
   * The row's element, reused while its view and open state are unchanged:
   * a large sweep updated in place rebuilds only the rows that moved.
   */
  private _cachedRow(row: IArrayRowView): HTMLElement {
    const key = JSON.stringify([row, this._expanded.has(row.index)]);
    const cached = this._rows.get(row.index);
    if (cached?.key === key) {
      return cached.tr;
    }
    const tr = this._row(row);
    this._rows.set(row.index, { key, tr });
    return tr;
  }

  private _row(row: IArrayRowView): HTMLElement {
    const open = this._expanded.has(row.index);
    const tr = document.createElement('tr');
    tr.className = 'jp-ClusterBridge-Array-row';
    tr.dataset.index = String(row.index);
    tr.dataset.state = row.state;
    tr.classList.toggle('jp-mod-failed', row.failed);
    tr.classList.toggle('jp-mod-expanded', open);
    tr.addEventListener('click', event => {
      if (!(event.target as HTMLElement).closest('button')) {
        void this.toggle(row.index);
      }
    });

    const expand = appendElement(
      appendElement(tr, 'td', 'jp-ClusterBridge-Array-expandCell'),
      'button',
      'jp-ClusterBridge-Array-expand',
      open ? '▾' : '▸'
    ) as HTMLButtonElement;
    expand.type = 'button';
    expand.dataset.focusKey = `expand-${row.index}`;
    expand.setAttribute('aria-expanded', String(open));
    expand.setAttribute('aria-controls', this._detailId(row.index));
    expand.setAttribute(
      'aria-label',
      `${open ? 'Hide' : 'Show'} the outputs of element ${row.index}`
    );
    expand.addEventListener('click', () => void this.toggle(row.index));

    appendElement(tr, 'td', 'jp-ClusterBridge-Array-index', String(row.index));
    appendElement(tr, 'td', 'jp-ClusterBridge-Array-value', row.value);
    const state = appendElement(
      tr,
      'td',
      `jp-ClusterBridge-Array-state jp-mod-${row.state}`,
      row.stateText
    );
    state.dataset.state = row.state;
    appendElement(tr, 'td', 'jp-ClusterBridge-Array-time', row.time);
    const last = appendElement(
      tr,
      'td',
      'jp-ClusterBridge-Array-last',
      row.last
    );
    last.title = row.last;
    const error = appendElement(
      tr,
      'td',
      'jp-ClusterBridge-Array-error',
      row.error
    );
    error.title = row.error;
    const actions = appendElement(tr, 'td', 'jp-ClusterBridge-Array-actions');
    if (row.rerun) {
      const rerun = appendElement(
        actions,
        'button',
        'jp-Button jp-mod-styled jp-mod-minimal jp-ClusterBridge-Array-rerun',
        'Re-run'
      ) as HTMLButtonElement;
      rerun.type = 'button';
      rerun.dataset.focusKey = `rerun-${row.index}`;
      rerun.title = `Insert a cell below with \`${row.rerun}\` and run it`;
      rerun.setAttribute('aria-label', `Re-run element ${row.index}`);
      rerun.addEventListener('click', () => void this._onRerun(row.rerun));
    }
    return tr;
  }

  private _detail(
    p: IArrayPayload,
    row: IArrayRowView
  ): { tr: HTMLElement; rendering: Promise<void> } {
    const element = p.elements.find(e => e.index === row.index)!;
    const tr = document.createElement('tr');
    tr.className = 'jp-ClusterBridge-Array-detail';
    tr.dataset.index = String(row.index);
    const td = appendElement(tr, 'td', '') as HTMLTableCellElement;
    td.id = this._detailId(row.index);
    td.colSpan = 8;
    if (row.rerun) {
      const line = appendElement(td, 'div', 'jp-ClusterBridge-Array-command');
      appendElement(line, 'span', '', 'Re-run this element alone: ');
      appendElement(line, 'code', '', row.rerun);
    }
    const dropped = droppedText(element.dropped);
    if (dropped) {
      appendElement(td, 'div', 'jp-ClusterBridge-Array-dropped', dropped);
    }
    if (!element.outputs.length) {
      appendElement(td, 'div', 'jp-ClusterBridge-Array-empty', 'No output.');
    }
    let list = this._outputs.get(row.index);
    if (!list) {
      list = new SubOutputList(
        this._rendermime,
        'jp-ClusterBridge-Array-outputs'
      );
      this._outputs.set(row.index, list);
    }
    td.appendChild(list.node);
    return {
      tr,
      rendering: list.show(
        element.outputs.map(output => ({ output })),
        this._trusted
      )
    };
  }

  private async _onRerun(command: string): Promise<void> {
    try {
      this._note.textContent = await this._rerun(command, this.node);
    } catch (err) {
      this._note.textContent = `Could not re-run: ${(err as Error)?.message ?? err}`;
    }
  }

  private _detailId(index: number): string {
    return `${this._id}-detail-${index}`;
  }

  private _mimeType: string;
  private _id: string;
  private _payload: IArrayPayload | null = null;
  private _fallback = '';
  private _trusted = false;
  private _expanded = new Set<number>();
  private _outputs = new Map<number, SubOutputList>();
  private _rows = new Map<number, { key: string; tr: HTMLElement }>();
  private _table: HTMLTableElement;
  private _caption: HTMLElement;
  private _head: HTMLElement;
  private _body: HTMLElement;
  private _note: HTMLElement;
}

/** Factory; `rerun` is the app's (see arrayRerun.ts). */
export function createArrayRendererFactory(
  rendermime: IRenderMimeRegistry,
  rerun: ArrayRerun
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [ARRAY_MIME],
    defaultRank: 40,
    createRenderer: options =>
      new ArrayRenderer(options, registryFor(rendermime, options), rerun)
  };
}
