import { NotebookModel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { IClusterInfo } from '../../shared/config';
import type { ISessionInfo } from '../../shared/sessions';
import type { IClusterBridge } from '../tokens';
import { ClusterPicker } from './picker';

/** The picker's view of the bridge: clusters and their signals, first-use start. */
class FakeBridge {
  clusters: IClusterInfo[] = [];
  sessions: ISessionInfo[] = [];
  defaultCluster: string | undefined = 'local';
  isConnected = false;
  settings = { clusters: {}, gpuCard: true };
  clustersChanged = new Signal<any, any>(this);
  settingsChanged = new Signal<any, any>(this);
  connectionChanged = new Signal<any, any>(this);
  sessionsChanged = new Signal<any, any>(this);
  notebookKey = (path: string) => (path ? `/srv/${path}` : '');
  setSessions(sessions: ISessionInfo[]) {
    this.sessions = sessions;
    this.sessionsChanged.emit(sessions);
  }
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

  describe('live session mark', () => {
    const mark = () =>
      picker.node.querySelector<HTMLElement>(
        '.jp-ClusterBridge-picker-session'
      )!;
    const session = (over: Partial<ISessionInfo>): ISessionInfo => ({
      id: 's',
      cluster: 'local',
      notebook: '/srv/work/a.ipynb',
      resources: '--cpus 2',
      state: 'idle',
      scheduler: 'direct',
      startedAt: Date.now(),
      ...over
    });

    beforeEach(() => {
      picker.path = 'work/a.ipynb';
    });

    it('is hidden without a live session of this notebook on the picked cluster', () => {
      expect(mark().hidden).toBe(true);
      bridge.setSessions([
        session({ id: 'other-notebook', notebook: '/srv/work/b.ipynb' }),
        session({ id: 'relative', notebook: 'work/a.ipynb' }),
        session({ id: 'other-cluster', cluster: 'hpc' }),
        session({ id: 'over', state: 'ended' })
      ]);
      expect(mark().hidden).toBe(true);
      expect(picker.liveSession).toBeUndefined();
    });

    it('shows the default cluster’s session with a tooltip, and follows the pick and renames', () => {
      bridge.setSessions([
        session({ id: 'mine' }),
        session({ id: 'mine-hpc', cluster: 'hpc', state: 'busy' })
      ]);
      expect(mark().hidden).toBe(false);
      expect(mark().dataset.state).toBe('idle');
      expect(mark().title).toBe(
        'Session on local (--cpus 2): idle. Its variables stay between %%cluster cells; restart or stop it in the Remote Jobs panel.'
      );
      expect(picker.select.getAttribute('aria-label')).toBe(
        'Cluster for %%cluster cells: default, live session (idle)'
      );

      model.setMetadata('cluster_bridge', { cluster: 'hpc' });
      expect(picker.liveSession?.id).toBe('mine-hpc');
      expect(mark().dataset.state).toBe('busy');

      picker.path = 'work/renamed.ipynb';
      expect(mark().hidden).toBe(true);
    });

    it("finds a Cluster Bridge kernel notebook's session by its kernel id", () => {
      bridge.setSessions([session({ id: 'plain', notebook: 'kernel:k-1' })]);
      expect(mark().hidden).toBe(true);
      picker.kernelId = 'k-1';
      expect(picker.liveSession?.id).toBe('plain');
      expect(mark().hidden).toBe(false);
    });
  });
});
