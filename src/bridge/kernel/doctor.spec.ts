import type { IResolvedCluster } from '../../shared/config';
import { checklist, createDoctor, formatBytes, IAgentFacts } from './doctor';

const runtime = {
  python: '/w/venv1/bin/python',
  pythonVersion: '3.6.8',
  notices: [] as string[]
};
const cluster = (scheduler?: 'slurm' | 'sge' | 'direct'): IResolvedCluster => ({
  name: 'c',
  source: 'file',
  config: { type: 'ssh', host: 'h', scheduler }
});
/** A prepared cluster whose agent answers through `exec`. */
const preparedWith = (
  exec: (
    command: string
  ) => Promise<{ stdout: string; stderr: string; code: number }>
) => ({
  prepareCluster: async () => ({
    ...runtime,
    workDir: '/w',
    runtimeDir: '/w/runtime/x',
    agent: 'python agent.py',
    transport: { exec } as never
  })
});
const byCheck = (lines: { check: string; verdict: string; detail: string }[]) =>
  Object.fromEntries(lines.map(l => [l.check, `${l.verdict}: ${l.detail}`]));

describe('doctor checklist', () => {
  it('a GPU host with conda and SLURM passes', () => {
    const facts: IAgentFacts = {
      hostname: 'login1',
      venv: { ok: true, ensurepip: true },
      conda: '/opt/conda/bin/conda',
      schedulers: {
        sbatch: '/usr/bin/sbatch',
        squeue: '/usr/bin/squeue',
        scancel: '/usr/bin/scancel',
        sacct: '/usr/bin/sacct'
      },
      nvidiaSmi: {
        path: '/usr/bin/nvidia-smi',
        gpus: [{ name: 'NVIDIA A100', memoryTotal: 80 * 2 ** 30 }]
      },
      diskFree: 100 * 2 ** 30
    };
    const lines = checklist(cluster('slurm'), runtime, facts);
    expect(lines.every(l => l.verdict === 'ok')).toBe(true);
    expect(byCheck(lines)).toMatchObject({
      python: 'ok: Python 3.6.8 on login1 (VENV1: /w/venv1/bin/python)',
      conda: 'ok: /opt/conda/bin/conda',
      scheduler:
        'ok: slurm: /usr/bin/sbatch, /usr/bin/squeue, /usr/bin/scancel',
      gpus: 'ok: 1: NVIDIA A100 (80 GiB)'
    });
  });

  it('flags a missing scheduler, no venv and no conda, and warns for the rest', () => {
    const facts: IAgentFacts = {
      venv: { ok: false, error: 'No module named venv' },
      conda: null,
      schedulers: { qsub: null, qstat: '/usr/bin/qstat', qdel: null },
      nvidiaSmi: null,
      diskFree: 10 * 2 ** 20
    };
    const lines = checklist(
      cluster('sge'),
      { ...runtime, notices: ['venv unavailable: using the system Python'] },
      facts
    );
    expect(byCheck(lines)).toMatchObject({
      venv: 'fail: venv module unavailable: No module named venv',
      conda: expect.stringMatching(/^warn: not found/),
      scheduler: 'fail: sge: not found on the host: qsub, qdel',
      gpus: expect.stringMatching(/^skip: none on the login node/),
      disk: 'warn: only 10 MiB free in the work dir',
      notice: 'warn: venv unavailable: using the system Python'
    });
  });

  it('warns about missing sacct and GPUs on a direct host', () => {
    const slurm = checklist(cluster('slurm'), runtime, {
      venv: { ok: true },
      schedulers: { sbatch: 'a', squeue: 'b', scancel: 'c', sacct: null }
    });
    expect(byCheck(slurm).accounting).toMatch(/^warn: sacct not found/);
    const direct = checklist(cluster(), runtime, {
      venv: { ok: true },
      nvidiaSmi: { path: '/x', gpus: { error: 'driver mismatch' } }
    });
    expect(byCheck(direct).gpus).toBe(
      'warn: nvidia-smi failed: driver mismatch'
    );
  });

  it('says which env kind VENV2 gets and why, where it is built, and what the work dir holds', () => {
    const facts: IAgentFacts = {
      venv: { ok: true },
      schedulers: { sbatch: 'a', squeue: 'b', scancel: 'c', sacct: 'd' },
      envChoice: {
        kind: 'conda',
        envKind: 'auto',
        why: 'Environment kind: conda, because envKind is "auto" and conda was found at /opt/conda/bin/conda'
      },
      diskFree: 50 * 2 ** 30,
      sizes: {
        workDir: 3 * 2 ** 30,
        jobs: 20 * 2 ** 20,
        sessions: 0,
        envs: 2.9 * 2 ** 30,
        runtimes: 512 * 2 ** 10
      },
      cleanable: { count: 4, bytes: 300 * 2 ** 20 }
    };
    const lines = byCheck(checklist(cluster('slurm'), runtime, facts));
    expect(lines.env).toBe(
      'ok: conda, because envKind is "auto" and conda was found at /opt/conda/bin/conda; built on the login node before the job is submitted'
    );
    expect(lines['work dir']).toBe(
      'ok: 3.0 GiB (jobs 20 MiB, sessions 0 B, envs 2.9 GiB, runtimes 512 KiB), 50 GiB free; 4 past retention (300 MiB): %cluster clean c'
    );
    const compute: IResolvedCluster = {
      ...cluster('slurm'),
      config: { type: 'ssh', scheduler: 'slurm', buildEnvOn: 'compute' }
    };
    expect(byCheck(checklist(compute, runtime, facts)).env).toMatch(
      /built inside the job \(buildEnvOn "compute"\)$/
    );
    expect(formatBytes(1023)).toBe('1023 B');
  });

  it("asks the agent about the cluster's env kind", async () => {
    const commands: string[] = [];
    const doctor = createDoctor(
      preparedWith(async command => {
        commands.push(command);
        return { stdout: '{}', stderr: '', code: 0 };
      })
    );
    const venv: IResolvedCluster = {
      ...cluster(),
      config: { type: 'ssh', envKind: 'venv' }
    };
    await doctor(venv, undefined);
    expect(commands).toEqual([
      'python agent.py doctor --workdir /w --env-kind venv'
    ]);
  });

  it('a failed connection fails the first line and skips the rest', async () => {
    const doctor = createDoctor({
      prepareCluster: async () => {
        throw new Error('cannot connect to h:22: connection refused');
      }
    });
    const lines = await doctor(cluster(), undefined);
    expect(lines[0]).toEqual({
      check: 'connection',
      verdict: 'fail',
      detail: 'cannot connect to h:22: connection refused'
    });
    expect(lines.slice(1).every(l => l.verdict === 'skip')).toBe(true);
  });

  it('reports an agent that does not answer JSON', async () => {
    const doctor = createDoctor(
      preparedWith(async () => ({
        stdout: 'Traceback...',
        stderr: 'SyntaxError',
        code: 1
      }))
    );
    const lines = await doctor(cluster(), undefined);
    expect(lines.map(l => l.check)).toEqual(['connection', 'agent']);
    expect(lines[1]).toMatchObject({
      verdict: 'fail',
      detail: expect.stringContaining('SyntaxError')
    });
  });
});
