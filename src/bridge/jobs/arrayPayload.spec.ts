import type { IJobEvent } from '../../shared/events';
import { ArrayTracker, ELEMENT_OUTPUTS, ELEMENT_TEXT } from './arrayPayload';
import { arrayRefusals, rerunTemplate } from './arrayRun';
import { jobArray } from '../schedulers/script';
import { SlurmScheduler } from '../schedulers/slurm';
import { SgeScheduler } from '../schedulers/sge';
import { PbsScheduler } from '../schedulers/pbs';
import type { IJobSpec } from '../schedulers/types';
import { DirectScheduler } from '../schedulers/direct';
import type { IJobBundle } from './bundle';
import type { IOpenCluster } from './context';
import { dryRunText } from './submission';

let seq = 0;
const ev = (e: object): IJobEvent => ({ seq: ++seq, t: 0, ...e }) as IJobEvent;

const tracker = (values: (string | number)[], indexes?: number[]) =>
  new ArrayTracker({
    jobId: 'cb-a-1',
    cluster: 'hpc',
    spec: { name: 'lr', values },
    maxParallel: 2,
    indexes,
    rerun: rerunTemplate('cb-a-1')
  });

describe('ArrayTracker', () => {
  it('follows each element: running, outputs, last expression, end and time', () => {
    const t = tracker([0.1, 'adam']);
    expect(t.payload.elements.map(e => e.state)).toEqual([
      'pending',
      'pending'
    ]);
    t.handle(0, ev({ type: 'status', phase: 'running' }));
    t.handle(0, ev({ type: 'stream', name: 'stdout', text: 'a' }));
    t.handle(0, ev({ type: 'stream', name: 'stdout', text: 'b\n' }));
    t.handle(0, ev({ type: 'result', data: { 'text/plain': '0.2\nmore' } }));
    t.handle(0, ev({ type: 'done', state: 'completed', duration: 1.234 }));
    t.handle(1, ev({ type: 'status', phase: 'running' }));
    expect(t.running).toBe(true);
    expect(t.ended).toBe(false);
    const [a, b] = t.payload.elements;
    expect(a).toMatchObject({
      index: 0,
      value: 0.1,
      state: 'done',
      seconds: 1.2,
      last: '0.2'
    });
    expect(a.outputs).toEqual([
      { type: 'stream', name: 'stdout', text: 'ab\n' },
      { type: 'display', data: { 'text/plain': '0.2\nmore' } }
    ]);
    expect(b.state).toBe('running');
    expect(t.payload).toMatchObject({
      jobId: 'cb-a-1',
      cluster: 'hpc',
      name: 'lr',
      maxParallel: 2,
      rerun: '%cluster rerun cb-a-1 {index}'
    });
  });

  it('names the error of a failed element and lists it as failed', () => {
    const t = tracker([1, 2, 3]);
    t.handle(
      1,
      ev({
        type: 'error',
        ename: 'ValueError',
        evalue: 'bad lr',
        traceback: ['tb']
      })
    );
    t.handle(1, ev({ type: 'done', state: 'failed', exitCode: 1 }));
    t.handle(
      2,
      ev({
        type: 'done',
        state: 'out_of_memory',
        reason: 'memory limit 1G reached'
      })
    );
    expect(t.failed.map(e => [e.index, e.error])).toEqual([
      [1, 'ValueError: bad lr'],
      [2, 'memory limit 1G reached']
    ]);
    // An element ends once: events after its `done` change nothing.
    expect(
      t.handle(1, ev({ type: 'stream', name: 'stdout', text: 'late' }))
    ).toBe(false);
  });

  it('ends the elements without an end as cancelled or lost', () => {
    const t = tracker([1, 2]);
    t.handle(0, ev({ type: 'done', state: 'completed' }));
    t.endRest('cancelled', 'cancelled before it recorded its end');
    expect(t.ended).toBe(true);
    expect(t.payload.elements.map(e => e.state)).toEqual(['done', 'cancelled']);
    expect(t.failed).toEqual([]);
  });

  it('keeps each element bounded: at most ELEMENT_OUTPUTS outputs and ELEMENT_TEXT characters', () => {
    const t = tracker([1]);
    for (let i = 0; i < ELEMENT_OUTPUTS + 7; i++) {
      t.handle(0, ev({ type: 'display', data: { 'text/plain': String(i) } }));
    }
    let e = t.payload.elements[0];
    expect(e.outputs).toHaveLength(ELEMENT_OUTPUTS);
    expect(e.dropped).toBe(7);
    const u = tracker([1]);
    u.handle(
      0,
      ev({ type: 'stream', name: 'stdout', text: 'x'.repeat(ELEMENT_TEXT) })
    );
    u.handle(0, ev({ type: 'stream', name: 'stdout', text: 'tail' }));
    e = u.payload.elements[0];
    expect(e.outputs).toEqual([
      {
        type: 'stream',
        name: 'stdout',
        text: 'x'.repeat(ELEMENT_TEXT - 4) + 'tail'
      }
    ]);
  });

  it('a display updated in place keeps its newest form', () => {
    const t = tracker([1]);
    t.handle(
      0,
      ev({ type: 'display', data: { 'text/plain': '10%' }, displayId: 'p' })
    );
    t.handle(
      0,
      ev({
        type: 'display',
        data: { 'text/plain': '90%' },
        displayId: 'p',
        update: true
      })
    );
    expect(t.payload.elements[0].outputs).toEqual([
      { type: 'display', data: { 'text/plain': '90%' } }
    ]);
  });

  it('summarizes as a table: index, value, state, time, last or error', () => {
    const t = tracker([0.1, 'two'], [4, 7]);
    t.handle(0, ev({ type: 'result', data: { 'text/plain': '0.2' } }));
    t.handle(0, ev({ type: 'done', state: 'completed', duration: 2 }));
    t.handle(
      1,
      ev({ type: 'error', ename: 'KeyError', evalue: "'x'", traceback: [] })
    );
    t.handle(1, ev({ type: 'done', state: 'failed', duration: 0.5 }));
    expect(t.summary()).toBe(
      [
        'Array cb-a-1 on hpc: 2 elements (1 done, 1 error)',
        'index  lr   state  time  last / error',
        '4      0.1  done   2s    0.2',
        "7      two  error  0.5s  KeyError: 'x'"
      ].join('\n')
    );
  });
});

