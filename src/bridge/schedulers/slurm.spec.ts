import {
  parseJobcomp,
  parseSacct,
  parseSqueue,
  SlurmScheduler,
  slurmState
} from './slurm';
import { SchedulerError, type IJobSpec } from './types';
import {
  asTransport,
  fixtureReader,
  jobSpec,
  ScriptedTransport
} from '../../../tests/support/schedulers';

const fixture = fixtureReader('slurm');
/** When the fixtures were recorded (their pending jobs' "no estimate" is a year later). */
const RECORDED = Date.parse('2026-11-28T13:15:00');

describe('SlurmScheduler.script', () => {
  const slurm = new SlurmScheduler();
  const cases: [string, Partial<IJobSpec>][] = [
    ['no options', {}],
    [
      'every option',
      {
        request: {
          partition: 'gpu',
          account: 'proj42',
          qos: 'high',
          time: '01:30:00',
          mem: '16G',
          cpus: 8,
          gpus: 2,
          constraint: 'a100&ib',
          name: 'train model'
        }
      }
    ],
    ['gpus as --gpus', { request: { gpus: 1 }, defaults: { gpuFlag: 'gpus' } }],
    [
      'cluster defaults with directives and setup',
      {
        defaults: {
          partition: 'batch',
          time: '2-00',
          mem: '500M',
          gpus: 1,
          directives: ['#SBATCH --exclusive', '#SBATCH --mail-type=NONE'],
          setup: ['module load cuda/12.4', 'export OMP_NUM_THREADS=1']
        }
      }
    ],
    [
      'request overrides defaults (gpus 0)',
      {
        request: { gpus: 0, partition: 'cpu' },
        defaults: { gpus: 4, partition: 'gpu' }
      }
    ],
    ['job dir with a space', { jobDir: '/home/o neil/.cb/jobs/cb-1' }]
  ];

  it.each(cases)('%s', (_name, over) => {
    expect(slurm.script(jobSpec(over))).toMatchSnapshot();
  });

  it('writes each resource as the directive sbatch expects', () => {
    const text = slurm.script(jobSpec(cases[1][1]));
    expect(text.split('\n')).toEqual(
      expect.arrayContaining([
        '#!/bin/bash',
        '#SBATCH --job-name=train_model',
        '#SBATCH --partition=gpu',
        '#SBATCH --account=proj42',
        '#SBATCH --qos=high',
        '#SBATCH --time=01:30:00',
        '#SBATCH --cpus-per-task=8',
        '#SBATCH --mem=16G',
        '#SBATCH --gres=gpu:2',
        '#SBATCH --constraint=a100&ib',
        `exec ${jobSpec().command}`
      ])
    );
    expect(text).not.toContain('--gpus=');
  });

  it('puts cluster directives after the generated ones and setup before exec', () => {
    const lines = slurm.script(jobSpec(cases[3][1])).split('\n');
    expect(lines.indexOf('#SBATCH --exclusive')).toBeGreaterThan(
      lines.indexOf('#SBATCH --gres=gpu:1')
    );
    expect(lines.indexOf('module load cuda/12.4')).toBeLessThan(
      lines.findIndex(l => l.startsWith('exec '))
    );
    expect(lines).toContain('#SBATCH --time=2-00');
  });

  it('omits GPUs when the cell asks for 0', () => {
    expect(slurm.script(jobSpec(cases[4][1]))).not.toMatch(/gres|gpus/);
  });

  it('is deterministic', () => {
    expect(slurm.script(jobSpec(cases[1][1]))).toBe(
      slurm.script(jobSpec(cases[1][1]))
    );
  });
});

