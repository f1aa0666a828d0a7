"""`doctor`: facts about this host for the bridge's doctor report (Python, venv, conda, which
env kind VENV2 gets and why, schedulers, GPUs, free disk, what the work dir holds). A rare
command: the agent imports this only for it.

Python 3.6+, standard library only.
"""
import os
import sys

from _cb_envbuild import choice_text, find_conda
from _cb_jobfiles import hostname
from _cb_proc import which


def doctor(work_dir, env_kind=None):
    import platform
    import subprocess
    facts = {
        'hostname': hostname(),
        'home': os.path.expanduser('~'),
        'workDir': work_dir,
        'python': {'version': platform.python_version(), 'executable': sys.executable,
                   'implementation': platform.python_implementation(),
                   'prefix': sys.prefix, 'basePrefix': getattr(sys, 'base_prefix', sys.prefix)},
        'platform': platform.platform(),
        'cpus': os.cpu_count(),
    }
    try:
        import venv  # noqa: F401
        import ensurepip  # noqa: F401
        facts['venv'] = {'ok': True, 'ensurepip': True}
    except ImportError as e:
        facts['venv'] = {'ok': 'venv' in sys.modules, 'ensurepip': False, 'error': str(e)}
    facts['conda'] = find_conda()
    kind = env_kind if env_kind in ('auto', 'conda', 'venv') else 'auto'
    chosen = kind if kind != 'auto' else ('conda' if facts['conda'] else 'venv')
    facts['envChoice'] = {'kind': chosen, 'envKind': kind,
                          'why': choice_text(kind, facts['conda'])}
    facts['schedulers'] = dict((name, which(name)) for name in
                               ('sbatch', 'squeue', 'sacct', 'scancel', 'qsub', 'qstat', 'qdel',
                                'pbsnodes'))
    smi = which('nvidia-smi')
    gpus = None
    if smi:
        try:
            out = subprocess.check_output(
                [smi, '--query-gpu=index,uuid,name,memory.total,memory.used',
                 '--format=csv,noheader,nounits'], stderr=subprocess.STDOUT, timeout=20)
            gpus = []
            for line in out.decode('utf-8', 'replace').strip().splitlines():
                parts = [p.strip() for p in line.split(',')]
                if len(parts) >= 5:
                    gpus.append({'index': int(parts[0]), 'uuid': parts[1], 'name': parts[2],
                                 'memoryTotal': int(float(parts[3])) << 20,
                                 'memoryUsed': int(float(parts[4])) << 20})
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            gpus = {'error': str(e)}
    facts['nvidiaSmi'] = {'path': smi, 'gpus': gpus} if smi else None
    facts['cudaVisibleDevices'] = os.environ.get('CUDA_VISIBLE_DEVICES')
    probe = work_dir
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        st = os.statvfs(probe or '/')
        facts['diskFree'] = st.f_bavail * st.f_frsize
    except OSError:
        facts['diskFree'] = None
    import _cb_clean
    report = _cb_clean.survey(work_dir)
    facts['sizes'] = report['sizes']
    facts['cleanable'] = {'count': len(report['remove']),
                          'bytes': sum(e['bytes'] for e in report['remove'])}
    return facts
