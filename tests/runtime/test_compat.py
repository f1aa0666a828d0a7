"""The agent must run on the oldest system Pythons clusters have (3.6); the runner on 3.8+."""
import ast
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

from rt_helpers import AGENT, PYTHON, RUNTIME, TempDirCase, of_type, stream_text, strip_ansi

RUNNER_FILES = [os.path.join(RUNTIME, 'runner.py'), os.path.join(RUNTIME, '_cb_runner.py')]
# Everything else runs in the agent (the modules the runner shares with it too): Python 3.6+.
AGENT_FILES = sorted(p for p in glob.glob(os.path.join(RUNTIME, '*.py'))
                     if p not in RUNNER_FILES and not os.path.basename(p).startswith('test_'))

# Names that exist only from Python 3.7 on (or whose use here would need 3.7+).
NEWER_ATTRIBUTES = {'time_ns', 'monotonic_ns', 'perf_counter_ns', 'nullcontext', 'fromisoformat',
                    'isascii', 'asynccontextmanager', 'get_running_loop', 'create_task',
                    'reconfigure', 'shlex_join', 'removeprefix', 'removesuffix', 'cache'}
NEWER_MODULES = {'dataclasses', 'contextvars', 'importlib.resources', 'graphlib', 'zoneinfo',
                 'importlib.metadata'}
NEWER_KEYWORDS = {'capture_output', 'text'}  # subprocess.run/Popen keywords added in 3.7


