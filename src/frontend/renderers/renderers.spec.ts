import { MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import { GPU_MIME, STATUS_MIME, type IStatusPayload } from '../../shared/mime';
import { createGpuRendererFactory } from './gpu';
import { StatusRenderer, statusRendererFactory } from './status';

function statusModel(payload: Partial<IStatusPayload>) {
  return new MimeModel({
    data: {
      [STATUS_MIME]: {
        jobId: 'j-1',
        cluster: 'local',
        phase: 'connecting',
        startedAt: Date.now(),
        ...payload
      } as any,
      'text/plain': 'status'
    }
  });
}

describe('StatusRenderer', () => {
  let renderer: StatusRenderer;

  beforeEach(() => {
    renderer = statusRendererFactory.createRenderer({
      mimeType: STATUS_MIME,
      sanitizer: {} as any,
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    }) as StatusRenderer;
    Widget.attach(renderer, document.body);
  });

  afterEach(() => renderer.dispose());

  const text = (cls: string) =>
    renderer.node.querySelector(`.jp-ClusterBridge-status-${cls}`)!.textContent;

  it('updates in place through the phases and settles on one line', async () => {
    await renderer.renderModel(statusModel({ phase: 'connecting' }));
    expect(renderer.node.dataset.phase).toBe('connecting');
    expect(text('text')).toBe('Connecting to local…');
    expect(renderer.node.getAttribute('aria-live')).toBe('polite');

    await renderer.renderModel(
      statusModel({
        phase: 'running',
        node: 'n1',
        schedulerId: '4242',
        scheduler: 'direct'
      })
    );
    expect(renderer.node.dataset.phase).toBe('running');
    expect(text('text')).toBe('Running on local, node n1');
    expect(text('ids')).toBe('job j-1 · pid 4242');
    expect(renderer.hasClass('jp-ClusterBridge-status-active')).toBe(true);

    const startedAt = Date.now() - 4000;
    await renderer.renderModel(
      statusModel({
        phase: 'done',
        endState: 'completed',
        node: 'n1',
        startedAt,
        endedAt: startedAt + 4000
      })
    );
    expect(renderer.hasClass('jp-mod-terminal')).toBe(true);
    expect(renderer.hasClass('jp-ClusterBridge-status-ok')).toBe(true);
    expect(renderer.hasClass('jp-ClusterBridge-status-active')).toBe(false);
    expect(text('text')).toBe('Done on local, node n1');
    expect(text('elapsed')).toBe('0:04');
    expect(renderer.node.getAttribute('aria-live')).toBe('off');
  });

  it('ticks the elapsed time while not terminal, and stops after', async () => {
    jest.useFakeTimers();
    try {
      jest.setSystemTime(new Date('2026-11-28T12:00:00Z'));
      const startedAt = Date.now();
      await renderer.renderModel(statusModel({ phase: 'running', startedAt }));
      expect(text('elapsed')).toBe('0:00');
      jest.advanceTimersByTime(3000);
      expect(text('elapsed')).toBe('0:03');
      await renderer.renderModel(
        statusModel({
          phase: 'cancelled',
          startedAt,
          endedAt: startedAt + 3000
        })
      );
      jest.advanceTimersByTime(10_000);
      expect(text('elapsed')).toBe('0:03');
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('only ever writes text, never markup from the payload', async () => {
    await renderer.renderModel(
      statusModel({ phase: 'queued', detail: '<img src=x onerror=alert(1)>' })
    );
    expect(renderer.node.querySelector('img')).toBeNull();
    expect(text('text')).toContain('<img src=x onerror=alert(1)>');
  });
});

describe('GpuRenderer', () => {
  const payload = {
    host: 'g17',
    cudaVisibleDevices: '0',
    source: 'torch',
    duration: 3,
    devices: [
      {
        index: 0,
        name: 'NVIDIA A100',
        memoryTotal: 1000,
        memoryUsed: 250,
        memoryPeak: 500
      }
    ]
  };
  const model = () =>
    new MimeModel({
      data: {
        [GPU_MIME]: payload as any,
        'text/plain': 'GPU 0: NVIDIA A100 (plain)'
      }
    });
  const rendererOptions = {
    mimeType: GPU_MIME,
    sanitizer: {} as any,
    resolver: null,
    linkHandler: null,
    latexTypesetter: null
  };

  it('draws a card with device name and used/peak bars against total', async () => {
    const renderer = createGpuRendererFactory(() => true).createRenderer(
      rendererOptions
    );
    await renderer.renderModel(model());
    const node = renderer.node;
    expect(node.querySelector('.jp-ClusterBridge-gpu-title')!.textContent).toBe(
      'GPU'
    );
    expect(node.querySelector('.jp-ClusterBridge-gpu-name')!.textContent).toBe(
      '0: NVIDIA A100'
    );
    expect(
      (node.querySelector('.jp-ClusterBridge-gpu-used') as HTMLElement).style
        .width
    ).toBe('25.0%');
    expect(
      (node.querySelector('.jp-ClusterBridge-gpu-peak') as HTMLElement).style
        .width
    ).toBe('50.0%');
    const bar = node.querySelector('[role="meter"]')!;
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(
      node.querySelector('.jp-ClusterBridge-gpu-details')!.textContent
    ).toContain('ran 0:03');
    renderer.dispose();
  });

  it('shows the plain text fallback when the GPU card is off', async () => {
    let on = false;
    const renderer = createGpuRendererFactory(() => on).createRenderer(
      rendererOptions
    );
    await renderer.renderModel(model());
    expect(renderer.node.querySelector('pre')!.textContent).toBe(
      'GPU 0: NVIDIA A100 (plain)'
    );
    expect(renderer.node.querySelector('.jp-ClusterBridge-gpu-bar')).toBeNull();
    on = true;
    await renderer.renderModel(model());
    expect(renderer.node.querySelector('pre')).toBeNull();
    expect(
      renderer.node.querySelector('.jp-ClusterBridge-gpu-bar')
    ).not.toBeNull();
    renderer.dispose();
  });
});
