import {
  MimeModel,
  RenderMimeRegistry,
  standardRendererFactories
} from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import { RANKS_MIME, type IRanksPayload } from '../../shared/mime';
import { createRanksRendererFactory, RanksRenderer } from './ranks';
import {
  allRanksHeading,
  failedRanks,
  rankLabel,
  ranksSummary,
  readRanksPayload,
  taggedOutputs
} from './ranksFormat';

/** A 2-node, 2-tasks-per-node job: ranks 1-3 are the other ranks; rank 2 failed. */
function ranksPayload(changes: Partial<IRanksPayload> = {}): IRanksPayload {
  return {
    jobId: '20261205-ab12',
    worldSize: 4,
    nodes: ['node-a', 'node-b'],
    ranks: [
      {
        rank: 1,
        localRank: 1,
        node: 'node-a',
        state: 'done',
        outputs: [
          { type: 'stream', name: 'stdout', text: 'rank 1 up\nall-reduce ' },
          { type: 'stream', name: 'stdout', text: 'sum=6\n' }
        ]
      },
      {
        rank: 2,
        localRank: 0,
        node: 'node-b',
        state: 'error',
        outputs: [
          { type: 'stream', name: 'stderr', text: 'warning: slow link\n' },
          {
            type: 'error',
            ename: 'RuntimeError',
            evalue: 'NCCL timeout',
            traceback: [
              '\u001b[0;31mRuntimeError\u001b[0m  Traceback (most recent call last)',
              'Cell In[1], line 4\n----> 4 dist.all_reduce(t)',
              '\u001b[0;31mRuntimeError\u001b[0m: NCCL timeout'
            ]
          }
        ]
      },
      {
        rank: 3,
        localRank: 1,
        node: 'node-b',
        state: 'cancelled',
        outputs: [
          { type: 'stream', name: 'stdout', text: 'rank 3 up\n' },
          { type: 'display', data: { 'text/plain': '<Figure 3>' } }
        ],
        dropped: 2
      }
    ],
    failedRank: 2,
    ...changes
  };
}

describe('ranksSummary', () => {
  it('counts the other ranks and names the failed one', () => {
    expect(ranksSummary(ranksPayload())).toBe(
      'Other ranks: 3 on 2 nodes · rank 2 failed · 1 cancelled'
    );
  });

  it('on one node, while running, and once all are done', () => {
    const p = ranksPayload({ nodes: ['node-a'], failedRank: undefined });
    p.ranks.forEach(r => (r.state = 'running'));
    expect(ranksSummary(p)).toBe('Other ranks: 3 · 3 running');
    p.ranks.forEach(r => (r.state = 'done'));
    expect(ranksSummary(p)).toBe('Other ranks: 3 · all done');
  });

  it('names every failed rank, the first failure first (rank 0 included)', () => {
    const p = ranksPayload({ failedRank: 3 });
    p.ranks[2].state = 'error';
    expect(failedRanks(p)).toEqual([3, 2]);
    expect(ranksSummary(p)).toBe(
      'Other ranks: 3 on 2 nodes · ranks 3, 2 failed'
    );
    const zero = ranksPayload({ failedRank: 0 });
    zero.ranks[1].state = 'done';
    expect(ranksSummary(zero)).toContain('rank 0 failed');
  });
});

describe('allRanksHeading', () => {
  it('says how many ranks and, when known, how they were started', () => {
    expect(allRanksHeading(ranksPayload())).toBe(
      "3 of 4 ranks (rank 0's output is the cell's own)"
    );
    expect(allRanksHeading(ranksPayload({ launch: 'torchrun' }))).toBe(
      "3 of 4 ranks, started by torchrun (rank 0's output is the cell's own)"
    );
  });
});

describe('rankLabel', () => {
  it('is the rank and its node', () => {
    expect(rankLabel(ranksPayload().ranks[0])).toBe('rank 1 (node-a)');
  });
});

describe('readRanksPayload', () => {
  it('refuses what is not a ranks payload', () => {
    expect(readRanksPayload(null)).toBeNull();
    expect(readRanksPayload('text')).toBeNull();
    expect(readRanksPayload({ jobId: 'x' })).toBeNull();
  });

  it('drops malformed ranks and outputs, keeps the rest', () => {
    const p = readRanksPayload({
      jobId: 'j',
      worldSize: 3,
      nodes: ['n'],
      ranks: [
        null,
        { rank: 'x' },
        {
          rank: 1,
          localRank: 1,
          node: 'n',
          state: 'exploded',
          outputs: [
            { type: 'stream', name: 'stdout', text: 'ok\n' },
            { type: 'stream', name: 'stdin', text: 'no' },
            { type: 'shell', cmd: 'rm' }
          ]
        },
        { rank: 2, localRank: 0, node: 'n', state: 'done' }
      ]
    })!;
    expect(p.ranks.map(r => r.rank)).toEqual([1, 2]);
    expect(p.ranks[0].state).toBe('running');
    expect(p.ranks[0].outputs).toEqual([
      { type: 'stream', name: 'stdout', text: 'ok\n' }
    ]);
    expect(p.ranks[1].outputs).toEqual([]);
  });
});

