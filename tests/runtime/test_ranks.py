"""Distributed launch (_cb_launchers, _cb_ranks): rank variables from each launcher, GPU
shares, local ranks through the agent with a real rendezvous, a failing rank, interrupt with no
orphans, and the clear errors (srun outside SLURM, torchrun/mpirun missing)."""
import json
import os
import shutil
import sys
import time
import unittest
from unittest import mock

from rt_helpers import TempDirCase, of_type, read_events, stream_text, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'src', 'runtime'))

import _cb_launchers  # noqa: E402
import _cb_ranks  # noqa: E402

# The script every launcher must start for a rank.
RANKS_FILE = os.path.join(REPO, 'src', 'runtime', '_cb_ranks.py')

with open(os.path.join(REPO, 'tests', 'integration', 'distributed', 'allreduce.py')) as f:
    ALLREDUCE = f.read()


def ranked(events, rank):
    return [e['event'] for e in events if e['type'] == 'rank' and e['rank'] == rank]


def fake_tools(tmp, names):
    """A bin folder in tmp with an empty executable per name (found on PATH, never run)."""
    bin_dir = os.path.join(tmp, 'bin')
    os.makedirs(bin_dir, exist_ok=True)
    for name in names:
        path = os.path.join(bin_dir, name)
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(path, 0o755)
    return bin_dir

class Shape(unittest.TestCase):
    def test_tasks_default_to_gpus_then_one(self):
        self.assertIsNone(_cb_launchers.shape({'gpus': 2}))
        self.assertEqual(_cb_launchers.shape({'nodes': 2, 'gpusPerNode': 4})['worldSize'], 8)
        self.assertEqual(_cb_launchers.shape({'nodes': 3})['worldSize'], 3)
        self.assertEqual(_cb_launchers.shape({'tasksPerNode': 2, 'gpusPerNode': 4})['worldSize'], 2)

    def test_rank_variables_from_each_launcher(self):
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 2, 'gpusPerNode': 2})
        base = {'CB_MASTER_ADDR': 'n1', 'CB_MASTER_PORT': '1234', 'CUDA_VISIBLE_DEVICES': '4,5'}
        for env in ({'SLURM_PROCID': '3', 'SLURM_LOCALID': '1'},
                    {'OMPI_COMM_WORLD_RANK': '3', 'OMPI_COMM_WORLD_LOCAL_RANK': '1'},
                    {'PMI_RANK': '3'}):
            env.update(base)
            got = _cb_launchers.rank_environment(env, plan)
            self.assertEqual((got['RANK'], got['LOCAL_RANK'], got['WORLD_SIZE'],
                              got['LOCAL_WORLD_SIZE'], got['MASTER_ADDR'], got['MASTER_PORT'],
                              got['CUDA_VISIBLE_DEVICES']),
                             ('3', '1', '4', '2', 'n1', '1234', '5'), env)
        with self.assertRaisesRegex(_cb_launchers.RanksError, 'no rank variable'):
            _cb_launchers.rank_environment(base, plan)

    def test_mpirun_inside_an_allocation_beats_the_batch_steps_slurm_rank(self):
        # The batch script's SLURM_PROCID=0 / SLURM_LOCALID=0 reach every rank mpirun starts.
        plan = _cb_launchers.shape({'tasksPerNode': 2, 'launch': 'mpirun'})
        for env in ({'OMPI_COMM_WORLD_RANK': '1', 'OMPI_COMM_WORLD_LOCAL_RANK': '1'},
                    {'PMIX_RANK': '1', 'MPI_LOCALRANKID': '1'}):
            env.update({'SLURM_PROCID': '0', 'SLURM_LOCALID': '0', 'CB_MASTER_ADDR': 'n1',
                        'CB_MASTER_PORT': '5'})
            got = _cb_launchers.rank_environment(env, plan)
            self.assertEqual((got['RANK'], got['LOCAL_RANK']), ('1', '1'), env)

    def test_torchrun_ranks_keep_the_nodes_gpus(self):
        plan = _cb_launchers.shape({'gpusPerNode': 2})
        got = _cb_launchers.rank_environment({'RANK': '1', 'LOCAL_RANK': '1', 'MASTER_ADDR': 'a',
                                          'MASTER_PORT': '9', 'TORCHELASTIC_RUN_ID': 'x',
                                          'CUDA_VISIBLE_DEVICES': '0,1'}, plan)
        self.assertNotIn('CUDA_VISIBLE_DEVICES', got)

    def test_gpu_shares(self):
        self.assertEqual(_cb_launchers.own_devices(['0', '1', '2', '3'], 1, 2), ['2', '3'])
        self.assertEqual(_cb_launchers.own_devices(['0'], 1, 2), ['0'])

    def test_launchers_that_cannot_run_here_are_clear_errors(self):
        plan = _cb_launchers.shape({'tasksPerNode': 2, 'launch': 'srun'})
        with self.assertRaisesRegex(_cb_launchers.RanksError, 'needs a SLURM allocation'):
            _cb_launchers.launch_kind(plan, {})
        with self.assertRaisesRegex(_cb_launchers.RanksError, '--nodes 2 needs a launcher'):
            _cb_launchers.launch_kind(_cb_launchers.shape({'nodes': 2}), {})
        empty = {'PATH': '/nonexistent'}
        for kind in ('torchrun', 'mpirun'):
            plan = _cb_launchers.shape({'tasksPerNode': 2, 'launch': kind})
            with mock.patch.object(_cb_launchers, 'ENV_BIN', '/nonexistent'), \
                    mock.patch.object(_cb_launchers, 'torch_importable', return_value=False), \
                    self.assertRaisesRegex(_cb_launchers.RanksError, '`%s` was not found in the '
                                           'cell\'s environment' % kind):
                _cb_launchers.command(kind, plan, '/j', ('a', 1), empty)


