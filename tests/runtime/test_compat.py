"""The agent must run on the oldest system Pythons clusters have (3.6); the runner on 3.8+.

What is verified, and how (each test name says which claim it checks):
- Which files are agent side: agent.py and every _cb_*.py it imports, directly or inside a
  function, found by following the imports (a new module is checked the day it is imported).
- Their syntax, without any old interpreter: ast.parse(feature_version=(3, 6)) on this interpreter.
  feature_version is best effort: measured on 3.11 it rejects walrus, positional-only parameters,
  match, parenthesized context managers, except*, async comprehensions in plain functions, type
  aliases and type parameters, and f-string `=`; it lets through unparenthesized starred returns
  and yields (3.8), continue in finally (3.8), relaxed decorators (3.9), starred subscripts (3.11)
  and, on 3.12+, f-string `=` and PEP 701 f-strings (3.13 also parses as 3.7 at the lowest). So
  SyntaxChecks below looks for all of those itself, and a test proves it flags each one.
- Standard-library names added in 3.7+: a list of names (heuristic; only running on 3.6 is proof).
- For real: compiled and run on a Python 3.6 interpreter, the runner on 3.8, the refusal messages
  on 2.7/3.5 and 3.6/3.7. Where such an interpreter is missing the test FAILS with "NOT VERIFIED"
  (never a silent pass); CB_COMPAT_UNVERIFIED_OK=1 turns those failures into skips that say the
  same. Old interpreters come from pyenv ($PYENV_ROOT, ~/.pyenv) or PATH; CB_PYTHON36 names one.
"""
import ast
import glob
import json
import os
import re
import subprocess
import sys
import unittest

from rt_helpers import AGENT, RUNTIME, TempDirCase, of_type, read_events, stream_text, strip_ansi

RUNNER_FILES = [os.path.join(RUNTIME, 'runner.py'), os.path.join(RUNTIME, '_cb_runner.py')]
# The modules the agent is known to import: the closure found below must hold at least these.
KNOWN_AGENT_MODULES = {'_cb_agent', '_cb_job', '_cb_proc', '_cb_events', '_cb_envs', '_cb_envbuild',
                       '_cb_jobfiles', '_cb_doctor', '_cb_json'}

# Names that exist only from Python 3.7 on (or whose use here would need 3.7+).
NEWER_ATTRIBUTES = {'time_ns', 'monotonic_ns', 'perf_counter_ns', 'nullcontext', 'fromisoformat',
                    'isascii', 'asynccontextmanager', 'get_running_loop', 'create_task',
                    'reconfigure', 'shlex_join', 'removeprefix', 'removesuffix', 'cache'}
NEWER_MODULES = {'dataclasses', 'contextvars', 'importlib.resources', 'graphlib', 'zoneinfo',
                 'importlib.metadata'}
NEWER_KEYWORDS = {'capture_output', 'text'}  # subprocess.run/Popen keywords added in 3.7

VERIFIED = []
NOT_VERIFIED = []


def agent_files():
    """agent.py and the _cb_* modules it reaches through its imports (at any depth, in any scope),
    except the runner's own modules."""
    seen = {}
    todo = [os.path.join(RUNTIME, 'agent.py')]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        with open(path) as f:
            seen[path] = tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                candidate = os.path.join(RUNTIME, name.split('.')[0] + '.py')
                # _cb_proc imports the runner only in the forked child that runs under VENV2 (3.8+).
                if name.startswith('_cb_') and os.path.exists(candidate) and candidate not in RUNNER_FILES:
                    todo.append(candidate)
    return sorted(seen)


AGENT_FILES = agent_files()


def find_pythons():
    """Interpreters on this machine by version: (major, minor) -> path."""
    candidates = set()
    roots = [os.environ.get('PYENV_ROOT', ''), os.path.expanduser('~/.pyenv'), '/root/.pyenv']
    for root in roots:
        if root:
            candidates.update(glob.glob(os.path.join(root, 'versions', '[23].*', 'bin', 'python[23].*[0-9]')))
    for d in os.environ.get('PATH', '').split(os.pathsep) + ['/usr/bin', '/usr/local/bin']:
        candidates.update(glob.glob(os.path.join(d, 'python[23].[0-9]*')))
    if os.environ.get('CB_PYTHON36'):
        candidates.add(os.environ['CB_PYTHON36'])
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


