import {
  MimeModel,
  RenderMimeRegistry,
  standardRendererFactories
} from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import { ARRAY_MIME, type IArrayPayload } from '../../shared/mime';
import { ArrayRenderer, createArrayRendererFactory } from './array';
import {
  arrayRows,
  arraySummary,
  readArrayPayload,
  rerunCommand
} from './arrayFormat';

/** `--array lr=0.1,0.01,0.001,bad --max-parallel 2`: one done, one failed, one running, one pending. */
function arrayPayload(changes: Partial<IArrayPayload> = {}): IArrayPayload {
  return {
    jobId: '20261205-cd34',
    cluster: 'hpc',
    name: 'lr',
    maxParallel: 2,
    rerun: '%cluster rerun 20261205-cd34 {index}',
    elements: [
      {
        index: 0,
        value: 0.1,
        state: 'done',
        seconds: 4.2,
        last: 'loss=0.31\n(more)',
        schedulerId: '4242_0',
        outputs: [
          { type: 'stream', name: 'stdout', text: 'training with lr=0.1\n' },
          {
            type: 'display',
            data: { 'text/plain': '0.31', 'text/html': '<b>0.31</b>' }
          }
        ]
      },
      {
        index: 1,
        value: 'bad',
        state: 'error',
        seconds: 0.8,
        error: 'ValueError: could not convert string to float: bad',
        schedulerId: '4242_1',
        outputs: [
          {
            type: 'error',
            ename: 'ValueError',
            evalue: "could not convert string to float: 'bad'",
            traceback: [
              '\u001b[0;31mValueError\u001b[0m  Traceback (most recent call last)',
              "\u001b[0;31mValueError\u001b[0m: could not convert string to float: 'bad'"
            ]
          }
        ]
      },
      { index: 2, value: 0.001, state: 'running', outputs: [], dropped: 3 },
      { index: 3, value: 0.0001, state: 'pending', outputs: [] }
    ],
    ...changes
  };
}

describe('arraySummary and arrayRows', () => {
  it('counts the elements by state and names the limit', () => {
    expect(arraySummary(arrayPayload())).toBe(
      'lr: 4 elements · 1 pending · 1 running · 1 done · 1 failed · at most 2 at once'
    );
    expect(
      arraySummary(arrayPayload({ maxParallel: undefined, elements: [] }))
    ).toBe('lr: 0 elements');
  });

  it('has one row per element: value, state, time, last line, error, re-run', () => {
    const rows = arrayRows(arrayPayload());
    expect(rows[0]).toEqual({
      index: 0,
      value: '0.1',
      state: 'done',
      stateText: 'done',
      time: '4.2 s',
      last: 'loss=0.31',
      error: '',
      failed: false,
      rerun: ''
    });
    expect(rows[1]).toMatchObject({
      value: 'bad',
      stateText: 'failed',
      time: '0.8 s',
      error: 'ValueError: could not convert string to float: bad',
      failed: true,
      rerun: '%cluster rerun 20261205-cd34 1'
    });
    expect(rows[2]).toMatchObject({ time: '', failed: false, rerun: '' });
  });

  it('offers a re-run for lost and cancelled elements too, never without a template', () => {
    const p = arrayPayload();
    p.elements[2].state = 'lost';
    p.elements[3].state = 'cancelled';
    const rows = arrayRows(p);
    expect(rows[2]).toMatchObject({
      failed: true,
      rerun: '%cluster rerun 20261205-cd34 2'
    });
    expect(rows[3]).toMatchObject({
      failed: false,
      rerun: '%cluster rerun 20261205-cd34 3'
    });
    expect(arrayRows({ ...p, rerun: '' }).every(r => r.rerun === '')).toBe(
      true
    );
  });

  it('replaces every {index} of the template', () => {
    expect(rerunCommand('%cluster rerun j {index} # {index}', 12)).toBe(
      '%cluster rerun j 12 # 12'
    );
  });

  it('reads only array payloads, and drops malformed elements and outputs', () => {
    expect(readArrayPayload({ jobId: 'x' })).toBeNull();
    expect(readArrayPayload(7)).toBeNull();
    const p = readArrayPayload({
      jobId: 'j',
      name: 'seed',
      rerun: 3,
      elements: [
        { index: 0, value: 1, state: 'weird', outputs: [{ type: 'x' }] },
        { value: 2 },
        null
      ]
    })!;
    expect(p.rerun).toBe('');
    expect(p.elements).toEqual([
      { index: 0, value: 1, state: 'pending', outputs: [] }
    ]);
  });
});