class Commands(TempDirCase):
    def setUp(self):
        super().setUp()
        # The tools of the interpreter running the tests (/usr/bin) must not count as VENV2's.
        env_bin = mock.patch.object(_cb_launchers, 'ENV_BIN', os.path.join(self.tmp, 'env-bin'))
        env_bin.start()
        self.addCleanup(env_bin.stop)

    def tools(self, *names):
        return {'PATH': fake_tools(self.tmp, names), 'SLURM_JOB_ID': '7'}

    def test_srun_starts_every_rank_and_ends_the_step_on_a_failure(self):
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 4})
        argv = _cb_launchers.command('srun', plan, '/j', ('n1', 5), self.tools('srun'))
        self.assertEqual(argv[:6], ['srun', '--nodes=2', '--kill-on-bad-exit=1',
                                    '--disable-status', '--ntasks=8', '--ntasks-per-node=4'])
        self.assertEqual(argv[-2:], ['rank', '/j'])

    def test_torchrun_runs_once_per_node_under_srun(self):
        plan = _cb_launchers.shape({'nodes': 2, 'gpusPerNode': 4, 'launch': 'torchrun'})
        env = self.tools('srun', 'torchrun')
        argv = _cb_launchers.command('torchrun', plan, '/w/jobs/cb-1', ('n1', 5), env)
        self.assertIn('--ntasks-per-node=1', argv)
        self.assertIn('--ntasks=2', argv)
        with mock.patch.object(_cb_launchers, 'torch_importable', return_value=False):
            argv = _cb_launchers.command('torchrun', plan, '/w/jobs/cb-1', ('n1', 5), env)
        tail = argv[argv.index(os.path.join(env['PATH'], 'torchrun')):]
        # Underscored flags (torch 1.x knows no dashed ones); the rank runs on our interpreter
        # whatever Python the torchrun script has.
        self.assertEqual(tail[1:6], ['--nnodes=2', '--nproc_per_node=4', '--rdzv_backend=c10d',
                                     '--rdzv_endpoint=n1:5', '--rdzv_id=cb-1'])
        # Redirect settings torch 1.13 on Python 3.11 can parse (its default 0 fails there).
        self.assertEqual(tail[6:9], ['--redirects=2', '--tee=2',
                                     '--log_dir=/w/jobs/cb-1/ranks/torchrun'])
        self.assertEqual(tail[9], '--no_python')
        self.assertEqual(tail[10:], [sys.executable, '-u', RANKS_FILE, 'rank',
                                    '/w/jobs/cb-1'])

    def test_torchrun_of_an_env_that_imports_torch_but_has_no_torchrun_script(self):
        # A venv seeing the system's torch: `python -m torch.distributed.run` of that venv,
        # before any torchrun on PATH (another Python's).
        plan = _cb_launchers.shape({'tasksPerNode': 2, 'launch': 'torchrun'})
        env = self.tools('torchrun')
        del env['SLURM_JOB_ID']
        with mock.patch.object(_cb_launchers, 'torch_importable', return_value=True):
            argv = _cb_launchers.command('torchrun', plan, '/w/jobs/cb-2', ('n1', 5), env)
        self.assertEqual(argv[:4], [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1'])
        with mock.patch.object(_cb_launchers, 'torch_importable', return_value=False):
            argv = _cb_launchers.command('torchrun', plan, '/w/jobs/cb-2', ('n1', 5), env)
        self.assertEqual(argv[0], os.path.join(env['PATH'], 'torchrun'))
        # The env's own torchrun script comes first.
        own = os.path.join(_cb_launchers.ENV_BIN, 'torchrun')
        os.makedirs(_cb_launchers.ENV_BIN)
        with open(own, 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(own, 0o755)
        with mock.patch.object(_cb_launchers, 'torch_importable', return_value=True):
            argv = _cb_launchers.command('torchrun', plan, '/w/jobs/cb-2', ('n1', 5), env)
        self.assertEqual(argv[0], own)

    def test_open_mpi_as_root_is_refused_unless_its_variables_allow_it(self):
        plan = _cb_launchers.shape({'tasksPerNode': 2, 'launch': 'mpirun'})
        env = self.tools('mpirun', 'ompi_info')
        with mock.patch.object(_cb_launchers.os, 'geteuid', return_value=0):
            with self.assertRaisesRegex(_cb_launchers.RanksError,
                                        'Open MPI refuses to run as root.*'
                                        'export OMPI_ALLOW_RUN_AS_ROOT=1 '
                                        'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1$'):
                _cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env)
            env.update({'OMPI_ALLOW_RUN_AS_ROOT': '1', 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM': '1'})
            self.assertEqual(_cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env)[1:3],
                             ['-np', '2'])
            # Another MPI (no ompi_info beside its mpirun) is not Open MPI's business.
            os.remove(os.path.join(env['PATH'], 'ompi_info'))
            del env['OMPI_ALLOW_RUN_AS_ROOT']
            self.assertEqual(_cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env)[1:3],
                             ['-np', '2'])
        with mock.patch.object(_cb_launchers.os, 'geteuid', return_value=1000):
            self.tools('ompi_info')
            self.assertEqual(_cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env)[1:3],
                             ['-np', '2'])

    def test_a_launchers_message_is_summed_up_by_its_last_line_with_words(self):
        banner = 'mpirun has detected an attempt to run as root.\n\n---------\n'
        self.assertEqual(_cb_ranks.summary_line(banner),
                         'mpirun has detected an attempt to run as root.')
        self.assertEqual(_cb_ranks.summary_line('a\nb'), 'b')

    def test_mpirun_places_tasks_per_node(self):
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 3, 'launch': 'mpirun'})
        env = self.tools('mpirun')
        argv = _cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env)
        self.assertEqual(argv[1:5], ['-np', '6', '--map-by', 'ppr:3:node'])