def interpreter(case, versions, claim):
    """The first interpreter of `versions` here; otherwise the claim is reported NOT VERIFIED (a failure)."""
    for version in versions:
        if version in PYTHONS:
            return version, PYTHONS[version]
    wanted = ' or '.join('%d.%d' % v for v in versions)
    message = 'NOT VERIFIED: %s (no Python %s on this machine; have %s)' % (
        claim, wanted, ', '.join('%d.%d' % v for v in sorted(PYTHONS)) or 'none')
    NOT_VERIFIED.append(message[len('NOT VERIFIED: '):])
    if os.environ.get('CB_COMPAT_UNVERIFIED_OK') == '1':
        case.skipTest(message)
    case.fail(message)


def compiles(python, path):
    subprocess.check_call([python, '-c', 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")',
                           path])


class SyntaxChecks(object):
    """Python 3.7+ syntax in one parsed module: what feature_version=(3, 6) may let through, and more."""

    FIELD_SELF_DOC = re.compile(r'[^=!<>]=\s*(![rsa])?\s*(:.*)?$', re.S)

    def __init__(self, source):
        self.source = source
        self.tree = ast.parse(source)

    def problems(self):
        found = []
        for node in ast.walk(self.tree):
            line = getattr(node, 'lineno', '?')
            for problem in self._node(node):
                found.append('%s: %s' % (line, problem))
        return found

    def _node(self, node):
        name = type(node).__name__
        if name == 'NamedExpr':
            yield 'walrus (3.8)'
        if name == 'Match':
            yield 'match statement (3.10)'
        if name == 'TryStar':
            yield 'except* (3.11)'
        if name == 'TypeAlias' or getattr(node, 'type_params', None):
            yield 'type alias or type parameters (3.12)'
        if isinstance(node, ast.arguments) and getattr(node, 'posonlyargs', []):
            yield 'positional-only parameters (3.8)'
        if isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)):
            yield 'async code (kept out: 3.7 changed it)'
        if isinstance(node, ast.JoinedStr):
            for problem in self._fstring(node):
                yield problem
        if isinstance(node, (ast.Return, ast.Yield)) and self._bare_starred_tuple(node.value):
            yield 'unparenthesized starred %s (3.8)' % name.lower()
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                if not self._dotted_call(decorator):
                    yield 'decorator that is not a dotted name or call (3.9)'
        if isinstance(node, ast.Try) and self._continue_in(node.finalbody):
            yield 'continue in finally (3.8)'
        if isinstance(node, ast.Subscript):
            index = node.slice
            elts = index.elts if isinstance(index, ast.Tuple) else [index]
            if any(isinstance(e, ast.Starred) for e in elts):
                yield 'starred subscript (3.11)'
        if isinstance(node, ast.With) and self._parenthesized_items(node):
            yield 'parenthesized context managers (3.10)'
        if isinstance(node, ast.ImportFrom) and node.module == '__future__' and any(
                a.name == 'annotations' for a in node.names):
            yield 'from __future__ import annotations (3.7)'

    def _segment(self, node):
        return ast.get_source_segment(self.source, node) or ''

    def _fstring(self, node):
        text = self._segment(node)
        m = re.match(r'[A-Za-z]*("""|\'\'\'|"|\')', text)
        if not m:
            return
        quote = m.group(1)
        for field in self._fields(text[m.end():len(text) - len(quote)]):
            if self.FIELD_SELF_DOC.search(field):
                yield 'f-string = specifier (3.8)'
            if quote[0] in field or '\\' in field:
                yield 'quote or backslash inside an f-string field (3.12)'

    @staticmethod
    def _fields(body):
        """The text of each top-level {...} replacement field of an f-string body."""
        fields, depth, start, i = [], 0, 0, 0
        while i < len(body):
            c = body[i]
            if depth == 0 and body[i:i + 2] in ('{{', '}}'):
                i += 2
                continue
            if c == '{':
                depth += 1
                if depth == 1:
                    start = i + 1
            elif c == '}' and depth:
                depth -= 1
                if depth == 0:
                    fields.append(body[start:i])
            i += 1
        return fields

    def _bare_starred_tuple(self, value):
        return (isinstance(value, ast.Tuple) and any(isinstance(e, ast.Starred) for e in value.elts)
                and not self._segment(value).startswith('('))

    def _dotted_call(self, node):
        if isinstance(node, ast.Call):
            node = node.func
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name)

    @staticmethod
    def _continue_in(body):
        todo = list(body)
        while todo:
            node = todo.pop()
            if isinstance(node, ast.Continue):
                return True
            if not isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.ClassDef, ast.Lambda)):
                todo.extend(ast.iter_child_nodes(node))
        return False

    def _parenthesized_items(self, node):
        header = self._segment(node).split('\n', 1)[0]
        m = re.match(r'with\s*\(', header)
        if not m or not (len(node.items) > 1 or node.items[0].optional_vars is not None):
            return False
        # The parenthesis opened right after `with` closes at the end of the header.
        depth = 0
        for i in range(m.end() - 1, len(header)):
            depth += {'(': 1, ')': -1}.get(header[i], 0)
            if depth == 0:
                return header[i + 1:].strip() == ':'
        return False


