import { parseQstatJson, parseQstatText, pbsEnd, PbsScheduler } from './pbs';
import { SchedulerError, type IJobSpec } from './types';
import {
  asTransport,
  fixtureReader,
  jobSpec,
  ScriptedTransport
} from '../../../tests/support/schedulers';

const fixture = fixtureReader('pbs');

describe('PbsScheduler.script', () => {
  const pbs = new PbsScheduler();
  const cases: [string, Partial<IJobSpec>][] = [
    ['no options', {}],
    [
      'every option',
      {
        request: {
          partition: 'gpuq',
          account: 'proj42',
          time: '1-00:00:00',
          mem: '1.5G',
          cpus: 8,
          gpus: 2,
          constraint: 'gpu_model=a100',
          name: 'demo'
        }
      }
    ],
    [
      'defaults with directives and setup',
      {
        defaults: {
          mem: '64G',
          directives: ['#PBS -l place=excl'],
          setup: ['module load cuda']
        }
      }
    ]
  ];

  it.each(cases)('%s', (_name, over) => {
    expect(pbs.script(jobSpec(over))).toMatchSnapshot();
  });

  it('asks for one chunk with ncpus, ngpus and mem, and a walltime', () => {
    const lines = pbs.script(jobSpec(cases[1][1])).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '#PBS -N demo',
        '#PBS -q gpuq',
        '#PBS -A proj42',
        '#PBS -l walltime=24:00:00',
        '#PBS -l select=1:ncpus=8:ngpus=2:mem=1536mb:gpu_model=a100'
      ])
    );
    expect(() => pbs.script(jobSpec({ request: { qos: 'high' } }))).toThrow(
      /qos high: PBS has no QOS/
    );
    expect(pbs.script(jobSpec())).toContain('#PBS -l select=1:ncpus=1\n');
  });

  it('asks for one chunk a node with the ranks as MPI slots, scattered', () => {
    const script = pbs.script(
      jobSpec({
        request: {
          nodes: 2,
          gpusPerNode: 4,
          cpus: 8,
          mem: '64G',
          constraint: 'gpu_model=a100'
        },
        defaults: { gpus: 1 }
      })
    );
    expect(script).toContain(
      '#PBS -l select=2:ncpus=32:mpiprocs=4:ngpus=4:mem=64gb:gpu_model=a100\n#PBS -l place=scatter\n'
    );
    const tasks = pbs.script(
      jobSpec({ request: { tasksPerNode: 3, launch: 'mpirun' } })
    );
    expect(tasks).toContain(
      '#PBS -l select=1:ncpus=3:mpiprocs=3\n#PBS -l place=scatter\n'
    );
    const single = pbs.script(jobSpec({ request: { gpus: 2 } }));
    expect(single).toContain('#PBS -l select=1:ncpus=1:ngpus=2\n');
    expect(single).not.toMatch(/mpiprocs|place=scatter/);
  });

  it('explains the submit command', () => {
    expect(pbs.explain(jobSpec()).command).toBe(
      'cd /home/alice/.cluster-bridge/jobs/cb-20261128-abc123 && qsub' +
        ' -o /home/alice/.cluster-bridge/jobs/cb-20261128-abc123/scheduler.out' +
        ' -e /home/alice/.cluster-bridge/jobs/cb-20261128-abc123/scheduler.err job.sh'
    );
  });
});

describe('PbsScheduler.submit', () => {
  it('returns the full job id', async () => {
    const t = new ScriptedTransport([[/qsub/, { stdout: '1234.pbs-head\n' }]]);
    await expect(
      new PbsScheduler().submit(asTransport(t), jobSpec())
    ).resolves.toEqual({ schedulerId: '1234.pbs-head' });
  });

  it("rejects with qsub's words", async () => {
    const t = new ScriptedTransport([
      [/qsub/, { stderr: 'qsub: Unknown queue\n', code: 168 }]
    ]);
    const err = await new PbsScheduler()
      .submit(asTransport(t), jobSpec())
      .catch(e => e);
    expect(err).toBeInstanceOf(SchedulerError);
    expect(err.message).toBe('qsub: Unknown queue');
  });
});