class LocalRanks(TempDirCase):
    def go(self, code, request, name='job', wait=True):
        jobdir = self.jobdir(name)
        out = self.agent('prepare', jobdir, input=self.bundle(code, request=request))
        self.assertEqual(out.returncode, 0, out.stderr)
        pid = json.loads(self.agent('launch', jobdir).stdout.decode())['pid']
        if not wait:
            return jobdir, pid
        self.assertTrue(wait_for(lambda: of_type(read_events(jobdir), 'done'), 90))
        self.assertGroupsGone(pid)
        return jobdir, read_events(jobdir)

    def test_two_local_ranks_rendezvous_rank0_inline_rank1_wrapped(self):
        jobdir, events = self.go(ALLREDUCE, {'tasksPerNode': 2, 'gpusPerNode': 1})
        self.assertDone(events, 'completed')
        self.assertSeqOk(events)
        head = of_type(events, 'ranks')[0]
        self.assertEqual((head['worldSize'], head['launch']), (2, 'local'))
        self.assertIn('rank 0/2 local 0', stream_text(events))
        self.assertIn('allreduce 3 cvd=0', stream_text(events))
        one = ranked(events, 1)
        self.assertIn('rank 1/2 local 1', stream_text(one))
        self.assertIn('allreduce 3', stream_text(one))
        self.assertEqual([e['state'] for e in one if e['type'] == 'rank-end'], ['done'])
        self.assertEqual(ranked(events, 0)[0]['type'], 'rank-start')

    def test_a_failing_rank_fails_the_cell_with_its_traceback_and_stops_the_others(self):
        code = ('import os, time\nif os.environ["RANK"] == "1":\n'
                '    raise ValueError("rank one broke")\ntime.sleep(120)\n')
        started = time.time()
        jobdir, events = self.go(code, {'tasksPerNode': 2})
        self.assertLess(time.time() - started, 60)
        self.assertDone(events, 'failed')
        errors = of_type(events, 'error')
        self.assertEqual(len(errors), 1, errors)
        self.assertEqual(errors[0]['evalue'], 'rank one broke')
        self.assertTrue(errors[0]['traceback'][0].startswith('Rank 1 of 2 (on '))
        ends = {e['rank']: e['event'] for e in events
                if e['type'] == 'rank' and e['event']['type'] == 'rank-end'}
        self.assertEqual(ends[1], {'type': 'rank-end', 'state': 'error', 'failed': True})
        self.assertEqual(ends[0]['state'], 'cancelled')
        self.assertIn('Rank 1 of 2', ' '.join(n['text'] for n in of_type(events, 'notice')))

    def test_cancel_ends_every_rank_with_no_orphans(self):
        code = ('import os, subprocess, time\np = subprocess.Popen(["sleep", "300"])\n'
                'open(os.path.join(%r, "sleep-" + os.environ["RANK"]), "w").write(str(p.pid))\n'
                'time.sleep(300)' % self.tmp)
        jobdir, pid = self.go(code, {'tasksPerNode': 2}, wait=False)
        paths = [os.path.join(self.tmp, 'sleep-%d' % r) for r in (0, 1)]
        self.assertTrue(wait_for(lambda: all(os.path.exists(p) and os.path.getsize(p) for p in paths),
                                 60))
        sleeps = []
        for path in paths:
            with open(path) as f:
                sleeps.append(int(f.read()))
        out = self.agent('cancel', jobdir, '--grace', '5')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(wait_for(lambda: of_type(read_events(jobdir), 'done'), 30))
        events = read_events(jobdir)
        self.assertDone(events, 'cancelled')
        self.assertGroupsGone(pid)
        for s in sleeps:
            self.assertTrue(wait_for(lambda: not os.path.exists('/proc/%d' % s), 10), s)

    def test_srun_asked_outside_slurm_is_a_launch_error(self):
        jobdir, events = self.go('print(1)', {'tasksPerNode': 2, 'launch': 'srun'})
        self.assertDone(events, 'failed')
        self.assertIn('needs a SLURM allocation', of_type(events, 'error')[0]['evalue'])