describe('ArrayRenderer', () => {
  const rendermime = new RenderMimeRegistry({
    initialFactories: standardRendererFactories
  });
  let renderer: ArrayRenderer;
  let rerun: jest.Mock<Promise<string>, [string, HTMLElement]>;

  const model = (payload: unknown) =>
    new MimeModel({
      trusted: true,
      data: {
        [ARRAY_MIME]: payload as any,
        'text/plain': 'lr: 4 elements (plain)'
      }
    });
  const $ = (selector: string) =>
    renderer.node.querySelector<HTMLElement>(selector);
  const $$ = (selector: string) =>
    Array.from(renderer.node.querySelectorAll<HTMLElement>(selector));
  const row = (index: number) =>
    $(`.jp-ClusterBridge-Array-row[data-index="${index}"]`)!;
  const detail = (index: number) =>
    $(`.jp-ClusterBridge-Array-detail[data-index="${index}"]`);
  const cells = (index: number) =>
    Array.from(row(index).children).map(td => td.textContent);
  const settle = () => new Promise(resolve => setTimeout(resolve, 0));

  beforeEach(() => {
    rerun = jest.fn(
      async (command: string, _origin: HTMLElement) =>
        `Inserted \`${command}\` below and started it`
    );
    renderer = createArrayRendererFactory(rendermime, rerun).createRenderer({
      mimeType: ARRAY_MIME,
      sanitizer: rendermime.sanitizer,
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    }) as ArrayRenderer;
    Widget.attach(renderer, document.body);
  });

  afterEach(() => renderer.dispose());

  it('draws the summary table, the failed row marked with its Re-run button', async () => {
    await renderer.renderModel(model(arrayPayload()));
    expect($('caption')!.textContent).toBe(
      'lr: 4 elements · 1 pending · 1 running · 1 done · 1 failed · at most 2 at once'
    );
    expect($$('thead th').map(th => th.textContent)).toEqual([
      '',
      'index',
      'lr',
      'state',
      'time',
      'last',
      'error',
      ''
    ]);
    expect($$('.jp-ClusterBridge-Array-row')).toHaveLength(4);
    expect(cells(0)).toEqual([
      '▸',
      '0',
      '0.1',
      'done',
      '4.2 s',
      'loss=0.31',
      '',
      ''
    ]);
    expect(cells(1)).toEqual([
      '▸',
      '1',
      'bad',
      'failed',
      '0.8 s',
      '',
      'ValueError: could not convert string to float: bad',
      'Re-run'
    ]);
    expect(row(1).classList.contains('jp-mod-failed')).toBe(true);
    expect(row(0).classList.contains('jp-mod-failed')).toBe(false);
    expect($$('.jp-ClusterBridge-Array-rerun')).toHaveLength(1);
    expect($$('.jp-ClusterBridge-Array-detail')).toHaveLength(0);
  });

  it("expands a row on click to the element's outputs, and folds it again", async () => {
    await renderer.renderModel(model(arrayPayload()));
    row(0).querySelector<HTMLElement>('.jp-ClusterBridge-Array-value')!.click();
    await settle();
    const expand = row(0).querySelector('.jp-ClusterBridge-Array-expand')!;
    expect(expand.getAttribute('aria-expanded')).toBe('true');
    expect(detail(0)!.querySelector('td')!.id).toBe(
      expand.getAttribute('aria-controls')
    );
    expect(detail(0)!.textContent).toContain('training with lr=0.1');
    expect(
      detail(0)!.querySelector('.jp-RenderedHTMLCommon b')!.textContent
    ).toBe('0.31');

    (
      row(0).querySelector('.jp-ClusterBridge-Array-expand') as HTMLElement
    ).click();
    await settle();
    expect(detail(0)).toBeNull();
    expect(renderer.expanded.size).toBe(0);
  });

  it("shows a failed element's traceback and re-run command; Re-run hands the command over", async () => {
    await renderer.renderModel(model(arrayPayload()));
    await renderer.toggle(1);
    expect(
      detail(1)!.querySelector('.jp-ClusterBridge-Array-command code')!
        .textContent
    ).toBe('%cluster rerun 20261205-cd34 1');
    const stderr = detail(1)!.querySelector(
      '[data-mime-type="application/vnd.jupyter.stderr"]'
    )!;
    expect(stderr.querySelector('.ansi-red-fg')!.textContent).toBe(
      'ValueError'
    );

    (
      row(1).querySelector('.jp-ClusterBridge-Array-rerun') as HTMLElement
    ).click();
    await settle();
    expect(rerun).toHaveBeenCalledWith(
      '%cluster rerun 20261205-cd34 1',
      renderer.node
    );
    // The button does not fold the row it sits in.
    expect(renderer.expanded.has(1)).toBe(true);
    expect($('.jp-ClusterBridge-Array-note')!.textContent).toBe(
      'Inserted `%cluster rerun 20261205-cd34 1` below and started it'
    );
  });

  it('says so when the re-run could not be done', async () => {
    rerun.mockRejectedValueOnce(new Error('the notebook is read-only'));
    await renderer.renderModel(model(arrayPayload()));
    (
      row(1).querySelector('.jp-ClusterBridge-Array-rerun') as HTMLElement
    ).click();
    await settle();
    expect($('.jp-ClusterBridge-Array-note')!.textContent).toBe(
      'Could not re-run: the notebook is read-only'
    );
  });

  it('keeps open rows open and focus in place when the payload is updated', async () => {
    const p = arrayPayload();
    await renderer.renderModel(model(p));
    await renderer.toggle(2);
    expect(detail(2)!.textContent).toContain('3 earlier outputs were dropped');
    expect(detail(2)!.textContent).toContain('No output.');
    (
      row(2).querySelector('.jp-ClusterBridge-Array-expand') as HTMLElement
    ).focus();

    p.elements[2].outputs.push({
      type: 'stream',
      name: 'stdout',
      text: 'step 1\n'
    });
    p.elements[2].state = 'done';
    p.elements[2].seconds = 65;
    await renderer.renderModel(model(p));
    expect(cells(2)[3]).toBe('done');
    expect(cells(2)[4]).toBe('1:05');
    expect(detail(2)!.textContent).toContain('step 1');
    expect(detail(2)!.textContent).not.toContain('No output.');
    expect(document.activeElement).toBe(
      row(2).querySelector('.jp-ClusterBridge-Array-expand')
    );
  });

  it('rebuilds only the rows that changed when a large sweep is updated', async () => {
    const p = arrayPayload({
      elements: Array.from({ length: 500 }, (_, index) => ({
        index,
        value: index,
        state: 'pending' as const,
        outputs: []
      }))
    });
    await renderer.renderModel(model(p));
    const before = $$('.jp-ClusterBridge-Array-row');
    p.elements[7] = { ...p.elements[7], state: 'running' };
    await renderer.renderModel(model(p));
    const after = $$('.jp-ClusterBridge-Array-row');
    expect(after).toHaveLength(500);
    expect(
      after.filter((tr, i) => tr !== before[i]).map(tr => tr.dataset.index)
    ).toEqual(['7']);
    expect(cells(7)[3]).toBe('running');
  });

  it('opens a row from the keyboard through its disclosure button', async () => {
    await renderer.renderModel(model(arrayPayload()));
    const expand = row(3).querySelector<HTMLButtonElement>(
      '.jp-ClusterBridge-Array-expand'
    )!;
    expect(expand.tagName).toBe('BUTTON');
    expect(expand.getAttribute('aria-label')).toBe(
      'Show the outputs of element 3'
    );
    expand.click();
    await settle();
    expect(detail(3)).not.toBeNull();
  });

  it('shows the text/plain fallback for a payload it cannot read', async () => {
    await renderer.renderModel(model('not an array'));
    expect(renderer.hasClass('jp-mod-plain')).toBe(true);
    expect($('caption')!.textContent).toBe('lr: 4 elements (plain)');
    expect($$('tr')).toHaveLength(0);
  });
});
