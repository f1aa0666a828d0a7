/**
 * A list of a rank's or an array element's outputs (ISubOutput), rendered by
 * the notebook's own rendermime exactly as JupyterLab renders cell outputs:
 * streams with the stderr style, errors as ANSI tracebacks, rich displays.
 */
import {
  OutputModel,
  type IOutputModel,
  type IRenderMimeRegistry
} from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import type { ISubOutput } from '../../shared/mime';
import { appendElement } from './dom';

/** One output to show, with an optional `[rank N]` tag label before it. */
export interface ISubOutputItem {
  output: ISubOutput;
  tag?: string;
}

/** The nbformat output a sub-output stands for. */
export function toNbOutput(output: ISubOutput): IOutputModel.IOptions['value'] {
  switch (output.type) {
    case 'stream':
      return { output_type: 'stream', name: output.name, text: output.text };
    case 'error':
      return {
        output_type: 'error',
        ename: output.ename,
        evalue: output.evalue,
        traceback: output.traceback
      };
    default:
      return {
        output_type: 'display_data',
        data: output.data as IOutputModel.IOptions['value']['data'],
        metadata: {}
      };
  }
}

/**
 * The notebook's registry with this output's sanitizer, resolver and link
 * handler, so sub-outputs resolve links as the cell's own outputs do.
 */
export function registryFor(
  rendermime: IRenderMimeRegistry,
  options: IRenderMime.IRendererOptions
): IRenderMimeRegistry {
  return rendermime.clone({
    sanitizer: options.sanitizer,
    resolver: options.resolver ?? undefined,
    linkHandler: options.linkHandler ?? undefined,
    latexTypesetter: options.latexTypesetter ?? undefined
  });
}

/** "… 120 earlier outputs were dropped …" for a payload cut at the front; '' for none. */
export function droppedText(dropped: number | undefined): string {
  const n = dropped ?? 0;
  return n > 0
    ? `… ${n} earlier output${n === 1 ? ' was' : 's were'} dropped to keep the cell small`
    : '';
}

/** Whether `value` has the shape of an ISubOutput (payloads come from the remote). */
export function isSubOutput(value: unknown): value is ISubOutput {
  const o = value as ISubOutput | null;
  if (!o || typeof o !== 'object') {
    return false;
  }
  switch (o.type) {
    case 'stream':
      return (
        (o.name === 'stdout' || o.name === 'stderr') &&
        typeof o.text === 'string'
      );
    case 'error':
      return Array.isArray(o.traceback);
    case 'display':
      return !!o.data && typeof o.data === 'object';
    default:
      return false;
  }
}

export class SubOutputList {
  constructor(
    private _rendermime: IRenderMimeRegistry,
    className: string
  ) {
    this.node = document.createElement('div');
    this.node.className = `jp-ClusterBridge-subOutputs ${className}`;
  }

  readonly node: HTMLElement;

  /**
   * Shows `items`; unchanged items are not rendered again, so a payload
   * updated in place does not flicker or lose the reader's selection.
   */
  show(items: ISubOutputItem[], trusted: boolean): Promise<void> {
    const key = JSON.stringify([trusted, items]);
    if (key === this._key) {
      return Promise.resolve();
    }
    this._removeAll();
    this._key = key;
    const rendering: Promise<void>[] = [];
    for (const item of items) {
      const wrapper = appendElement(
        this.node,
        'div',
        'jp-ClusterBridge-subOutput'
      );
      wrapper.dataset.type = item.output.type;
      if (item.tag) {
        appendElement(
          wrapper,
          'span',
          'jp-ClusterBridge-subOutput-tag',
          item.tag
        );
      }
      rendering.push(this._render(wrapper, item.output, trusted));
    }
    return Promise.all(rendering).then(() => undefined);
  }

  /** Removes and disposes every rendered output. */
  clear(): void {
    this._removeAll();
    this._key = '';
  }

  private _removeAll(): void {
    for (const renderer of this._renderers) {
      renderer.dispose();
    }
    this._renderers = [];
    this.node.replaceChildren();
  }

  private _render(
    wrapper: HTMLElement,
    output: ISubOutput,
    trusted: boolean
  ): Promise<void> {
    const model = new OutputModel({ value: toNbOutput(output), trusted });
    const mimeType = this._rendermime.preferredMimeType(
      model.data,
      trusted ? 'any' : 'ensure'
    );
    if (!mimeType) {
      appendElement(
        wrapper,
        'pre',
        'jp-ClusterBridge-subOutput-plain',
        String(model.data['text/plain'] ?? '(an output this page cannot show)')
      );
      return Promise.resolve();
    }
    const renderer: IRenderMime.IRenderer =
      this._rendermime.createRenderer(mimeType);
    this._renderers.push(renderer);
    wrapper.appendChild(renderer.node);
    return renderer.renderModel(model).catch(err => {
      renderer.node.textContent = `Could not render ${mimeType}: ${
        (err as Error)?.message ?? err
      }`;
    });
  }

  private _key = '';
  private _renderers: IRenderMime.IRenderer[] = [];
}
