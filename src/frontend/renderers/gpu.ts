/**
 * The GPU card (GPU_MIME): device names, memory used and peak as bars against
 * the total, run time; a job on several nodes shows one group per node. With
 * the `gpuCard` setting off it shows the bridge's text/plain fallback instead.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { GPU_MIME, type IGpuPayload } from '../../shared/mime';
import { appendElement } from './dom';
import { formatGpu, type IGpuDeviceView } from './format';
import { formatGpuNodes, gpuNodes } from './gpuNodes';

export class GpuRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    options: IRenderMime.IRendererOptions | undefined,
    private _showCard: () => boolean
  ) {
    super();
    this._mimeType = options?.mimeType ?? GPU_MIME;
    this.addClass('jp-ClusterBridge-gpu');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const node = this.node;
    node.textContent = '';
    const payload = model.data[this._mimeType] as unknown as IGpuPayload;
    if (!this._showCard() || !payload || typeof payload !== 'object') {
      this.addClass('jp-mod-plain');
      const pre = document.createElement('pre');
      pre.textContent = String(model.data['text/plain'] ?? '');
      node.appendChild(pre);
      return Promise.resolve();
    }
    this.removeClass('jp-mod-plain');
    const nodes = gpuNodes(payload);
    const view = nodes ? formatGpuNodes(payload, nodes) : formatGpu(payload);
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', `${view.title} ${view.details}`);

    const header = appendElement(node, 'div', 'jp-ClusterBridge-gpu-header');
    appendElement(header, 'span', 'jp-ClusterBridge-gpu-title', view.title);
    appendElement(header, 'span', 'jp-ClusterBridge-gpu-details', view.details);

    if ('nodes' in view) {
      // A job on several nodes: one group per node, each with its GPUs.
      for (const group of view.nodes) {
        const box = appendElement(node, 'div', 'jp-ClusterBridge-gpu-node');
        box.setAttribute('role', 'group');
        box.setAttribute('aria-label', `${group.host}: ${group.details}`);
        const head = appendElement(
          box,
          'div',
          'jp-ClusterBridge-gpu-nodeHeader'
        );
        appendElement(head, 'span', 'jp-ClusterBridge-gpu-host', group.host);
        appendElement(
          head,
          'span',
          'jp-ClusterBridge-gpu-details',
          group.details
        );
        group.devices.forEach(device => Private.appendDevice(box, device));
      }
    } else {
      view.devices.forEach(device => Private.appendDevice(node, device));
    }
    return Promise.resolve();
  }

  private _mimeType: string;
}

/** Factory; `showCard` reads the `gpuCard` setting at render time. */
export function createGpuRendererFactory(
  showCard: () => boolean
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [GPU_MIME],
    defaultRank: 40,
    createRenderer: options => new GpuRenderer(options, showCard)
  };
}

namespace Private {
  /** One device's row: name, used and peak memory as bars against the total. */
  export function appendDevice(
    parent: HTMLElement,
    device: IGpuDeviceView
  ): void {
    const row = appendElement(parent, 'div', 'jp-ClusterBridge-gpu-device');
    appendElement(row, 'span', 'jp-ClusterBridge-gpu-name', device.label);
    const bar = appendElement(row, 'div', 'jp-ClusterBridge-gpu-bar');
    bar.setAttribute('role', 'meter');
    bar.setAttribute('aria-valuemin', '0');
    bar.setAttribute('aria-valuemax', '100');
    bar.setAttribute(
      'aria-valuenow',
      String(Math.round((device.used ?? 0) * 100))
    );
    bar.setAttribute('aria-label', `${device.label}: ${device.memory}`);
    if (device.peak !== null) {
      const peak = appendElement(bar, 'div', 'jp-ClusterBridge-gpu-peak');
      peak.style.width = `${(device.peak * 100).toFixed(1)}%`;
    }
    if (device.used !== null) {
      const used = appendElement(bar, 'div', 'jp-ClusterBridge-gpu-used');
      used.style.width = `${(device.used * 100).toFixed(1)}%`;
    }
    appendElement(row, 'span', 'jp-ClusterBridge-gpu-memory', device.memory);
  }
}
