import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { IJobInfo, IRankLogs } from '../../shared/jobs';
import type { IClusterBridge } from '../tokens';
import { JobsPanel } from './panel';
import {
  rankHeading,
  rankLayoutText,
  rankLogsSummary,
  RanksView
} from './ranksView';

function job(over: Partial<IJobInfo> = {}): IJobInfo {
  return {
    id: 'j',
    cluster: 'hpc',
    scheduler: 'slurm',
    remoteDir: '/home/u/.cluster-bridge/jobs/j',
    phase: 'running',
    detached: false,
    submittedAt: Date.UTC(2026, 10, 28, 12),
    title: 'train()',
    offset: 0,
    ranks: 2,
    nodes: 1,
    ...over
  };
}

const INJECTED = '<img src=x onerror="window.__pwned=1">';

function logs(over: Partial<IRankLogs> = {}): IRankLogs {
  return {
    jobId: 'j',
    found: true,
    worldSize: 2,
    failedRank: 1,
    ranks: [
      {
        rank: 0,
        node: 'n1',
        state: 'cancelled',
        lines: [{ text: '[rank 0] hello' }],
        truncated: false
      },
      {
        rank: 1,
        node: 'n1',
        state: 'error',
        failed: true,
        lines: [
          { text: `[rank 1] ${INJECTED}` },
          { text: '[rank 1] ValueError: bad', stderr: true }
        ],
        truncated: true
      }
    ],
    ...over
  };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('ranksView formatting', () => {
  it('says the layout of a distributed job, nothing for a single process', () => {
    expect(rankLayoutText({ ranks: 4, nodes: 2 })).toBe('4 ranks on 2 nodes');
    expect(rankLayoutText({ ranks: 1 })).toBe('1 rank on 1 node');
    expect(rankLayoutText({})).toBe('');
  });

  it('summarizes what was read and which rank failed', () => {
    expect(rankLogsSummary(logs())).toBe(
      '2 ranks · rank 1 failed · 1 cancelled'
    );
    expect(
      rankLogsSummary(
        logs({
          failedRank: undefined,
          worldSize: 3,
          ranks: [
            { rank: 0, state: 'running', lines: [], truncated: false },
            { rank: 1, state: 'running', lines: [], truncated: false },
            { rank: 2, state: 'waiting', lines: [], truncated: false }
          ]
        })
      )
    ).toBe('3 ranks · 2 running · 1 waiting');
    expect(rankLogsSummary(logs({ found: false, ranks: [] }))).toMatch(
      /^The job directory of j is gone \(cleaned\)/
    );
  });

  it('heads each rank with its node and state, the failed one marked', () => {
    expect(rankHeading(logs().ranks[1])).toBe(
      'rank 1 · n1 · failed (its error ended the job)'
    );
    expect(
      rankHeading({ rank: 3, state: 'waiting', lines: [], truncated: false })
    ).toBe('rank 3 · waiting');
  });
});

describe('RanksView', () => {
  it('shows each rank tagged, as text: remote output never becomes HTML', async () => {
    const bridge = { rankLogs: jest.fn(async () => logs()) };
    const view = new RanksView({ bridge, job: job({ phase: 'failed' }) });
    document.body.appendChild(view.node);
    await view.refresh();
    expect(bridge.rankLogs).toHaveBeenCalledWith('j', 200);
    const entries = [
      ...view.node.querySelectorAll<HTMLElement>('.jp-ClusterBridge-rank')
    ];
    expect(entries.map(e => e.dataset.rank)).toEqual(['0', '1']);
    expect(entries[1].classList.contains('jp-mod-failed')).toBe(true);
    const lines = [
      ...entries[1].querySelectorAll('.jp-ClusterBridge-rank-line')
    ].map(l => l.textContent);
    expect(lines).toEqual([`[rank 1] ${INJECTED}`, '[rank 1] ValueError: bad']);
    expect(view.node.querySelector('img')).toBeNull();
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
    expect(entries[1].textContent).toContain('(earlier output not shown)');
    view.dispose();
  });

  it('says so when the job directory is gone, and shows a failed read', async () => {
    const bridge = {
      rankLogs: jest
        .fn()
        .mockResolvedValueOnce(logs({ found: false, ranks: [] }))
        .mockRejectedValueOnce(new Error('connection refused'))
    };
    const view = new RanksView({ bridge, job: job({ phase: 'done' }) });
    await view.refresh();
    expect(view.node.dataset.state).toBe('gone');
    expect(
      view.node.querySelector('.jp-ClusterBridge-ranks-status')!.textContent
    ).toMatch(/gone \(cleaned\)/);
    await view.refresh();
    expect(
      view.node.querySelector('.jp-ClusterBridge-ranks-status')!.textContent
    ).toBe('Could not read the ranks: connection refused');
    view.dispose();
  });

  it('follows a running job until it ends or the user stops following', async () => {
    const bridge = { rankLogs: jest.fn(async () => logs()) };
    const view = new RanksView({ bridge, job: job(), followMs: 5 });
    await view.refresh();
    await new Promise(resolve => setTimeout(resolve, 40));
    const followed = bridge.rankLogs.mock.calls.length;
    expect(followed).toBeGreaterThan(2);

    const follow = view.node.querySelector<HTMLInputElement>(
      'input[type=checkbox]'
    )!;
    follow.checked = false;
    follow.dispatchEvent(new Event('change'));
    await new Promise(resolve => setTimeout(resolve, 10));
    const stopped = bridge.rankLogs.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 30));
    expect(bridge.rankLogs.mock.calls.length).toBe(stopped);

    // Its end: one last read, then no more.
    follow.checked = true;
    view.setJob(job({ phase: 'done', endState: 'completed' }));
    await new Promise(resolve => setTimeout(resolve, 30));
    expect(bridge.rankLogs.mock.calls.length).toBe(stopped + 1);
    view.dispose();
  });
});

