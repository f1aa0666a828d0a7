import type { IStatusPayload } from '../../shared/mime';
import { formatDuration, statusLine } from '../../shared/jobWording';
import { formatBytes, formatGpu, formatStatus } from './format';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

function status(over: Partial<IStatusPayload>): IStatusPayload {
  return {
    jobId: 'j-1',
    cluster: 'hpc',
    phase: 'connecting',
    startedAt: T0,
    ...over
  };
}

describe('formatStatus', () => {
  it.each<[Partial<IStatusPayload>, string, string]>([
    [{ phase: 'connecting' }, 'Connecting to hpc…', 'waiting'],
    [{ phase: 'uploading' }, 'Uploading the runtime to hpc…', 'waiting'],
    [
      { phase: 'preparing', detail: 'building env cb-1a2b' },
      'Preparing the environment on hpc (building env cb-1a2b)',
      'waiting'
    ],
    [
      { phase: 'submitted', scheduler: 'slurm', schedulerId: '42' },
      'Submitted to SLURM on hpc as job 42',
      'waiting'
    ],
    [
      {
        phase: 'queued',
        scheduler: 'slurm',
        schedulerId: '42',
        detail: 'Resources'
      },
      'Queued on hpc as SLURM job 42 (reason: Resources)',
      'waiting'
    ],
    [
      { phase: 'queued', scheduler: 'sge', schedulerId: '7' },
      'Queued on hpc as Grid Engine job 7',
      'waiting'
    ],
    [{ phase: 'starting', node: 'g17' }, 'Starting on hpc, node g17', 'active'],
    [{ phase: 'running', node: 'g17' }, 'Running on hpc, node g17', 'active'],
    [{ phase: 'running' }, 'Running on hpc', 'active'],
    [
      { phase: 'done', node: 'g17', endState: 'completed', exitCode: 0 },
      'Done on hpc, node g17',
      'ok'
    ],
    [
      { phase: 'failed', node: 'g17', endState: 'failed', exitCode: 1 },
      'Failed on hpc, node g17 (exit code 1)',
      'error'
    ],
    [
      { phase: 'failed', endState: 'timeout', node: 'g17' },
      'Time limit reached on hpc, node g17',
      'error'
    ],
    [
      { phase: 'failed', endState: 'out_of_memory', node: 'g17' },
      'Out of memory on hpc, node g17',
      'error'
    ],
    [
      { phase: 'failed', endState: 'node_fail', node: 'g17' },
      'Node failure on hpc, node g17',
      'error'
    ],
    [
      {
        phase: 'failed',
        endState: 'rejected',
        scheduler: 'slurm',
        detail: 'invalid partition specified: nope'
      },
      'Rejected by SLURM on hpc: invalid partition specified: nope',
      'error'
    ],
    [{ phase: 'cancelled' }, 'Cancelled on hpc', 'cancelled'],
    [
      {
        phase: 'cancelled',
        endState: 'cancelled',
        node: 'g17',
        detail: 'interrupted'
      },
      'Cancelled on hpc, node g17: interrupted',
      'cancelled'
    ]
  ])('%j reads "%s"', (over, text, tone) => {
    const view = formatStatus(status(over), T0 + 5000);
    expect(view.text).toBe(text);
    expect(view.tone).toBe(tone);
  });

  it('ticks the elapsed time while running', () => {
    const p = status({ phase: 'running', node: 'n1' });
    expect(formatStatus(p, T0 + 3_000).elapsed).toBe('0:03');
    expect(formatStatus(p, T0 + 65_000).elapsed).toBe('1:05');
    expect(formatStatus(p, T0 + 65_000).terminal).toBe(false);
  });

  it('settles on the total time once terminal', () => {
    const p = status({
      phase: 'done',
      endState: 'completed',
      endedAt: T0 + 12_000
    });
    const view = formatStatus(p, T0 + 999_000);
    expect(view.terminal).toBe(true);
    expect(view.elapsed).toBe('0:12');
  });

  it('names the job and the scheduler id', () => {
    expect(
      formatStatus(status({ scheduler: 'slurm', schedulerId: '42' }), T0).ids
    ).toBe('job j-1 · SLURM 42');
    expect(
      formatStatus(status({ scheduler: 'direct', schedulerId: '4242' }), T0).ids
    ).toBe('job j-1 · pid 4242');
  });

  it('makes one compact line', () => {
    const p = status({
      phase: 'done',
      endState: 'completed',
      node: 'g17',
      endedAt: T0 + 12_000,
      scheduler: 'slurm',
      schedulerId: '42'
    });
    expect(statusLine(p, T0)).toBe(
      'Done on hpc, node g17 · 0:12 · job j-1 · SLURM 42'
    );
  });
});

describe('formatDuration / formatBytes', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(59_999)).toBe('0:59');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(-5)).toBe('0:00');
    expect(formatDuration(NaN)).toBe('0:00');
  });

  it('formats bytes', () => {
    expect(formatBytes(900)).toBe('900 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(80 * 1024 ** 3)).toBe('80.0 GiB');
    expect(formatBytes(undefined)).toBe('?');
  });
});

describe('formatGpu', () => {
  it('describes devices with memory used and peak against total', () => {
    const view = formatGpu({
      host: 'g17',
      cudaVisibleDevices: '0',
      source: 'torch',
      duration: 12.5,
      devices: [
        {
          index: 0,
          name: 'NVIDIA A100-SXM4-80GB',
          memoryTotal: 80 * 1024 ** 3,
          memoryUsed: 20 * 1024 ** 3,
          memoryPeak: 40 * 1024 ** 3
        }
      ]
    });
    expect(view.title).toBe('GPU');
    expect(view.details).toBe(
      'on g17 · CUDA_VISIBLE_DEVICES=0 · ran 0:12 · via torch'
    );
    expect(view.devices).toEqual([
      {
        label: '0: NVIDIA A100-SXM4-80GB',
        memory: '20.0 GiB used · peak 40.0 GiB of 80.0 GiB',
        used: 0.25,
        peak: 0.5
      }
    ]);
  });

  it('counts several devices and copes with unknown totals', () => {
    const view = formatGpu({
      source: 'nvidia-smi',
      devices: [
        { index: 0, name: 'A', memoryUsed: 1024 },
        { index: 1, name: 'B' }
      ]
    });
    expect(view.title).toBe('GPUs (2)');
    expect(view.devices[0]).toMatchObject({
      memory: '1.0 KiB used',
      used: null
    });
    expect(view.devices[1]).toMatchObject({ memory: '', peak: null });
  });

  it('says so when no GPU is visible', () => {
    const view = formatGpu({
      source: 'env',
      cudaVisibleDevices: '',
      devices: []
    });
    expect(view.title).toBe('No GPU visible to the job');
    expect(view.details).toContain('CUDA_VISIBLE_DEVICES=(empty)');
  });
});
