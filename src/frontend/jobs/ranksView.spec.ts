import type { IJobInfo } from '../../shared/jobs';
import { INJECTED, jobInfo, twoRankLogs } from '../../../tests/support/jobInfo';
import {
  rankHeading,
  rankLayoutText,
  rankLogsSummary,
  RanksView
} from './ranksView';

const job = (over: Partial<IJobInfo> = {}) =>
  jobInfo({ ranks: 2, nodes: 1, ...over });
const logs = twoRankLogs;

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
