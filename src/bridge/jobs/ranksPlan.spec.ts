import { jobSpec } from '../../../tests/support/schedulers';
import { SgeScheduler } from '../schedulers/sge';
import { SlurmScheduler } from '../schedulers/slurm';
import {
  checkDistributed,
  isDistributed,
  outsideSessionNotice,
  refuseInSession,
  ranksShape
} from './ranksPlan';

describe('ranksPlan', () => {
  it('ranks = nodes x tasks per node; tasks default to the GPUs per node, else 1', () => {
    expect(ranksShape({ gpus: 2 })).toBeUndefined();
    expect(ranksShape({ nodes: 2, gpusPerNode: 4 })?.worldSize).toBe(8);
    expect(ranksShape({ nodes: 3 })?.worldSize).toBe(3);
    expect(ranksShape({ gpusPerNode: 4, tasksPerNode: 1 })?.worldSize).toBe(1);
    expect(isDistributed({ launch: 'torchrun' })).toBe(true);
  });

  it('refuses what a scheduler cannot run, before anything runs', () => {
    expect(() => checkDistributed('direct', { nodes: 2 })).toThrow(
      /--nodes 2 needs a scheduler: a direct host is one machine/
    );
    expect(() =>
      checkDistributed('direct', { tasksPerNode: 2, launch: 'srun' })
    ).toThrow(/--launch srun needs a SLURM cluster/);
    expect(() => checkDistributed('sge', { tasksPerNode: 2 })).toThrow(
      /on Grid Engine needs the cluster's parallel environment: set defaults.parallelEnvironment/
    );
    const pe = { parallelEnvironment: 'mpi' };
    expect(() =>
      checkDistributed('sge', { tasksPerNode: 2 }, pe)
    ).not.toThrow();
    expect(() => checkDistributed('sge', { nodes: 2 }, pe)).toThrow(
      /--nodes 2 on Grid Engine needs --launch mpirun/
    );
    expect(() =>
      checkDistributed('sge', { nodes: 2, launch: 'mpirun' }, pe)
    ).not.toThrow();
    expect(() => checkDistributed('sge', { gpusPerNode: 1 }, pe)).toThrow(
      /--gpus-per-node is not supported on Grid Engine yet/
    );
    expect(() => checkDistributed('pbs', { nodes: 2 })).toThrow(
      /--nodes 2 on PBS needs --launch mpirun or torchrun/
    );
    expect(() =>
      checkDistributed('pbs', { tasksPerNode: 2, launch: 'srun' })
    ).toThrow(
      /--launch srun needs a SLURM cluster \(this one's scheduler is pbs\)/
    );
    for (const launch of ['mpirun', 'torchrun'] as const) {
      expect(() =>
        checkDistributed('pbs', { nodes: 2, gpusPerNode: 2, launch })
      ).not.toThrow();
    }
    expect(() => checkDistributed('pbs', { tasksPerNode: 2 })).not.toThrow();
    expect(() => checkDistributed('direct', { tasksPerNode: 2 })).not.toThrow();
    expect(() =>
      checkDistributed('slurm', {
        nodes: 2,
        gpusPerNode: 1,
        launch: 'torchrun'
      })
    ).not.toThrow();
    expect(() => checkDistributed('sge', { gpus: 1 })).not.toThrow();
    try {
      checkDistributed('direct', { nodes: 2 });
    } catch (err) {
      expect((err as Error).name).toBe('UsageError');
    }
  });

  it('asks SLURM for the nodes, tasks per node and GPUs per node', () => {
    const slurm = new SlurmScheduler();
    const script = slurm.script(
      jobSpec({ request: { nodes: 2, gpusPerNode: 2, cpus: 4 } })
    );
    expect(script).toContain(
      '#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=2\n'
    );
    expect(script).toContain('#SBATCH --gres=gpu:2\n');
    expect(script).toContain('#SBATCH --cpus-per-task=4\n');
    expect(script).not.toContain('--ntasks=1');
    const gpus = slurm.script(
      jobSpec({
        request: { nodes: 1, tasksPerNode: 3, gpusPerNode: 1 },
        defaults: { gpuFlag: 'gpus', gpus: 8 }
      })
    );
    expect(gpus).toContain(
      '#SBATCH --ntasks-per-node=3\n#SBATCH --gpus-per-node=1\n'
    );
    expect(gpus).not.toContain('--gpus=8');
    const single = slurm.script(jobSpec({ request: { gpus: 1 } }));
    expect(single).toContain('#SBATCH --nodes=1\n#SBATCH --ntasks=1\n');
  });

  it("asks Grid Engine for the ranks' slots from the cluster's parallel environment", () => {
    const sge = new SgeScheduler();
    const defaults = { parallelEnvironment: 'mpi' };
    const script = sge.script(
      jobSpec({ request: { tasksPerNode: 2, cpus: 2, mem: '4G' }, defaults })
    );
    expect(script).toContain('#$ -pe mpi 4\n');
    expect(script).toContain('#$ -l h_vmem=1G\n');
    expect(script).not.toContain('-pe smp');
    expect(sge.script(jobSpec({ request: { cpus: 2 }, defaults }))).toContain(
      '#$ -pe smp 2\n'
    );
  });

  it('a session cannot ask for ranks', () => {
    expect(() => refuseInSession({ nodes: 2 })).toThrow(
      /a session is one Python process/
    );
    expect(() => refuseInSession({ gpus: 2 })).not.toThrow();
  });

  it('a cell of a notebook with a session says it runs outside it', () => {
    expect(outsideSessionNotice({ tasksPerNode: 2, nodes: 2 })).toMatch(
      /one-off job of 4 ranks, outside the notebook's session/
    );
  });
});