# One sample per construct SyntaxChecks must flag (each parses on the interpreter running the tests).
NEWER_SAMPLES = {
    'walrus': 'if (n := 1):\n    pass\n',
    'positional-only': 'def f(a, /, b):\n    pass\n',
    'lambda positional-only': 'g = lambda a, /: a\n',
    'f-string =': 'print(f"{x=}")\n',
    'f-string = with format': 'print(f"{x = !r:>10}")\n',
    'starred return': 'def f():\n    return 1, *a\n',
    'starred yield': 'def f():\n    yield 1, *a\n',
    'continue in finally': 'for x in y:\n    try:\n        pass\n    finally:\n        continue\n',
    'async': 'async def f():\n    await g()\n',
    'future annotations': 'from __future__ import annotations\n',
}
if sys.version_info >= (3, 9):
    NEWER_SAMPLES['relaxed decorator'] = '@a[0].b\ndef f():\n    pass\n'
    NEWER_SAMPLES['parenthesized with'] = 'with (open("a") as f, open("b") as g):\n    pass\n'
if sys.version_info >= (3, 10):
    NEWER_SAMPLES['match'] = 'match x:\n    case 1:\n        pass\n'
if sys.version_info >= (3, 11):
    NEWER_SAMPLES['except*'] = 'try:\n    pass\nexcept* ValueError:\n    pass\n'
    NEWER_SAMPLES['starred subscript'] = 'a[*b]\n'
if sys.version_info >= (3, 12):
    NEWER_SAMPLES['type alias'] = 'type X = int\n'
    NEWER_SAMPLES['nested quotes in f-string'] = 'print(f"{d["k"]}")\n'
# What 3.6 accepts and the checks must leave alone.
OLD_SAMPLES = {
    'f-strings': 'x = 1\nprint(f"{x!r:>10} {x == 1} {{x=}} {d[\'a=\']}")\n',
    'parenthesized tuple return': 'def f():\n    return (1, *a)\n',
    'starred assignment': 'x = 1, *a\n',
    'decorator call': '@a.b(1, c=2)\ndef f():\n    pass\n',
    'continue in a loop inside finally': 'try:\n    pass\nfinally:\n    for x in y:\n        continue\n',
    'parenthesized context manager expression': 'with (open("a")) as f, open("b"):\n    pass\n',
    'annotations': 'x: int = 1\ndef f(a: int = 1, *, b: str) -> None:\n    pass\n',
}


class AgentSideModules(unittest.TestCase):
    def test_the_agent_side_is_found_by_following_its_imports(self):
        found = {os.path.splitext(os.path.basename(p))[0] for p in AGENT_FILES}
        self.assertLessEqual(KNOWN_AGENT_MODULES, found)
        VERIFIED.append('agent side = %s' % ', '.join(sorted(found)))


class AgentSyntax(unittest.TestCase):
    def test_agent_parses_with_ast_feature_version_36(self):
        # 3.13+ accept (3, 6) but parse as 3.7 at the lowest; say what was really used.
        grammar = (3, 6) if sys.version_info < (3, 13) else (3, 7)
        for path in AGENT_FILES:
            with open(path) as f:
                ast.parse(f.read(), path, feature_version=(3, 6))
        VERIFIED.append('ast.parse(feature_version=(3, 6)) on Python %d.%d (grammar %d.%d, best effort)'
                        % (sys.version_info[:2] + grammar))

    def test_agent_has_no_37_plus_syntax_by_own_checks(self):
        for path in AGENT_FILES:
            with open(path) as f:
                problems = SyntaxChecks(f.read()).problems()
            self.assertEqual(problems, [], os.path.basename(path))
        VERIFIED.append('own checks for 3.7+ syntax (%d constructs)' % len(NEWER_SAMPLES))

    def test_own_checks_flag_each_newer_construct_and_no_36_one(self):
        for name, source in NEWER_SAMPLES.items():
            self.assertNotEqual(SyntaxChecks(source).problems(), [], name)
        for name, source in OLD_SAMPLES.items():
            self.assertEqual(SyntaxChecks(source).problems(), [], name)

    def test_agent_uses_no_37_plus_library_names_heuristic(self):
        for path in AGENT_FILES:
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            problems = []
            for node in ast.walk(tree):
                line = getattr(node, 'lineno', '?')
                modules = []
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module]
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                problems += ['%s: import of %s' % (line, m) for m in modules if m in NEWER_MODULES]
                if isinstance(node, ast.Attribute) and node.attr in NEWER_ATTRIBUTES:
                    problems.append('%s: .%s' % (line, node.attr))
                if isinstance(node, ast.Call):
                    problems += ['%s: %s= keyword' % (line, kw.arg) for kw in node.keywords
                                 if kw.arg in NEWER_KEYWORDS]
                    if isinstance(node.func, ast.Name) and node.func.id == 'breakpoint':
                        problems.append('%s: breakpoint()' % line)
            self.assertEqual(problems, [], os.path.basename(path))