def find_pythons():
    """Interpreters on this machine by version: (version tuple, path)."""
    candidates = set()
    roots = [os.environ.get('PYENV_ROOT', ''), os.path.expanduser('~/.pyenv'), '/root/.pyenv']
    for root in roots:
        if root:
            candidates.update(glob.glob(os.path.join(root, 'versions', '3.*', 'bin', 'python3.*[0-9]')))
    for d in os.environ.get('PATH', '').split(os.pathsep) + ['/usr/bin', '/usr/local/bin']:
        candidates.update(glob.glob(os.path.join(d, 'python3.[0-9]*')))
    found = {}
    for path in sorted(candidates):
        if path.endswith('-config') or not os.access(path, os.X_OK):
            continue
        try:
            out = subprocess.check_output([path, '-c', 'import sys; print("%d %d" % sys.version_info[:2])'],
                                          stderr=subprocess.DEVNULL, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        version = tuple(int(x) for x in out.split())
        found.setdefault(version, path)
    return found


PYTHONS = find_pythons()


class AgentSyntax(unittest.TestCase):
    def test_agent_uses_no_37_plus_features(self):
        for path in AGENT_FILES:
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            problems = []
            for node in ast.walk(tree):
                line = getattr(node, 'lineno', '?')
                if type(node).__name__ == 'NamedExpr':
                    problems.append('%s: walrus' % line)
                if isinstance(node, ast.JoinedStr):
                    problems.append('%s: f-string (kept out: their = specifier is 3.8+)' % line)
                if isinstance(node, ast.arguments) and getattr(node, 'posonlyargs', []):
                    problems.append('%s: positional-only parameters' % line)
                if isinstance(node, ast.ImportFrom):
                    if node.module == '__future__' and any(a.name == 'annotations' for a in node.names):
                        problems.append('%s: from __future__ import annotations' % line)
                    if node.module in NEWER_MODULES:
                        problems.append('%s: import of %s' % (line, node.module))
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name in NEWER_MODULES:
                            problems.append('%s: import of %s' % (line, a.name))
                if isinstance(node, ast.Attribute) and node.attr in NEWER_ATTRIBUTES:
                    problems.append('%s: .%s' % (line, node.attr))
                if isinstance(node, ast.Call):
                    for kw in node.keywords:
                        if kw.arg in NEWER_KEYWORDS:
                            problems.append('%s: %s= keyword' % (line, kw.arg))
                    if isinstance(node.func, ast.Name) and node.func.id == 'breakpoint':
                        problems.append('%s: breakpoint()' % line)
                if isinstance(node, (ast.AsyncFunctionDef, ast.Await)):
                    problems.append('%s: async code' % line)
            self.assertEqual(problems, [], os.path.basename(path))

    def test_agent_compiles_on_oldest_python(self):
        old = sorted(v for v in PYTHONS if v < (3, 8))
        versions = old or sorted(PYTHONS)
        self.assertTrue(versions, 'no python3.X interpreter found at all')
        for version in versions:
            for path in AGENT_FILES:
                subprocess.check_call([PYTHONS[version], '-c',
                                       'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")',
                                       path])
        sys.stderr.write('\n[compat] agent compiled with Python %s\n'
                         % ', '.join('%d.%d' % v for v in versions))

    def test_runner_compiles_on_38(self):
        versions = [v for v in PYTHONS if v >= (3, 8)]
        self.assertTrue(versions)
        target = PYTHONS.get((3, 8)) or PYTHONS[min(versions)]
        for path in RUNNER_FILES:
            subprocess.check_call([target, '-c',
                                   'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")', path])


class OldPythonsForReal(TempDirCase):
    """Where old interpreters exist (pyenv on the dev machine), run the real thing on them."""

    def test_agent_on_oldest_python_runs_a_cell(self):
        old = sorted(v for v in PYTHONS if v < (3, 8))
        if not old:
            # The AST test above still guards 3.6 syntax; say plainly what was not exercised.
            sys.stderr.write('\n[compat] no Python < 3.8 here: agent not executed on an old Python\n')
            return
        python = PYTHONS[old[0]]
        out = self.agent('go', self.jobdir('old'), python=python,
                         input=self.bundle('import sys\nprint(sys.version_info[:2])'))
        self.assertEqual(out.returncode, 0, out.stderr)
        events = [json.loads(l) for l in out.stdout.decode().splitlines()]
        self.assertEqual(events[-1]['type'], 'done')
        self.assertEqual(events[-1]['state'], 'completed', events)
        self.assertTrue(stream_text(events).startswith('(3, '))
        doctor = self.agent('doctor', python=python)
        facts = json.loads(doctor.stdout.decode())
        self.assertTrue(facts['python']['version'].startswith('%d.%d.' % old[0]), facts['python'])
        sys.stderr.write('\n[compat] agent ran a cell on Python %d.%d (%s)\n' % (old[0] + (python,)))

    def test_too_old_pythons_are_refused_clearly(self):
        old_agent = sorted(v for v in PYTHONS if v < (3, 6))
        old_runner = sorted(v for v in PYTHONS if (3, 6) <= v < (3, 8))
        py2 = [p for p in glob.glob('/root/.pyenv/versions/2.*/bin/python2.*[0-9]') +
               glob.glob('/usr/bin/python2.[0-9]*') if os.access(p, os.X_OK)]
        agents = [PYTHONS[v] for v in old_agent] + py2[:1]
        if not agents and not old_runner:
            sys.stderr.write('\n[compat] no Python < 3.8 here: refusal messages not executed\n')
            return
        for python in agents:
            out = self.agent('doctor', python=python)
            self.assertEqual(out.returncode, 2)
            self.assertIn('too old; the agent needs Python 3.6 or newer', out.stderr.decode())
        for v in old_runner:
            out = subprocess.run([PYTHONS[v], os.path.join(RUNTIME, 'runner.py'), self.tmp],
                                 stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(out.returncode, 2)
            self.assertIn('needs Python 3.8 or newer', out.stderr.decode())

    def test_runner_on_python_38(self):
        python = PYTHONS.get((3, 8))
        if not python:
            sys.stderr.write('\n[compat] no Python 3.8 here: runner not executed on 3.8\n')
            return
        jobdir = self.make_job('print("hi")\nclass H:\n    def _repr_html_(self): return "<b/>"\n'
                               'display(H())\n1/0')
        subprocess.run([python, '-u', os.path.join(RUNTIME, 'runner.py'), jobdir], timeout=60)
        from rt_helpers import read_events
        events = read_events(jobdir)
        self.assertEqual(stream_text(events), 'hi\n')
        self.assertEqual(of_type(events, 'display')[0]['data']['text/html'], '<b/>')
        err = of_type(events, 'error')[0]
        self.assertIn('---> 6 1/0', strip_ansi('\n'.join(err['traceback'])))


if __name__ == '__main__':
    unittest.main()
