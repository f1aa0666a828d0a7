/**
 * The other ranks of a distributed cell (RANKS_MIME): collapsed to one line
 * by default; expanded, one tab per rank (its node, its state, the failed one
 * marked) and an "All ranks" tab whose every line is tagged `[rank N]`. The
 * bridge updates the payload in place; what the reader opened stays open.
 */
import { DOMUtils } from '@jupyterlab/apputils';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { RANKS_MIME, type IRanksPayload } from '../../shared/mime';
import { appendElement } from './dom';
import {
  allRanksHeading,
  droppedNote,
  failedRanks,
  RANK_STATE_MARKS,
  RANK_STATE_WORDS,
  rankLabel,
  ranksSummary,
  readRanksPayload,
  taggedOutputs
} from './ranksFormat';
import { registryFor, SubOutputList } from './subOutputs';

/** The tab shown: a rank number, or every rank. */
export type RanksSelection = number | 'all';

export class RanksRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    options: IRenderMime.IRendererOptions | undefined,
    rendermime: IRenderMimeRegistry
  ) {
    super();
    this._mimeType = options?.mimeType ?? RANKS_MIME;
    this.addClass('jp-ClusterBridge-Ranks');
    const id = `jp-ClusterBridge-Ranks-${DOMUtils.createDomID()}`;

    this._toggle = appendElement(
      this.node,
      'button',
      'jp-ClusterBridge-Ranks-toggle'
    ) as HTMLButtonElement;
    this._toggle.type = 'button';
    this._toggle.setAttribute('aria-expanded', 'false');
    this._toggle.setAttribute('aria-controls', `${id}-body`);
    this._toggle.addEventListener('click', () =>
      this.setExpanded(!this._expanded)
    );

    this._body = appendElement(this.node, 'div', 'jp-ClusterBridge-Ranks-body');
    this._body.id = `${id}-body`;
    this._body.hidden = true;
    this._tabs = appendElement(
      this._body,
      'div',
      'jp-ClusterBridge-Ranks-tabs'
    );
    this._tabs.setAttribute('role', 'tablist');
    this._tabs.setAttribute('aria-label', 'Ranks');
    this._tabs.addEventListener('keydown', event => this._onTabKey(event));
    this._panel = appendElement(
      this._body,
      'div',
      'jp-ClusterBridge-Ranks-panel'
    );
    this._panel.id = `${id}-panel`;
    this._panel.setAttribute('role', 'tabpanel');
    this._heading = appendElement(
      this._panel,
      'div',
      'jp-ClusterBridge-Ranks-heading'
    );
    this._outputs = new SubOutputList(
      rendermime,
      'jp-ClusterBridge-Ranks-outputs'
    );
    this._panel.appendChild(this._outputs.node);
  }

  get expanded(): boolean {
    return this._expanded;
  }

  get selection(): RanksSelection {
    return this._selection ?? this._defaultSelection();
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._payload = readRanksPayload(model.data[this._mimeType]);
    this._fallback = String(model.data['text/plain'] ?? '');
    this._trusted = model.trusted;
    return this._paint();
  }

  setExpanded(expanded: boolean): Promise<void> {
    this._expanded = expanded;
    return this._paint();
  }

  select(selection: RanksSelection): Promise<void> {
    this._selection = selection;
    return this._paint();
  }

  dispose(): void {
    if (!this.isDisposed) {
      this._outputs.clear();
    }
    super.dispose();
  }

  private _paint(): Promise<void> {
    const p = this._payload;
    if (!p) {
      this.addClass('jp-mod-plain');
      this._toggle.textContent = this._fallback || 'Other ranks: no data';
      this._toggle.disabled = true;
      this._body.hidden = true;
      return Promise.resolve();
    }
    this.removeClass('jp-mod-plain');
    this._toggle.disabled = false;
    const failed = failedRanks(p);
    this.toggleClass('jp-mod-failed', failed.length > 0);
    this._toggle.textContent = `${this._expanded ? '▾' : '▸'} ${ranksSummary(p)}`;
    this._toggle.setAttribute('aria-expanded', String(this._expanded));
    this._toggle.title = this._expanded
      ? 'Hide the other ranks'
      : 'Show the output of the other ranks';
    this._body.hidden = !this._expanded;
    if (!this._expanded) {
      // Collapsed: nothing below the line is rendered, however much it changes.
      this._outputs.clear();
      return Promise.resolve();
    }
    const selection = this._validSelection(p);
    this._paintTabs(p, selection, failed);
    return this._paintPanel(p, selection);
  }

  private _paintTabs(
    p: IRanksPayload,
    selection: RanksSelection,
    failed: number[]
  ): void {
    const hadFocus = this._tabs.contains(document.activeElement);
    const tabs: HTMLElement[] = [];
    const add = (key: RanksSelection, text: string, title: string) => {
      const tab = document.createElement('button');
      tab.type = 'button';
      tab.className = 'jp-ClusterBridge-Ranks-tab';
      tab.textContent = text;
      tab.title = title;
      tab.dataset.rank = String(key);
      tab.id = `${this._panel.id}-tab-${key}`;
      tab.setAttribute('role', 'tab');
      const selected = key === selection;
      if (selected) {
        this._panel.setAttribute('aria-labelledby', tab.id);
      }
      tab.setAttribute('aria-selected', String(selected));
      tab.setAttribute('aria-controls', this._panel.id);
      tab.tabIndex = selected ? 0 : -1;
      tab.classList.toggle('jp-mod-selected', selected);
      tab.addEventListener('click', () => void this.select(key));
      tabs.push(tab);
      return tab;
    };
    add('all', 'All ranks', 'Every rank, each line tagged [rank N]');
    for (const rank of p.ranks) {
      const word = RANK_STATE_WORDS[rank.state];
      const tab = add(
        rank.rank,
        `${RANK_STATE_MARKS[rank.state]} ${rankLabel(rank)}`,
        `${rankLabel(rank)}, local rank ${rank.localRank}: ${word}`
      );
      tab.dataset.state = rank.state;
      tab.classList.toggle('jp-mod-failed', failed.includes(rank.rank));
    }
    this._tabs.replaceChildren(...tabs);
    if (hadFocus) {
      tabs.find(t => t.tabIndex === 0)?.focus();
    }
  }

  private _paintPanel(
    p: IRanksPayload,
    selection: RanksSelection
  ): Promise<void> {
    this._panel.dataset.rank = String(selection);
    if (selection === 'all') {
      this._heading.textContent = allRanksHeading(p);
      return this._outputs.show(taggedOutputs(p.ranks), this._trusted);
    }
    const rank = p.ranks.find(r => r.rank === selection)!;
    this._heading.textContent = [
      `${rankLabel(rank)} · local rank ${rank.localRank} · ${RANK_STATE_WORDS[rank.state]}`,
      droppedNote(rank),
      rank.outputs.length ? '' : 'no output yet'
    ]
      .filter(Boolean)
      .join(' · ');
    return this._outputs.show(
      rank.outputs.map(output => ({ output })),
      this._trusted
    );
  }

  /** The reader's pick while that rank exists, else the default. */
  private _validSelection(p: IRanksPayload): RanksSelection {
    const picked = this._selection;
    if (picked === 'all' || p.ranks.some(r => r.rank === picked)) {
      return picked as RanksSelection;
    }
    return this._defaultSelection();
  }

  /** The failed rank when another rank failed, else every rank. */
  private _defaultSelection(): RanksSelection {
    const p = this._payload;
    const failed = p
      ? failedRanks(p).find(r => p.ranks.some(x => x.rank === r))
      : undefined;
    return failed ?? 'all';
  }

  /** Arrow keys, Home and End move between tabs (the WAI-ARIA tabs pattern). */
  private _onTabKey(event: KeyboardEvent): void {
    const tabs = Array.from(
      this._tabs.querySelectorAll<HTMLElement>('[role="tab"]')
    );
    const at = tabs.indexOf(event.target as HTMLElement);
    if (at < 0) {
      return;
    }
    const next: { [key: string]: number } = {
      ArrowRight: (at + 1) % tabs.length,
      ArrowLeft: (at - 1 + tabs.length) % tabs.length,
      Home: 0,
      End: tabs.length - 1
    };
    if (!(event.key in next)) {
      return;
    }
    event.preventDefault();
    const key = tabs[next[event.key]].dataset.rank!;
    void this.select(key === 'all' ? 'all' : Number(key));
    this._tabs.querySelector<HTMLElement>('[tabindex="0"]')?.focus();
  }

  private _mimeType: string;
  private _payload: IRanksPayload | null = null;
  private _fallback = '';
  private _trusted = false;
  private _expanded = false;
  private _selection: RanksSelection | null = null;
  private _toggle: HTMLButtonElement;
  private _body: HTMLElement;
  private _tabs: HTMLElement;
  private _panel: HTMLElement;
  private _heading: HTMLElement;
  private _outputs: SubOutputList;
}

/** Factory; sub-outputs render through a clone of the notebook's registry. */
export function createRanksRendererFactory(
  rendermime: IRenderMimeRegistry
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [RANKS_MIME],
    defaultRank: 40,
    createRenderer: options =>
      new RanksRenderer(options, registryFor(rendermime, options))
  };
}