describe('SlurmScheduler.explain / submit', () => {
  it('explains the exact submit command', () => {
    const plan = new SlurmScheduler().explain(
      jobSpec({ jobDir: '/home/a b/.cb/jobs/cb-%j' })
    );
    expect(plan.scriptPath).toBe('/home/a b/.cb/jobs/cb-%j/job.sh');
    expect(plan.command).toBe(
      "cd '/home/a b/.cb/jobs/cb-%j' && sbatch --parsable '--output=/home/a b/.cb/jobs/cb-%%j/scheduler.out'" +
        " '--error=/home/a b/.cb/jobs/cb-%%j/scheduler.err' job.sh"
    );
  });

  it('submits in one command with the script on stdin and returns the job id', () => {
    const t = new ScriptedTransport([
      [/sbatch/, { stdout: '4242\n', stderr: 'sbatch: warning: x\n' }]
    ]);
    const s = jobSpec();
    return new SlurmScheduler().submit(asTransport(t), s).then(result => {
      expect(result).toEqual({ schedulerId: '4242' });
      expect(t.commands).toHaveLength(1);
      expect(t.commands[0].stdin).toBe(new SlurmScheduler().script(s));
      expect(t.commands[0].command).toMatch(
        /^umask 077 && cat > .*job\.sh && .*sbatch --parsable .* \|\| \{ rc=\$\?; rm -rf -- /
      );
    });
  });

  it('accepts the federated "id;cluster" form', async () => {
    const t = new ScriptedTransport([[/sbatch/, { stdout: '77;cluster2\n' }]]);
    await expect(
      new SlurmScheduler().submit(asTransport(t), jobSpec())
    ).resolves.toEqual({ schedulerId: '77' });
  });

  it.each([
    ['sbatch-invalid-partition.txt', /invalid partition specified: nosuch/],
    [
      'sbatch-too-many-gpus.txt',
      /Requested node configuration is not available/
    ]
  ])("rejects with sbatch's own words (%s)", async (file, message) => {
    const t = new ScriptedTransport([
      [/sbatch/, { stderr: fixture(file), code: 1 }]
    ]);
    const err = await new SlurmScheduler()
      .submit(asTransport(t), jobSpec())
      .catch(e => e);
    expect(err).toBeInstanceOf(SchedulerError);
    expect(err.reason).toBe('rejected');
    expect(err.message).toMatch(message);
  });
});

describe('SLURM state parsing (recorded from the test cluster)', () => {
  it('reads every job squeue listed, with node, pending reason and exit codes', () => {
    const states = parseSqueue(fixture('squeue.txt'), RECORDED);
    expect(Object.fromEntries(states)).toEqual({
      '9': { state: 'ended', end: 'completed', exitCode: 0 },
      '10': {
        state: 'ended',
        end: 'failed',
        exitCode: 3,
        reason: 'exit code 3'
      },
      '11': {
        state: 'ended',
        end: 'failed',
        exitCode: 137,
        reason: 'JobLaunchFailure, killed by signal 9 (SIGKILL)'
      },
      '12': { state: 'running', node: 'vm' },
      '13': { state: 'running', node: 'vm' },
      '14': { state: 'pending', reason: 'Resources' },
      '18': { state: 'pending', reason: 'Priority' },
      '16': {
        state: 'ended',
        end: 'cancelled',
        exitCode: 0,
        reason:
          'Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions'
      }
    });
  });

  it('reads a TIMEOUT', () => {
    const states = [
      ...parseSqueue(fixture('squeue-timeout.txt'), RECORDED).values()
    ];
    expect(states).toEqual([
      expect.objectContaining({
        state: 'ended',
        end: 'timeout',
        reason: 'TimeLimit'
      })
    ]);
  });

  it('keeps a real expected start, drops the "a year from now" placeholder', () => {
    const now = Date.parse('2026-11-28T13:00:00');
    const line = (start: string) => `5|PENDING||${start}|0|Priority|`;
    expect(parseSqueue(line('2026-11-28T13:30:00'), now).get('5')).toEqual({
      state: 'pending',
      reason: 'Priority',
      expectedStart: '2026-11-28T13:30:00'
    });
    expect(parseSqueue(line('2027-11-28T13:00:00'), now).get('5')).toEqual({
      state: 'pending',
      reason: 'Priority'
    });
    expect(parseSqueue(line('N/A'), now).get('5')).toEqual({
      state: 'pending',
      reason: 'Priority'
    });
  });

  it('reads the jobcomp/filetxt log (no accounting)', () => {
    const states = parseJobcomp(fixture('jobcomp.txt'));
    expect(states.get('9')).toEqual({
      state: 'ended',
      end: 'completed',
      exitCode: 0
    });
    expect(states.get('10')).toEqual({
      state: 'ended',
      end: 'failed',
      exitCode: 3,
      reason: 'exit code 3'
    });
    expect(states.get('11')).toEqual({
      state: 'ended',
      end: 'failed',
      exitCode: 137,
      reason: 'killed by signal 9 (SIGKILL)'
    });
    expect(states.get('16')).toEqual({
      state: 'ended',
      end: 'cancelled',
      exitCode: 0
    });
    expect(
      [...states.values()].some(s => s.state === 'ended' && s.end === 'timeout')
    ).toBe(true);
  });

  it('reads sacct, and nothing from its "accounting disabled" answer', () => {
    expect(parseSacct(fixture('sacct-disabled.txt')).size).toBe(0);
    const text = [
      '101|COMPLETED|0:0|n1|None',
      '102|CANCELLED by 1001|0:15|n2|None',
      '103|OUT_OF_MEMORY|0:125|n3|OutOfMemory',
      '104|NODE_FAIL|1:0|n4|NodeDown',
      '105|TIMEOUT|0:15|n5|TimeLimit',
      '106|PENDING|0:0|None assigned|QOSMaxJobsPerUserLimit'
    ].join('\n');
    expect(Object.fromEntries(parseSacct(text))).toEqual({
      '101': { state: 'ended', end: 'completed', exitCode: 0 },
      '102': { state: 'ended', end: 'cancelled', exitCode: 143 },
      '103': {
        state: 'ended',
        end: 'out_of_memory',
        exitCode: 253,
        reason: 'OutOfMemory'
      },
      '104': {
        state: 'ended',
        end: 'node_fail',
        exitCode: 1,
        reason: 'NodeDown'
      },
      '105': {
        state: 'ended',
        end: 'timeout',
        exitCode: 143,
        reason: 'TimeLimit'
      },
      '106': { state: 'pending', reason: 'QOSMaxJobsPerUserLimit' }
    });
  });

  it('a site without EnforcePartLimits: a job no partition can run stays pending with its reason', () => {
    const text = [
      '20|PENDING||N/A|0|PartitionNodeLimit|',
      '21|PENDING||N/A|0|PartitionConfig|'
    ].join('\n');
    expect(Object.fromEntries(parseSqueue(text, RECORDED))).toEqual({
      '20': { state: 'pending', reason: 'PartitionNodeLimit' },
      '21': { state: 'pending', reason: 'PartitionConfig' }
    });
  });

  it('maps the other SLURM states', () => {
    expect(slurmState('COMPLETING', { node: 'n1' })).toEqual({
      state: 'running',
      node: 'n1'
    });
    expect(slurmState('CONFIGURING', {})).toEqual({
      state: 'pending',
      reason: 'Configuring'
    });
    expect(slurmState('SUSPENDED', {})).toEqual({
      state: 'pending',
      reason: 'Suspended'
    });
    expect(slurmState('PREEMPTED', {})).toEqual({
      state: 'ended',
      end: 'cancelled',
      reason: 'PREEMPTED'
    });
    expect(slurmState('BOOT_FAIL', {})).toEqual({
      state: 'ended',
      end: 'node_fail',
      reason: 'BOOT_FAIL'
    });
    expect(slurmState('DEADLINE', {})).toEqual({
      state: 'ended',
      end: 'timeout',
      reason: 'DEADLINE'
    });
    expect(slurmState('WHATEVER', {})).toEqual({ state: 'unknown' });
  });
});

describe('SlurmScheduler.states', () => {
  it('asks squeue once for all jobs, and never again for ended ones', async () => {
    const t = new ScriptedTransport([
      [/^squeue/, { stdout: fixture('squeue.txt') }]
    ]);
    const slurm = new SlurmScheduler();
    const first = await slurm.states(asTransport(t), ['9', '12', '14']);
    expect(t.commands).toHaveLength(1);
    expect(t.commands[0].command).toBe(
      "squeue -h -t all -j 9,12,14 -O 'JobID:|,State:|,NodeList:|,StartTime:|,exit_code:|,Reason:|'"
    );
    expect(first.get('9')).toMatchObject({ state: 'ended', end: 'completed' });
    await slurm.states(asTransport(t), ['9', '12', '14']);
    expect(t.commands[1].command).toContain('-j 12,14 ');
  });

  it('looks up jobs squeue forgot in sacct, then the jobcomp log, in one more call', async () => {
    const t = new ScriptedTransport([
      [
        /^squeue/,
        { stderr: 'slurm_load_jobs error: Invalid job id specified\n', code: 1 }
      ],
      [
        /sacct/,
        {
          stdout:
            '@@CB sacct@@\nSlurm accounting storage is disabled\n@@CB jobcomp@@\n' +
            fixture('jobcomp.txt')
        }
      ]
    ]);
    const states = await new SlurmScheduler().states(asTransport(t), ['10']);
    expect(states.get('10')).toEqual({
      state: 'ended',
      end: 'failed',
      exitCode: 3,
      reason: 'exit code 3'
    });
    expect(t.commands).toHaveLength(2);
    expect(t.commands[1].command).toContain("grep -E '^JobId=(10) '");
  });

  it('says unknown for a job nobody remembers', async () => {
    const t = new ScriptedTransport([[/^squeue/, { stdout: '' }]]);
    const states = await new SlurmScheduler().states(asTransport(t), ['99999']);
    expect(states.get('99999')).toEqual({ state: 'unknown' });
  });

  it("fails with squeue's words when the controller is down", async () => {
    const t = new ScriptedTransport([
      [
        /^squeue/,
        {
          stderr:
            'slurm_load_jobs error: Unable to contact slurm controller (connect failure)',
          code: 1
        }
      ]
    ]);
    await expect(
      new SlurmScheduler().states(asTransport(t), ['1', '2'])
    ).rejects.toThrow(/Unable to contact slurm controller/);
  });

  it('refuses ids that are not SLURM job ids', async () => {
    const t = new ScriptedTransport([]);
    await expect(
      new SlurmScheduler().states(asTransport(t), ['1; rm -rf ~'])
    ).rejects.toThrow(/not a SLURM job id/);
    expect(t.commands).toHaveLength(0);
  });
});

describe('SlurmScheduler.cancel', () => {
  it('runs scancel and tolerates a job that already ended', async () => {
    const t = new ScriptedTransport([
      [
        /scancel 5$/,
        {
          stderr:
            'scancel: error: Kill job error on job id 5: Job/step already completing or completed',
          code: 1
        }
      ],
      [
        /scancel 6$/,
        {
          stderr:
            'scancel: error: Kill job error on job id 6: Access/permission denied',
          code: 1
        }
      ]
    ]);
    const slurm = new SlurmScheduler();
    await slurm.cancel(asTransport(t), '4', '/x/jobs/a');
    await slurm.cancel(asTransport(t), '5', '/x/jobs/a');
    await expect(
      slurm.cancel(asTransport(t), '6', '/x/jobs/a')
    ).rejects.toThrow(/permission denied/);
    expect(t.commands.map(c => c.command)).toEqual([
      'scancel 4',
      'scancel 5',
      'scancel 6'
    ]);
  });
});