class GridEngineHosts(TempDirCase):
    def hostfile(self, *lines):
        path = os.path.join(self.tmp, 'pe_hostfile')
        with open(path, 'w') as f:
            f.write(''.join(line + '\n' for line in lines))
        return {'PE_HOSTFILE': path, 'PE': 'mpi'}

    def test_fewer_hosts_than_nodes_is_refused_with_what_grid_engine_gave(self):
        env = self.hostfile('vm 2 all.q@vm UNDEFINED')
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 1, 'launch': 'mpirun'})
        with self.assertRaisesRegex(_cb_launchers.RanksError, r'--nodes 2 needs 2 hosts, and Grid '
                                    r'Engine gave this job 1 \(vm: 2 slots\) from parallel '
                                    r'environment mpi'):
            _cb_launchers.check_grid_engine_hosts('mpirun', plan, env)

    def test_local_ranks_spread_over_hosts_are_refused(self):
        env = self.hostfile('a 1 all.q@a UNDEFINED', 'b 1 all.q@b UNDEFINED')
        plan = _cb_launchers.shape({'tasksPerNode': 2})
        with self.assertRaisesRegex(_cb_launchers.RanksError, 'spread this job over 2 hosts'):
            _cb_launchers.check_grid_engine_hosts('local', plan, env)
        _cb_launchers.check_grid_engine_hosts('mpirun', plan, env)

    def test_enough_hosts_or_no_grid_engine_pass(self):
        env = self.hostfile('a 2 all.q@a UNDEFINED', 'b 2 all.q@b UNDEFINED')
        _cb_launchers.check_grid_engine_hosts(
            'mpirun', _cb_launchers.shape({'nodes': 2, 'launch': 'mpirun'}), env)
        _cb_launchers.check_grid_engine_hosts('local', _cb_launchers.shape({'nodes': 2}), {})