describe('taggedOutputs', () => {
  it('tags every line with its rank, a line split across writes once', () => {
    const items = taggedOutputs(ranksPayload().ranks);
    expect(items.map(i => [i.output.type, i.tag])).toEqual([
      ['stream', undefined],
      ['stream', undefined],
      ['error', undefined],
      ['stream', undefined],
      ['stream', undefined],
      ['display', '[rank 3]']
    ]);
    const [out1, err2, tb, dropped3, out3] = items.map(i => i.output as any);
    expect(out1.text).toBe('[rank 1] rank 1 up\n[rank 1] all-reduce sum=6\n');
    expect(err2).toEqual({
      type: 'stream',
      name: 'stderr',
      text: '[rank 2] warning: slow link\n'
    });
    expect(tb.traceback).toEqual([
      '[rank 2] \u001b[0;31mRuntimeError\u001b[0m  Traceback (most recent call last)',
      '[rank 2] Cell In[1], line 4\n[rank 2] ----> 4 dist.all_reduce(t)',
      '[rank 2] \u001b[0;31mRuntimeError\u001b[0m: NCCL timeout'
    ]);
    expect(dropped3).toEqual({
      type: 'stream',
      name: 'stderr',
      text: '[rank 3] … 2 earlier outputs were dropped to keep the cell small\n'
    });
    expect(out3.text).toBe('[rank 3] rank 3 up\n');
  });

  it("ends a rank's unfinished line before the next rank's lines", () => {
    const items = taggedOutputs([
      {
        rank: 1,
        localRank: 1,
        node: 'a',
        state: 'running',
        outputs: [{ type: 'stream', name: 'stdout', text: 'epoch 1 loss=0.5' }]
      },
      {
        rank: 2,
        localRank: 0,
        node: 'b',
        state: 'running',
        outputs: [
          { type: 'stream', name: 'stdout', text: '\n\nepoch 1 loss=0.4\n' }
        ]
      }
    ]);
    expect(items).toHaveLength(1);
    expect((items[0].output as any).text).toBe(
      '[rank 1] epoch 1 loss=0.5\n[rank 2] \n[rank 2] \n[rank 2] epoch 1 loss=0.4\n'
    );
  });

  it('does not change the payload it reads', () => {
    const p = ranksPayload();
    const before = JSON.stringify(p);
    taggedOutputs(p.ranks);
    expect(JSON.stringify(p)).toBe(before);
  });
});

