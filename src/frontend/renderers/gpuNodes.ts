/**
 * The GPU card of a job on several nodes: the payload's `nodes` (one entry per
 * node with its own devices) as one group per node. Pure functions, so they
 * are unit-tested; the device rows are formatGpu's.
 */
import type { IGpuNode } from '../../shared/events';
import type { IGpuPayload } from '../../shared/mime';
import { formatGpu, type IGpuDeviceView } from './format';

export interface IGpuNodeView {
  host: string;
  /** "ranks 0, 1 · CUDA_VISIBLE_DEVICES=0,1", or "ranks 2, 3 · no GPU visible". */
  details: string;
  devices: IGpuDeviceView[];
}

export interface IGpuNodesView {
  /** "GPUs (8) on 2 nodes". */
  title: string;
  /** The job-wide part: "ran 0:03 · via nvidia-smi". */
  details: string;
  nodes: IGpuNodeView[];
}

/** The payload's nodes (checked: it comes from the remote), or null for a one-node card. */
export function gpuNodes(p: IGpuPayload): IGpuNode[] | null {
  const nodes: unknown = p.nodes;
  if (!Array.isArray(nodes) || !nodes.length) {
    return null;
  }
  return nodes
    .filter(n => n && typeof n === 'object')
    .map((n: Partial<IGpuNode>) => ({
      host: String(n.host ?? '?'),
      ranks: Array.isArray(n.ranks)
        ? n.ranks.filter(r => Number.isInteger(r))
        : [],
      cudaVisibleDevices:
        typeof n.cudaVisibleDevices === 'string'
          ? n.cudaVisibleDevices
          : undefined,
      devices: Array.isArray(n.devices)
        ? n.devices.filter(d => d && typeof d === 'object')
        : []
    }));
}

export function formatGpuNodes(
  p: IGpuPayload,
  nodes: IGpuNode[]
): IGpuNodesView {
  const count = nodes.reduce((n, node) => n + node.devices.length, 0);
  const where = `on ${nodes.length} node${nodes.length === 1 ? '' : 's'}`;
  return {
    title: count
      ? `GPU${count > 1 ? `s (${count})` : ''} ${where}`
      : `No GPU visible to the job ${where}`,
    details: formatGpu({ ...p, host: undefined, cudaVisibleDevices: undefined })
      .details,
    nodes: nodes.map(node => {
      const view = formatGpu({
        devices: node.devices,
        cudaVisibleDevices: node.cudaVisibleDevices,
        source: ''
      });
      const ranks = node.ranks?.length
        ? `rank${node.ranks.length > 1 ? 's' : ''} ${node.ranks.join(', ')}`
        : '';
      // CUDA_VISIBLE_DEVICES set where no device could be read is still said.
      const gpus =
        view.details || (node.devices.length ? '' : 'no GPU visible');
      return {
        host: node.host,
        details: [ranks, gpus].filter(Boolean).join(' · '),
        devices: view.devices
      };
    })
  };
}
