import type { IStatusPayload } from './mime';
import {
  formatDuration,
  schedulerIdText,
  schedulerName,
  statusLine,
  statusSentence,
  statusWords
} from './jobWording';

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

describe('job wording', () => {
  it('names the session and its time left while a session cell runs', () => {
    const p = status({
      phase: 'running',
      session: 's-1',
      deadline: T0 + 54 * 60000
    });
    expect(statusLine(p, T0)).toMatch(
      /session s-1 \(0?:?54:00 left\)|session s-1 \(54m/
    );
    expect(statusLine(status({ phase: 'running' }), T0)).not.toMatch(/session/);
    expect(
      statusLine(
        { ...p, phase: 'done', endState: 'completed', endedAt: T0 },
        T0
      )
    ).toMatch(/session s-1$/);
  });

  it('words every phase', () => {
    expect(statusSentence(status({}))).toBe('Connecting to hpc…');
    expect(
      statusSentence(
        status({
          phase: 'queued',
          scheduler: 'slurm',
          schedulerId: '42',
          detail: 'Resources'
        })
      )
    ).toBe('Queued on hpc as SLURM job 42 (reason: Resources)');
    expect(statusSentence(status({ phase: 'running', node: 'g17' }))).toBe(
      'Running on hpc, node g17'
    );
  });

  it('words how a job ended, from the end state or the phase', () => {
    expect(statusSentence(status({ phase: 'done' }))).toBe('Done on hpc');
    expect(
      statusSentence(status({ phase: 'failed', exitCode: 3, detail: 'boom' }))
    ).toBe('Failed on hpc (exit code 3): boom');
    expect(
      statusSentence(status({ phase: 'failed', endState: 'timeout' }))
    ).toBe('Time limit reached on hpc');
    expect(
      statusSentence(
        status({ phase: 'failed', endState: 'rejected', scheduler: 'pbs' })
      )
    ).toBe('Rejected by PBS on hpc');
    expect(statusSentence(status({ phase: 'cancelled' }))).toBe(
      'Cancelled on hpc'
    );
  });

  it('names schedulers and their ids', () => {
    expect(schedulerName('sge')).toBe('Grid Engine');
    expect(schedulerName('direct')).toBe('the host');
    expect(schedulerIdText({ scheduler: 'slurm', schedulerId: '42' })).toBe(
      'SLURM 42'
    );
    expect(schedulerIdText({ scheduler: 'direct', schedulerId: '77' })).toBe(
      'pid 77'
    );
    expect(schedulerIdText({ scheduler: 'slurm' })).toBe('');
  });

  it('stops the clock once the job is over', () => {
    const running = status({ phase: 'running' });
    expect(statusWords(running, T0 + 12_000).elapsed).toBe('0:12');
    const over = status({ phase: 'done', endedAt: T0 + 5_000 });
    expect(statusWords(over, T0 + 60_000).elapsed).toBe('0:05');
    expect(
      statusLine(
        status({ phase: 'running', scheduler: 'slurm', schedulerId: '42' }),
        T0 + 3_000
      )
    ).toBe('Running on hpc · 0:03 · job j-1 · SLURM 42');
    expect(formatDuration(3723_000)).toBe('1:02:03');
  });
});