describe('PBS state parsing (published output formats)', () => {
  it('reads running jobs and their first execution host', () => {
    const states = parseQstatJson(JSON.parse(fixture('qstat-running.json')), [
      '1008',
      '12860476.pbs-head',
      '77'
    ]);
    expect(Object.fromEntries(states)).toEqual({
      '1008': { state: 'running', node: 'node07' },
      '12860476.pbs-head': { state: 'running', node: 'node24' }
    });
  });

  it('reads queued, held, finished and exiting jobs', () => {
    const ids = [
      '2001',
      '2002',
      '2003',
      '2004',
      '2005',
      '2006',
      '2007',
      '2008',
      '2009'
    ].map(i => `${i}.pbs-head`);
    const states = parseQstatJson(JSON.parse(fixture('qstat-mixed.json')), ids);
    expect(ids.map(id => states.get(id))).toEqual([
      {
        state: 'pending',
        reason: 'Insufficient amount of resource: ngpus (R: 4 A: 2 T: 8)',
        expectedStart: 'Thu Nov 28 14:05:00 2024'
      },
      { state: 'pending', reason: 'held' },
      { state: 'ended', end: 'completed', exitCode: 0 },
      { state: 'ended', end: 'failed', exitCode: 3, reason: 'exit code 3' },
      {
        state: 'ended',
        end: 'timeout',
        exitCode: -29,
        reason: 'walltime limit exceeded (JOB_EXEC_KILL_WALLTIME)'
      },
      {
        state: 'ended',
        end: 'cancelled',
        exitCode: 271,
        reason: 'killed by signal 15 (SIGTERM)'
      },
      {
        state: 'ended',
        end: 'out_of_memory',
        exitCode: -27,
        reason: 'mem limit exceeded (JOB_EXEC_KILL_MEM)'
      },
      {
        state: 'ended',
        end: 'node_fail',
        exitCode: -20,
        reason: 'the mother superior node went down (JOB_EXEC_RERUN_MS_FAIL)'
      },
      { state: 'running', node: 'node11' }
    ]);
  });

  it('reads the text form (Torque), continuation lines included', () => {
    const ids = [
      '4242.torque-head.example.org',
      '4243',
      '4244.torque-head.example.org'
    ];
    const states = parseQstatText(fixture('qstat-f.txt'), ids);
    expect(ids.map(id => states.get(id))).toEqual([
      { state: 'ended', end: 'completed', exitCode: 0 },
      { state: 'pending' },
      {
        state: 'ended',
        end: 'timeout',
        exitCode: 137,
        reason: 'walltime 00:10:00 exceeded'
      }
    ]);
  });

  it("knows Torque's own negative codes", () => {
    expect(pbsEnd(-11, { exit_status: '-11' })).toMatchObject({
      end: 'timeout'
    });
    expect(pbsEnd(-11, { Exit_status: -11 })).toMatchObject({
      end: 'node_fail'
    });
    expect(pbsEnd(undefined)).toMatchObject({ end: 'lost' });
  });
});

describe('PbsScheduler.states', () => {
  it('uses qstat -x -f -F json in one call', async () => {
    const t = new ScriptedTransport([
      [
        /-F json/,
        {
          stdout: fixture('qstat-mixed.json'),
          stderr: fixture('qstat-unknown.txt'),
          code: 153
        }
      ]
    ]);
    const states = await new PbsScheduler().states(asTransport(t), [
      '2003.pbs-head',
      '2999.pbs-head'
    ]);
    expect(t.commands).toHaveLength(1);
    expect(t.commands[0].command).toBe(
      'qstat -x -f -F json 2003.pbs-head 2999.pbs-head'
    );
    expect(states.get('2003.pbs-head')).toMatchObject({ end: 'completed' });
    expect(states.get('2999.pbs-head')).toEqual({ state: 'unknown' });
  });

  it('falls back to the text form where -F json is not understood, and stays there', async () => {
    const t = new ScriptedTransport([
      [
        /-F json/,
        { stderr: "qstat: invalid option -- 'F'\nusage: ...", code: 2 }
      ],
      [/^qstat -f /, { stdout: fixture('qstat-f.txt') }]
    ]);
    const pbs = new PbsScheduler();
    const first = await pbs.states(asTransport(t), ['4243']);
    expect(first.get('4243')).toEqual({ state: 'pending' });
    await pbs.states(asTransport(t), ['4243']);
    expect(
      t.commands.map(c => c.command.split(' ').slice(0, 3).join(' '))
    ).toEqual(['qstat -x -f', 'qstat -f 4243', 'qstat -f 4243']);
  });
});