describe('RanksRenderer', () => {
  const rendermime = new RenderMimeRegistry({
    initialFactories: standardRendererFactories
  });
  let renderer: RanksRenderer;

  const model = (payload: unknown, trusted = true) =>
    new MimeModel({
      trusted,
      data: {
        [RANKS_MIME]: payload as any,
        'text/plain': 'Other ranks: 3 (plain)'
      }
    });
  const $ = (selector: string) =>
    renderer.node.querySelector<HTMLElement>(selector);
  const $$ = (selector: string) =>
    Array.from(renderer.node.querySelectorAll<HTMLElement>(selector));
  const toggle = () => $('.jp-ClusterBridge-Ranks-toggle') as HTMLButtonElement;
  const tab = (key: string) =>
    $(`.jp-ClusterBridge-Ranks-tab[data-rank="${key}"]`)!;
  const shownText = () => $('.jp-ClusterBridge-Ranks-outputs')!.textContent;
  const settle = () => new Promise(resolve => setTimeout(resolve, 0));

  beforeEach(() => {
    renderer = createRanksRendererFactory(rendermime).createRenderer({
      mimeType: RANKS_MIME,
      sanitizer: rendermime.sanitizer,
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    }) as RanksRenderer;
    Widget.attach(renderer, document.body);
  });

  afterEach(() => renderer.dispose());

  it('is one collapsed line by default, with nothing rendered below it', async () => {
    await renderer.renderModel(model(ranksPayload()));
    expect(toggle().textContent).toBe(
      '▸ Other ranks: 3 on 2 nodes · rank 2 failed · 1 cancelled'
    );
    expect(toggle().getAttribute('aria-expanded')).toBe('false');
    expect(renderer.hasClass('jp-mod-failed')).toBe(true);
    expect($('.jp-ClusterBridge-Ranks-body')!.hidden).toBe(true);
    expect($$('.jp-ClusterBridge-subOutput')).toHaveLength(0);
  });

  it('expands on the toggle to the failed rank: stderr styled, traceback in ANSI colours', async () => {
    await renderer.renderModel(model(ranksPayload()));
    toggle().click();
    await settle();
    expect(toggle().getAttribute('aria-expanded')).toBe('true');
    expect(toggle().textContent!.startsWith('▾')).toBe(true);
    expect(renderer.selection).toBe(2);
    expect(tab('2').getAttribute('aria-selected')).toBe('true');
    expect(tab('2').classList.contains('jp-mod-failed')).toBe(true);
    expect($('[role="tabpanel"]')!.getAttribute('aria-labelledby')).toBe(
      tab('2').id
    );
    expect(tab('2').textContent).toBe('✗ rank 2 (node-b)');
    expect(tab('1').textContent).toBe('✓ rank 1 (node-a)');
    expect(tab('3').dataset.state).toBe('cancelled');
    expect($('.jp-ClusterBridge-Ranks-heading')!.textContent).toBe(
      'rank 2 (node-b) · local rank 0 · failed'
    );
    const stderr = $$('[data-mime-type="application/vnd.jupyter.stderr"]');
    expect(stderr).toHaveLength(2);
    expect(stderr[0].textContent).toContain('warning: slow link');
    // The traceback went through JupyterLab's ANSI rendering: colours, no escapes.
    expect(stderr[1].querySelector('.ansi-red-fg')!.textContent).toBe(
      'RuntimeError'
    );
    expect(stderr[1].textContent).not.toContain('\u001b');
    expect(stderr[1].textContent).toContain('NCCL timeout');
  });

  it('shows every rank with each line tagged in the "All ranks" tab', async () => {
    await renderer.renderModel(model(ranksPayload({ failedRank: undefined })));
    const p = ranksPayload({ failedRank: undefined });
    p.ranks[1].state = 'done';
    p.ranks[1].outputs.pop();
    await renderer.renderModel(model(p));
    await renderer.setExpanded(true);
    expect(renderer.selection).toBe('all');
    expect(tab('all').getAttribute('aria-selected')).toBe('true');
    const text = shownText()!;
    expect(text).toContain('[rank 1] rank 1 up\n[rank 1] all-reduce sum=6');
    expect(text).toContain('[rank 2] warning: slow link');
    expect(text).toContain('[rank 3] rank 3 up');
    expect($('.jp-ClusterBridge-subOutput-tag')!.textContent).toBe('[rank 3]');
    expect(text).toContain('<Figure 3>');
  });

  it('moves between tabs with the arrow keys, Home and End', async () => {
    await renderer.renderModel(model(ranksPayload()));
    await renderer.setExpanded(true);
    tab('2').focus();
    const key = (k: string) =>
      document.activeElement!.dispatchEvent(
        new KeyboardEvent('keydown', { key: k, bubbles: true })
      );
    key('ArrowRight');
    await settle();
    expect(renderer.selection).toBe(3);
    expect(document.activeElement).toBe(tab('3'));
    expect(tab('3').tabIndex).toBe(0);
    expect(tab('2').tabIndex).toBe(-1);
    key('ArrowRight');
    await settle();
    expect(renderer.selection).toBe('all');
    key('End');
    await settle();
    expect(renderer.selection).toBe(3);
    key('Home');
    await settle();
    expect(renderer.selection).toBe('all');
    expect(document.activeElement).toBe(tab('all'));
  });

  it('keeps what the reader opened when the payload is updated in place', async () => {
    const p = ranksPayload();
    p.ranks.forEach(r => (r.state = 'running'));
    delete p.failedRank;
    await renderer.renderModel(model(p));
    await renderer.setExpanded(true);
    tab('1').click();
    await settle();
    const firstNode = $('.jp-ClusterBridge-subOutput');

    // Rank 3 prints more: rank 1's view is not rendered again.
    p.ranks[2].outputs.push({ type: 'stream', name: 'stdout', text: 'more\n' });
    await renderer.renderModel(model(p));
    expect(renderer.expanded).toBe(true);
    expect(renderer.selection).toBe(1);
    expect($('.jp-ClusterBridge-subOutput')).toBe(firstNode);

    // Rank 1 prints: its view follows.
    p.ranks[0].outputs.push({
      type: 'stream',
      name: 'stdout',
      text: 'epoch 2\n'
    });
    await renderer.renderModel(model(p));
    expect(shownText()).toContain('epoch 2');
    expect(renderer.selection).toBe(1);
  });

  it('never runs markup from an untrusted payload', async () => {
    const p = ranksPayload();
    p.ranks[0].outputs = [
      {
        type: 'display',
        data: {
          'text/html': '<b>bold</b><img src=x onerror="window.__pwned=1">',
          'text/plain': 'plain'
        }
      }
    ];
    await renderer.renderModel(model(p, false));
    await renderer.select(1);
    await renderer.setExpanded(true);
    expect($('img[onerror]')).toBeNull();
    expect($('script')).toBeNull();
  });

  it('shows the text/plain fallback for a payload it cannot read', async () => {
    await renderer.renderModel(model({ nonsense: true }));
    expect(renderer.hasClass('jp-mod-plain')).toBe(true);
    expect(toggle().textContent).toBe('Other ranks: 3 (plain)');
    expect(toggle().disabled).toBe(true);
  });
});