describe('job arrays in job scripts', () => {
  const spec = (values: number[], maxParallel?: number): IJobSpec => ({
    id: 'cb-a-1',
    jobDir: '/home/u/.cluster-bridge/jobs/cb-a-1',
    command: 'agent array-element /home/u/.cluster-bridge/jobs/cb-a-1',
    request: { array: { name: 'lr', values }, maxParallel },
    defaults: {}
  });

  it('asks each scheduler for K elements, at most P at once', () => {
    expect(new SlurmScheduler().script(spec([1, 2, 3, 4], 2))).toContain(
      '#SBATCH --array=0-3%2\n'
    );
    expect(new SlurmScheduler().script(spec([1, 2, 3]))).toContain(
      '#SBATCH --array=0-2\n'
    );
    const sge = new SgeScheduler().script(spec([1, 2, 3, 4], 2));
    expect(sge).toContain('#$ -t 1-4\n');
    expect(sge).toContain('#$ -tc 2\n');
    expect(new PbsScheduler().script(spec([1, 2, 3]))).toContain(
      '#PBS -J 0-2\n'
    );
  });

  it('asks for no array for one element (a rerun), nor a limit that limits nothing', () => {
    expect(jobArray(spec([5]))).toBeUndefined();
    expect(new SlurmScheduler().script(spec([5]))).not.toContain('--array');
    expect(jobArray(spec([1, 2], 8))).toEqual({
      count: 2,
      maxParallel: undefined
    });
  });

  it('refuses what an array cell cannot do, before anything runs', () => {
    const array = { name: 'lr', values: [1, 2] };
    expect(() =>
      arrayRefusals('slurm', { array, detach: true }, false)
    ).toThrow('option --array cannot be combined with --detach');
    expect(() => arrayRefusals('direct', { array }, true)).toThrow(
      'option --array cannot be combined with --in or --out'
    );
    expect(() =>
      arrayRefusals('pbs', { array, maxParallel: 2 }, false)
    ).toThrow(/--max-parallel: PBS has no portable limit/);
    expect(() => arrayRefusals('pbs', { array }, false)).not.toThrow();
    expect(() => arrayRefusals('slurm', { detach: true }, true)).not.toThrow();
  });
});

describe('the dry run of an array on a direct host', () => {
  it('shows prepare then launch (the launcher starts the elements), not go', () => {
    const open = {
      agent: { python: '/v1/python', runtimeDir: '/w/runtime/h' },
      cluster: { name: 'box' }
    } as unknown as IOpenCluster;
    const spec: IJobSpec = {
      id: 'cb-a-1',
      jobDir: '/w/jobs/cb-a-1',
      command: '',
      agent: { python: '/v1/python', runtimeDir: '/w/runtime/h' },
      request: { array: { name: 'lr', values: [1, 2] } },
      defaults: {}
    };
    const text = dryRunText(open, new DirectScheduler(), spec, {
      request: spec.request
    } as IJobBundle);
    expect(text).toContain(
      '/w/runtime/h/agent.py prepare /w/jobs/cb-a-1\nPYTHONDONTWRITEBYTECODE= /v1/python -I -u /w/runtime/h/agent.py launch /w/jobs/cb-a-1\n'
    );
    expect(text).not.toContain(' go ');
  });
});