class OldPythonsForReal(TempDirCase):
    """Each claim run on the interpreter it names; a missing interpreter is a NOT VERIFIED failure."""

    def test_agent_compiles_on_python_36(self):
        version, python = interpreter(self, [(3, 6)], 'the agent side compiles on Python 3.6')
        for path in AGENT_FILES:
            compiles(python, path)
        VERIFIED.append('agent side compiled by Python 3.6 (%s)' % python)

    def test_agent_runs_a_cell_and_doctor_on_python_36(self):
        version, python = interpreter(self, [(3, 6)], 'the agent runs a cell on Python 3.6')
        out = self.agent('go', self.jobdir('old'), python=python,
                         input=self.bundle('import sys\nprint(sys.version_info[:2])'))
        self.assertEqual(out.returncode, 0, out.stderr)
        events = [json.loads(l) for l in out.stdout.decode().splitlines()]
        self.assertEqual(events[-1]['type'], 'done')
        self.assertEqual(events[-1]['state'], 'completed', events)
        self.assertTrue(stream_text(events).startswith('(3, '))
        doctor = self.agent('doctor', python=python)
        facts = json.loads(doctor.stdout.decode())
        self.assertTrue(facts['python']['version'].startswith('3.6.'), facts['python'])
        VERIFIED.append('agent ran a cell and doctor on Python 3.6')

    def test_runner_compiles_and_runs_a_cell_on_python_38(self):
        version, python = interpreter(self, [(3, 8)], 'the runner runs on Python 3.8')
        for path in RUNNER_FILES:
            compiles(python, path)
        jobdir = self.make_job('print("hi")\nclass H:\n    def _repr_html_(self): return "<b/>"\n'
                               'display(H())\n1/0')
        subprocess.run([python, '-u', os.path.join(RUNTIME, 'runner.py'), jobdir], timeout=60)
        events = read_events(jobdir)
        self.assertEqual(stream_text(events), 'hi\n')
        self.assertEqual(of_type(events, 'display')[0]['data']['text/html'], '<b/>')
        err = of_type(events, 'error')[0]
        self.assertIn('---> 6 1/0', strip_ansi('\n'.join(err['traceback'])))
        VERIFIED.append('runner ran a cell on Python 3.8')

    def test_agent_refuses_a_python_older_than_36_clearly(self):
        version, python = interpreter(self, [(3, 5), (3, 4), (2, 7)],
                                      'the agent refuses Pythons older than 3.6 clearly')
        out = self.agent('doctor', python=python)
        self.assertEqual(out.returncode, 2)
        self.assertIn('too old; the agent needs Python 3.6 or newer', out.stderr.decode())
        VERIFIED.append('agent refused Python %d.%d clearly' % version)

    def test_runner_refuses_python_36_and_37_clearly(self):
        version, python = interpreter(self, [(3, 7), (3, 6)], 'the runner refuses Pythons older than 3.8')
        out = subprocess.run([python, os.path.join(RUNTIME, 'runner.py'), self.tmp],
                             stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(out.returncode, 2)
        self.assertIn('needs Python 3.8 or newer', out.stderr.decode())
        VERIFIED.append('runner refused Python %d.%d clearly' % version)


def tearDownModule():
    sys.stderr.write('\n[compat] verified: %s\n' % ('; '.join(VERIFIED) or 'nothing'))
    unverifiable = ['3.7+ library behaviour beyond the listed names, unless the agent ran on 3.6']
    sys.stderr.write('[compat] NOT VERIFIED: %s\n' % '; '.join(NOT_VERIFIED + unverifiable))


if __name__ == '__main__':
    unittest.main()
