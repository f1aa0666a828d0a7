import { MimeModel } from '@jupyterlab/rendermime';
import { GPU_MIME, type IGpuPayload } from '../../shared/mime';
import { createGpuRendererFactory } from './gpu';
import { formatGpuNodes, gpuNodes } from './gpuNodes';

const GiB = 1024 ** 3;

/** `--nodes 2 --gpus-per-node 2`: two GPUs on g17, two on g18. */
function twoNodes(): IGpuPayload {
  const device = (index: number, used: number) => ({
    index,
    name: 'NVIDIA H100 80GB HBM3',
    memoryTotal: 80 * GiB,
    memoryUsed: used * GiB,
    memoryPeak: 40 * GiB
  });
  return {
    host: 'g17',
    cudaVisibleDevices: '0,1',
    devices: [device(0, 20), device(1, 10)],
    source: 'nvidia-smi',
    duration: 65,
    nodes: [
      {
        host: 'g17',
        ranks: [0, 1],
        cudaVisibleDevices: '0,1',
        devices: [device(0, 20), device(1, 10)]
      },
      {
        host: 'g18',
        ranks: [2, 3],
        cudaVisibleDevices: '0,1',
        devices: [device(0, 30), device(1, 40)]
      }
    ]
  } as IGpuPayload;
}

describe('gpuNodes / formatGpuNodes', () => {
  it('is null for a one-node payload, so the card stays as it was', () => {
    const { nodes, ...one } = twoNodes() as any;
    expect(nodes).toHaveLength(2);
    expect(gpuNodes(one)).toBeNull();
    expect(gpuNodes({ ...one, nodes: [] })).toBeNull();
  });

  it('groups every GPU by its node', () => {
    const p = twoNodes();
    const view = formatGpuNodes(p, gpuNodes(p)!);
    expect(view.title).toBe('GPUs (4) on 2 nodes');
    expect(view.details).toBe('ran 1:05 · via nvidia-smi');
    expect(view.nodes.map(n => [n.host, n.details, n.devices.length])).toEqual([
      ['g17', 'ranks 0, 1 · CUDA_VISIBLE_DEVICES=0,1', 2],
      ['g18', 'ranks 2, 3 · CUDA_VISIBLE_DEVICES=0,1', 2]
    ]);
    expect(view.nodes[1].devices[1]).toMatchObject({
      label: '1: NVIDIA H100 80GB HBM3',
      memory: '40.0 GiB used · peak 40.0 GiB of 80.0 GiB',
      used: 0.5
    });
  });

  it('says which node sees no GPU, and keeps only well-formed entries', () => {
    const p = {
      devices: [],
      source: 'env',
      nodes: [
        { host: 'c1', ranks: [0], devices: [] },
        { host: 'c2', ranks: [1], cudaVisibleDevices: '0', devices: [] },
        null,
        { devices: 'x', ranks: 'all' }
      ]
    } as unknown as IGpuPayload;
    const view = formatGpuNodes(p, gpuNodes(p)!);
    expect(view.title).toBe('No GPU visible to the job on 3 nodes');
    expect(view.nodes).toEqual([
      { host: 'c1', details: 'rank 0 · no GPU visible', devices: [] },
      { host: 'c2', details: 'rank 1 · CUDA_VISIBLE_DEVICES=0', devices: [] },
      { host: '?', details: 'no GPU visible', devices: [] }
    ]);
  });
});

describe('GpuRenderer with several nodes', () => {
  it('draws one group per node, each with its GPUs', async () => {
    const renderer = createGpuRendererFactory(() => true).createRenderer({
      mimeType: GPU_MIME,
      sanitizer: {} as any,
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    });
    await renderer.renderModel(
      new MimeModel({
        data: { [GPU_MIME]: twoNodes() as any, 'text/plain': 'GPUs' }
      })
    );
    const node = renderer.node;
    expect(node.querySelector('.jp-ClusterBridge-gpu-title')!.textContent).toBe(
      'GPUs (4) on 2 nodes'
    );
    const groups = Array.from(
      node.querySelectorAll('.jp-ClusterBridge-gpu-node')
    );
    expect(groups.map(g => g.getAttribute('aria-label'))).toEqual([
      'g17: ranks 0, 1 · CUDA_VISIBLE_DEVICES=0,1',
      'g18: ranks 2, 3 · CUDA_VISIBLE_DEVICES=0,1'
    ]);
    expect(
      groups.map(g => g.querySelectorAll('.jp-ClusterBridge-gpu-device').length)
    ).toEqual([2, 2]);
    // Every device of the job, none twice (the top-level devices are node 1's).
    expect(node.querySelectorAll('.jp-ClusterBridge-gpu-device')).toHaveLength(
      4
    );
    const used = groups[1].querySelectorAll<HTMLElement>(
      '.jp-ClusterBridge-gpu-used'
    );
    expect(used[1].style.width).toBe('50.0%');
    renderer.dispose();
  });
});