class PbsNodefile(TempDirCase):
    """PBS's side of a job emulated without faults: the $PBS_NODEFILE a PBS mom writes (one line
    per mpiprocs slot, the script's host first). No PBS runs here (Debian has none)."""

    def nodefile(self, *hosts, **extra):
        path = os.path.join(self.tmp, 'pbs_nodefile')
        with open(path, 'w') as f:
            f.write(''.join(h + '\n' for h in hosts))
        env = {'PBS_NODEFILE': path, 'PBS_ENVIRONMENT': 'PBS_BATCH', 'PBS_JOBID': '7.pbs'}
        env.update(extra)
        return env

    def tools(self, env, *names):
        env['PATH'] = fake_tools(self.tmp, names)
        return os.path.realpath(os.path.join(env['PATH'], names[0]))

    def setUp(self):
        super().setUp()
        for target, value in (('ENV_BIN', os.path.join(self.tmp, 'env-bin')),
                              ('torch_importable', lambda: False)):
            patch = mock.patch.object(_cb_launchers, target, value)
            patch.start()
            self.addCleanup(patch.stop)

    def test_hosts_in_nodefile_order_with_their_slots_the_first_is_master(self):
        env = self.nodefile('n2', 'n2', 'n1', 'n1', '')
        self.assertEqual(list(_cb_launchers.pbs_hosts(env).items()), [('n2', 2), ('n1', 2)])
        self.assertEqual(_cb_launchers.master_host(env, 'here'), 'n2')
        self.assertEqual(_cb_launchers.master_host(dict(env, CB_MASTER_ADDR='m'), 'here'), 'm')
        self.assertEqual(_cb_launchers.master_host({}, 'here'), 'here')
        self.assertIsNone(_cb_launchers.pbs_hosts({'PBS_NODEFILE': os.path.join(self.tmp, 'no')}))

    def test_fewer_hosts_than_nodes_is_refused_with_what_pbs_gave(self):
        env = self.nodefile('n1', 'n1')
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 1, 'launch': 'mpirun'})
        with self.assertRaisesRegex(_cb_launchers.RanksError, r'--nodes 2 needs 2 hosts, and PBS '
                                    r'gave this job 1 \(n1: 2 slots\) in \$PBS_NODEFILE'):
            _cb_launchers.check_pbs_hosts(plan, env)
        _cb_launchers.check_pbs_hosts(plan, self.nodefile('n1', 'n2'))
        _cb_launchers.check_pbs_hosts(plan, {})

    def test_mpirun_takes_the_nodefile_and_forwards_the_master(self):
        env = self.nodefile('n1', 'n1', 'n2', 'n2')
        mpirun = self.tools(env, 'mpirun')
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 2, 'launch': 'mpirun'})
        argv = _cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env)
        self.assertEqual(argv, [mpirun, '-np', '4', '--map-by', 'ppr:2:node', '--hostfile',
                                env['PBS_NODEFILE'], '-x', 'CB_MASTER_ADDR', '-x',
                                'CB_MASTER_PORT', sys.executable, '-u', RANKS_FILE,
                                'rank', '/j'])
        del env['PBS_NODEFILE']
        self.assertNotIn('--hostfile', _cb_launchers.command('mpirun', plan, '/j', ('n1', 5), env))

    def test_torchrun_over_nodes_is_one_torchrun_a_node_through_mpirun(self):
        env = self.nodefile('n1', 'n1', 'n2', 'n2')
        mpirun = self.tools(env, 'mpirun', 'torchrun')
        torchrun = os.path.join(env['PATH'], 'torchrun')
        plan = _cb_launchers.shape({'nodes': 2, 'tasksPerNode': 2, 'launch': 'torchrun'})
        argv = _cb_launchers.command('torchrun', plan, '/j', ('n1', 5), env)
        self.assertEqual(argv[:11], [mpirun, '-np', '2', '--map-by', 'ppr:1:node',
                                     '--hostfile', env['PBS_NODEFILE'], '-x', 'CB_MASTER_ADDR',
                                     '-x', 'CB_MASTER_PORT'])
        self.assertEqual(argv[11:15], [torchrun, '--nnodes=2', '--nproc_per_node=2',
                                       '--rdzv_backend=c10d'])
        one = _cb_launchers.shape({'tasksPerNode': 2, 'launch': 'torchrun'})
        self.assertEqual(_cb_launchers.command('torchrun', one, '/j', ('n1', 5), env)[0], torchrun)
        del env['PBS_NODEFILE']
        with self.assertRaisesRegex(_cb_launchers.RanksError, 'needs a SLURM or PBS allocation'):
            _cb_launchers.command('torchrun', plan, '/j', ('n1', 5), env)

    def launch(self, code, request, env):
        jobdir = self.jobdir()
        out = self.agent('prepare', jobdir, input=self.bundle(code, request=request))
        self.assertEqual(out.returncode, 0, out.stderr)
        pid = json.loads(self.agent('launch', jobdir, env=self.env(**env)).stdout.decode())['pid']
        self.assertTrue(wait_for(lambda: of_type(read_events(jobdir), 'done'), 90))
        self.assertGroupsGone(pid)
        return read_events(jobdir)

    def test_local_ranks_rendezvous_at_the_first_pbs_host(self):
        # 127.0.0.1 resolves here and is never this host's name (the fallback).
        events = self.launch(ALLREDUCE, {'tasksPerNode': 2},
                             self.nodefile('127.0.0.1', '127.0.0.1'))
        self.assertDone(events, 'completed')
        head = of_type(events, 'ranks')[0]
        self.assertEqual((head['launch'], head['masterAddr']), ('local', '127.0.0.1'))
        self.assertIn('allreduce 3', stream_text(ranked(events, 1)))

    def test_real_mpirun_takes_its_hosts_and_the_master_from_the_nodefile(self):
        # A test that cannot run fails: scripts/setup/ensure.sh installs openmpi-bin.
        self.assertTrue(shutil.which('mpirun'), 'no mpirun: install openmpi-bin (ensure.sh does)')
        # Open MPI without tm (Debian's) reads --hostfile; localhost's slots are the nodefile's.
        env = self.nodefile('localhost', 'localhost', OMPI_ALLOW_RUN_AS_ROOT='1',
                            OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1')
        events = self.launch(ALLREDUCE, {'tasksPerNode': 2, 'launch': 'mpirun'}, env)
        self.assertDone(events, 'completed')
        head = of_type(events, 'ranks')[0]
        self.assertEqual((head['launch'], head['masterAddr']), ('mpirun', 'localhost'))
        self.assertIn('allreduce 3', stream_text(ranked(events, 1)))

    def test_fewer_pbs_hosts_than_nodes_fails_the_cell_before_any_rank(self):
        events = self.launch('print(1)', {'nodes': 2, 'launch': 'mpirun'},
                             self.nodefile('n1', 'n1'))
        self.assertDone(events, 'failed')
        error = of_type(events, 'error')[0]
        self.assertEqual(error['ename'], 'LaunchError')
        self.assertIn('PBS gave this job 1 (n1: 2 slots)', error['evalue'])
        self.assertEqual(of_type(events, 'ranks'), [])

if __name__ == '__main__':
    unittest.main()