describe('JobsPanel Ranks toggle', () => {
  class FakeBridge {
    jobs: IJobInfo[] = [];
    sessions = [];
    isConnected = true;
    jobsChanged = new Signal<any, any>(this);
    sessionsChanged = new Signal<any, any>(this);
    connectionChanged = new Signal<any, any>(this);
    cancelJob = jest.fn(async () => null);
    refreshJobs = jest.fn(async () => this.jobs);
    refreshSessions = jest.fn(async () => this.sessions);
    rankLogs = jest.fn(async () => logs());
    set(jobs: IJobInfo[]) {
      this.jobs = jobs;
      this.jobsChanged.emit(jobs);
    }
  }

  let bridge: FakeBridge;
  let panel: JobsPanel;
  beforeEach(() => {
    bridge = new FakeBridge();
    panel = new JobsPanel({
      bridge: bridge as unknown as IClusterBridge,
      onOpen: () => undefined
    });
    Widget.attach(panel, document.body);
  });
  afterEach(() => panel.dispose());

  const row = (id: string) =>
    panel.node.querySelector<HTMLElement>(`[data-job-id="${id}"]`)!;
  const toggle = (id: string) =>
    row(id).querySelector<HTMLButtonElement>('.jp-ClusterBridge-job-ranks');

  it('a distributed job says its layout and has a Ranks toggle; a single process has none', () => {
    bridge.set([
      job({ id: 'd', ranks: 4, nodes: 2, phase: 'done' }),
      job({ id: 's', ranks: undefined, nodes: undefined })
    ]);
    expect(
      row('d').querySelector('.jp-ClusterBridge-job-meta')!.textContent
    ).toBe('job d · 4 ranks on 2 nodes');
    expect(toggle('d')!.getAttribute('aria-expanded')).toBe('false');
    expect(toggle('s')).toBeNull();
  });

  it('opens the per-rank view, keeps it across re-renders, closes it', async () => {
    bridge.set([job({ id: 'j', phase: 'failed', endState: 'failed' })]);
    toggle('j')!.click();
    await flush();
    expect(bridge.rankLogs).toHaveBeenCalledWith('j', 200);
    expect(toggle('j')!.getAttribute('aria-expanded')).toBe('true');
    const text = () =>
      row('j').querySelector('.jp-ClusterBridge-ranks')?.textContent ?? '';
    expect(text()).toContain('rank 1 failed');
    expect(text()).toContain('[rank 1] ValueError: bad');

    bridge.set([job({ id: 'j', phase: 'failed', endState: 'failed' })]);
    expect(text()).toContain('[rank 0] hello');
    expect(toggle('j')!.getAttribute('aria-expanded')).toBe('true');

    toggle('j')!.click();
    expect(row('j').querySelector('.jp-ClusterBridge-ranks')).toBeNull();
    expect(toggle('j')!.getAttribute('aria-expanded')).toBe('false');
  });
});
