import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { IJobInfo, IRankLogs } from '../../shared/jobs';
import type { ISessionInfo } from '../../shared/sessions';
import type { IClusterBridge } from '../tokens';
import { jobInfo, twoRankLogs } from '../../../tests/support/jobInfo';
import { JobsPanel } from './panel';

const job = jobInfo;

class FakeBridge {
  jobs: IJobInfo[] = [];
  sessions: ISessionInfo[] = [];
  isConnected = true;
  jobsChanged = new Signal<any, any>(this);
  sessionsChanged = new Signal<any, any>(this);
  connectionChanged = new Signal<any, any>(this);
  cancelJob = jest.fn(async () => null);
  rankLogs = jest.fn(async (): Promise<IRankLogs> => twoRankLogs());
  refreshJobs = jest.fn(async () => this.jobs);
  refreshSessions = jest.fn(async () => this.sessions);
  sessionAction = jest.fn(async () => null);
  set(jobs: IJobInfo[]) {
    this.jobs = jobs;
    this.jobsChanged.emit(jobs);
  }
}

describe('JobsPanel', () => {
  let bridge: FakeBridge;
  let opened: string[];
  let panel: JobsPanel;

  beforeEach(() => {
    bridge = new FakeBridge();
    opened = [];
    panel = new JobsPanel({
      bridge: bridge as unknown as IClusterBridge,
      onOpen: j => opened.push(j.id)
    });
    Widget.attach(panel, document.body);
  });

  afterEach(() => panel.dispose());

  const rows = () => [
    ...panel.node.querySelectorAll<HTMLElement>('.jp-ClusterBridge-job')
  ];

  it('lists running, queued and finished jobs with their state and ids', () => {
    bridge.set([
      job({ id: 'a', phase: 'running', schedulerId: '42', node: 'g17' }),
      job({ id: 'b', phase: 'queued', detail: 'Priority', detached: true }),
      job({ id: 'c', phase: 'failed', endState: 'timeout' }),
      job({
        id: 'd',
        phase: 'done',
        endState: 'completed',
        scheduler: 'direct',
        schedulerId: '777'
      })
    ]);
    expect(rows().map(r => [r.dataset.jobId, r.dataset.state])).toEqual([
      ['a', 'running'],
      ['b', 'queued'],
      ['c', 'timeout'],
      ['d', 'completed']
    ]);
    const meta = rows().map(
      r => r.querySelector('.jp-ClusterBridge-job-meta')!.textContent
    );
    expect(meta[0]).toBe('job a · SLURM 42 · node g17');
    expect(meta[1]).toBe('job b · detached · Priority');
    expect(meta[3]).toBe('job d · pid 777');
    expect(
      panel.node.querySelector('.jp-ClusterBridge-jobs-status')!.textContent
    ).toBe('2 active, 4 in all');
  });

  it('says how many elements an array job has', () => {
    bridge.set([
      job({ id: 'a', schedulerId: '42', array: 16 }),
      job({ id: 'b', array: 1 }),
      job({ id: 'c' })
    ]);
    expect(
      rows().map(
        r => r.querySelector('.jp-ClusterBridge-job-meta')!.textContent
      )
    ).toEqual([
      'job a · SLURM 42 · array of 16 elements',
      'job b · array of 1 element',
      'job c'
    ]);
  });

  it('offers cancel only for jobs that are not over, and open for all', async () => {
    bridge.set([job({ id: 'a' }), job({ id: 'c', phase: 'cancelled' })]);
    const [running, ended] = rows();
    expect(running.querySelectorAll('button')).toHaveLength(2);
    expect(ended.querySelectorAll('button')).toHaveLength(1);

    const cancel = running.querySelector<HTMLButtonElement>(
      'button[aria-label="Cancel job a"]'
    )!;
    cancel.click();
    expect(bridge.cancelJob).toHaveBeenCalledWith('a');
    expect(cancel.disabled).toBe(true);

    ended
      .querySelector<HTMLButtonElement>(
        'button[aria-label="Show the outputs of job c"]'
      )!
      .click();
    expect(opened).toEqual(['c']);
  });

  it('refreshes from the bridge and says when it is not connected', async () => {
    bridge.isConnected = false;
    bridge.set([]);
    expect(panel.node.textContent).toContain(
      'Not connected to the Cluster Bridge kernel.'
    );
    bridge.refreshJobs.mockRejectedValueOnce(new Error('no kernelspec'));
    await panel.refresh();
    expect(panel.node.textContent).toContain(
      'Could not load jobs: no kernelspec'
    );
  });

  it('asks for the sessions with the jobs, and shows them above the jobs', async () => {
    bridge.refreshSessions.mockImplementationOnce(async () => {
      bridge.sessions = [
        {
          id: 's1',
          cluster: 'local',
          notebook: 'work/a.ipynb',
          resources: '',
          state: 'idle',
          scheduler: 'direct',
          startedAt: Date.UTC(2026, 10, 28, 12)
        }
      ];
      bridge.sessionsChanged.emit(bridge.sessions);
      return bridge.sessions;
    });
    await panel.refresh();
    expect(bridge.refreshSessions).toHaveBeenCalledTimes(1);
    expect(bridge.refreshJobs).toHaveBeenCalledTimes(1);
    const sections = [
      ...panel.node.querySelectorAll('.jp-ClusterBridge-jobs-section')
    ].map(h => h.textContent);
    expect(sections).toEqual(['Sessions', 'Jobs']);
    const row = panel.node.querySelector<HTMLElement>(
      '.jp-ClusterBridge-session'
    )!;
    expect(row.dataset.sessionId).toBe('s1');
    // The session row comes before the jobs list in the panel.
    const list = panel.node.querySelector('.jp-ClusterBridge-jobs-list')!;
    expect(
      row.compareDocumentPosition(list) & Node.DOCUMENT_POSITION_FOLLOWING
    ).toBeTruthy();

    bridge.refreshSessions.mockRejectedValueOnce(new Error('unknown op'));
    await panel.refresh();
    expect(panel.node.textContent).toContain(
      'Could not load sessions: unknown op'
    );
  });

  const row = (id: string) =>
    panel.node.querySelector<HTMLElement>(`[data-job-id="${id}"]`)!;
  const toggle = (id: string) =>
    row(id).querySelector<HTMLButtonElement>('.jp-ClusterBridge-job-ranks');

  it('a distributed job says its layout and has a Ranks toggle; a single process has none', () => {
    bridge.set([
      job({ id: 'd', ranks: 4, nodes: 2, phase: 'done' }),
      job({ id: 's' })
    ]);
    expect(
      row('d').querySelector('.jp-ClusterBridge-job-meta')!.textContent
    ).toBe('job d · 4 ranks on 2 nodes');
    expect(toggle('d')!.getAttribute('aria-expanded')).toBe('false');
    expect(toggle('s')).toBeNull();
  });

  it('opens the per-rank view, keeps it across re-renders, closes it', async () => {
    bridge.set([
      job({ id: 'j', ranks: 2, phase: 'failed', endState: 'failed' })
    ]);
    toggle('j')!.click();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(bridge.rankLogs).toHaveBeenCalledWith('j', 200);
    expect(toggle('j')!.getAttribute('aria-expanded')).toBe('true');
    const text = () =>
      row('j').querySelector('.jp-ClusterBridge-ranks')?.textContent ?? '';
    expect(text()).toContain('rank 1 failed');
    expect(text()).toContain('[rank 1] ValueError: bad');

    bridge.set([
      job({ id: 'j', ranks: 2, phase: 'failed', endState: 'failed' })
    ]);
    expect(text()).toContain('[rank 0] hello');
    expect(toggle('j')!.getAttribute('aria-expanded')).toBe('true');

    toggle('j')!.click();
    expect(row('j').querySelector('.jp-ClusterBridge-ranks')).toBeNull();
    expect(toggle('j')!.getAttribute('aria-expanded')).toBe('false');
  });
});
