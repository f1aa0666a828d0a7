import { NotebookModel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { IClusterInfo } from '../../shared/config';
import type { IClusterBridge } from '../tokens';
import { ClusterPicker } from './picker';

/** The picker's view of the bridge: clusters and their signals, first-use start. */
class FakeBridge {
  clusters: IClusterInfo[] = [];
  defaultCluster: string | undefined = 'local';
  isConnected = false;
  settings = { clusters: {}, gpuCard: true };
  clustersChanged = new Signal<any, any>(this);
  settingsChanged = new Signal<any, any>(this);
  connectionChanged = new Signal<any, any>(this);
  ensureStarted = jest.fn(async () => {
    this.isConnected = true;
    this.clusters = [
      {
        name: 'local',
        source: 'builtin',
        type: 'local',
        scheduler: 'direct',
        state: 'connected'
      },
      {
        name: 'local2',
        source: 'settings',
        type: 'local',
        scheduler: 'direct',
        state: 'disconnected'
      },
      {
        name: 'hpc',
        source: 'file',
        type: 'ssh',
        scheduler: 'slurm',
        state: 'error',
        error: 'auth failed'
      }
    ];
    this.clustersChanged.emit(this.clusters);
    return {} as any;
  });
}

describe('ClusterPicker', () => {
  let bridge: FakeBridge;
  let model: NotebookModel;
  let picker: ClusterPicker;

  beforeEach(() => {
    bridge = new FakeBridge();
    model = new NotebookModel();
    picker = new ClusterPicker({
      bridge: bridge as unknown as IClusterBridge,
      model
    });
    Widget.attach(picker, document.body);
  });

  afterEach(() => picker.dispose());

  const options = () =>
    [...picker.select.options].map(o => [
      o.value,
      o.textContent,
      o.getAttribute('aria-label')
    ]);

  it('is a labelled native select with the toolbar class', () => {
    expect(picker.hasClass('jp-ClusterBridge-picker')).toBe(true);
    const label = picker.node.querySelector('label')!;
    expect(label.htmlFor).toBe(picker.select.id);
    expect(picker.select.getAttribute('aria-label')).toContain(
      'Cluster for %%cluster cells'
    );
    expect(options()).toEqual([
      ['', 'default (local)', 'Default cluster, local']
    ]);
  });

  it('starts the bridge on first use and lists clusters with state marks', async () => {
    picker.select.dispatchEvent(new Event('focus'));
    await Promise.resolve();
    expect(bridge.ensureStarted).toHaveBeenCalledTimes(1);
    await new Promise(r => setTimeout(r, 0));
    expect(options()).toEqual([
      ['', 'default (local)', 'Default cluster, local'],
      ['local', '● local', 'local, connected'],
      ['local2', '○ local2', 'local2, not connected'],
      ['hpc', '⊘ hpc', 'hpc, connection error: auth failed']
    ]);
  });

  it('stores the choice in the notebook metadata and clears it for default', async () => {
    await bridge.ensureStarted();
    picker.select.value = 'local2';
    picker.select.dispatchEvent(new Event('change'));
    expect(model.getMetadata('cluster_bridge')).toEqual({ cluster: 'local2' });
    expect(picker.select.getAttribute('aria-label')).toBe(
      'Cluster for %%cluster cells: local2, not connected'
    );
    picker.select.value = '';
    picker.select.dispatchEvent(new Event('change'));
    expect(model.getMetadata('cluster_bridge')).toBeUndefined();
  });

  it('shows a choice stored in the notebook before the bridge is connected', () => {
    model.setMetadata('cluster_bridge', { cluster: 'gpu-a100' });
    expect(picker.select.value).toBe('gpu-a100');
    expect(options()[1]).toEqual([
      'gpu-a100',
      '○ gpu-a100',
      'gpu-a100, not connected'
    ]);
  });
});
