"""Drives the cluster-bridge kernel the way JupyterLab's frontend does for --in/--out and
%cluster push/pull: the comm's varsExport, the export code run in a "notebook kernel" (this
process: a dict as its globals, exec as the silent execute), the cell with the metadata, the
import code from the execute_reply's metadata. One scenario per run (argv[1]) on a cluster
(argv[2]); prints one JSON object that vars.test.ts asserts on."""
import json
import os
import sys
import time
import uuid

import numpy as np
import pandas as pd
from jupyter_client.manager import start_new_kernel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'sessions'))
from session_check import Kernel  # noqa: E402

VARS_IN = 'cluster_bridge_vars_in'
VARS_OUT = 'cluster_bridge_vars_out'
NOTEBOOK_KEY = 'cluster_bridge_notebook'
TIMEOUT = 240


class Bridge(Kernel):
    def __init__(self):
        self.km, self.kc = start_new_kernel(kernel_name='cluster-bridge', startup_timeout=60)
        self.comm_id = uuid.uuid4().hex
        self.kc.shell_channel.send(self.kc.session.msg('comm_open', {
            'comm_id': self.comm_id, 'target_name': 'cluster_bridge', 'data': {}}))

    def comm(self, request):
        """One comm request; its reply's data (iopub comm_msg with the same id)."""
        rid = uuid.uuid4().hex
        request = dict(request, id=rid)
        self.kc.shell_channel.send(self.kc.session.msg('comm_msg', {
            'comm_id': self.comm_id, 'data': request}))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except Exception:
                continue
            data = msg['content'].get('data') if msg['msg_type'] == 'comm_msg' else None
            if isinstance(data, dict) and data.get('id') == rid:
                return data
        raise RuntimeError('no comm reply to %r' % (request,))

    def cell(self, code, notebook, vars_in=None, vars_out=False, metadata=True):
        msg = self.kc.session.msg('execute_request', {
            'code': code, 'silent': False, 'store_history': True, 'user_expressions': {},
            'allow_stdin': False, 'stop_on_error': False})
        msg['metadata'][NOTEBOOK_KEY] = notebook
        if metadata and vars_in is not None:
            msg['metadata'][VARS_IN] = vars_in
        if metadata and vars_out:
            msg['metadata'][VARS_OUT] = True
        self.kc.shell_channel.send(msg)
        [result], _ = self.wait([msg['header']['msg_id']], TIMEOUT)
        return result


def keep_reply_metadata():
    """session_check's Kernel keeps reply content only; wrap get_shell_msg to keep metadata."""
    original = Kernel.wait

    def wait(self, msg_ids, timeout=TIMEOUT):
        seen = {}
        get = self.kc.get_shell_msg

        def get_shell_msg(*a, **kw):
            reply = get(*a, **kw)
            seen[reply['parent_header'].get('msg_id')] = reply['metadata']
            return reply

        self.kc.get_shell_msg = get_shell_msg
        try:
            results, order = original(self, msg_ids, timeout)
        finally:
            self.kc.get_shell_msg = get
        for r in results:
            r['reply_metadata'] = seen.get(r['msg_id'], {})
        return results, order

    Kernel.wait = wait


keep_reply_metadata()


class Notebook:
    """The notebook's own kernel: a namespace and exec (as a silent execute would)."""

    def __init__(self, bridge, key):
        self.ns = {}
        self.bridge = bridge
        self.key = key

    def export(self, names):
        reply = self.bridge.comm({'op': 'varsExport', 'names': names, 'notebook': self.key})
        if not reply.get('ok'):
            return None, reply.get('error')
        step = reply['result']
        before = set(self.ns)
        try:
            exec(step['code'], self.ns)
        except Exception as e:
            return step, '%s: %s' % (type(e).__name__, e)
        leftovers = sorted(set(self.ns) - before - {'__builtins__'})
        return step, leftovers

    def run(self, code, names_in=(), names_out=(), metadata=True):
        vars_in = None
        if names_in:
            step, problem = self.export(list(names_in))
            if not isinstance(problem, list) or problem:
                raise RuntimeError('export failed: %r' % (problem,))
            vars_in = step['dir']
        cell = self.bridge.cell(code, self.key, vars_in, bool(names_out), metadata)
        step = cell['reply_metadata'].get(VARS_OUT)
        cell['imported'] = None
        cell['import_error'] = None
        if step:
            cell['out_dir_exists'] = os.path.isdir(step['dir'])
            try:
                exec(step['code'], self.ns)
                cell['imported'] = True
            except Exception as e:
                cell['import_error'] = '%s: %s' % (type(e).__name__, e)
            cell['out_dir_after'] = os.path.exists(step['dir'])
        return cell


def values():
    return {
        'a': np.arange(2000000, dtype=np.int64),
        'df': pd.DataFrame({'x': [1, 2, 3], 'y': ['a', 'b', 'c'],
                            't': pd.to_datetime(['2020-01-01', '2021-01-01', '2022-01-01'])}),
        's': pd.Series([1.5, 2.5], name='s'),
        'd': {'k': [1, 2], 'n': None}, 'l': [1, 'two', 3.0], 't': (1, (2, 3)), 'st': 'text',
        'i': 7, 'f': 1.25, 'b': b'\x00\xff', 'n': None,
    }


ROUND_TRIP = ('r_a = a * 2\nr_df = df.assign(z=df.x + 1)\nr_s = s * 2\nr_d = dict(d, more=True)\n'
              'r_l = l + [4]\nr_t = t + (4,)\nr_st = st.upper()\nr_i = i + 1\nr_f = f * 2\n'
              'r_b = b + b"!"\nr_n = n\n')
OUT_NAMES = ['r_a', 'r_df', 'r_s', 'r_d', 'r_l', 'r_t', 'r_st', 'r_i', 'r_f', 'r_b', 'r_n']


def check_round_trip(nb):
    """What came back, compared here (numpy/pandas equality), as booleans for the test."""
    ns, v = nb.ns, values()
    return {
        'r_a': bool(np.array_equal(ns.get('r_a'), v['a'] * 2)) and ns['r_a'].dtype == np.int64,
        'r_df': bool(ns.get('r_df') is not None and ns['r_df'].equals(v['df'].assign(z=v['df'].x + 1))),
        'r_s': bool(ns.get('r_s') is not None and ns['r_s'].equals(v['s'] * 2)),
        'r_d': ns.get('r_d') == {'k': [1, 2], 'n': None, 'more': True},
        'r_l': ns.get('r_l') == [1, 'two', 3.0, 4],
        'r_t': ns.get('r_t') == (1, (2, 3), 4),
        'r_st': ns.get('r_st') == 'TEXT',
        'r_i': ns.get('r_i') == 8,
        'r_f': ns.get('r_f') == 2.5,
        'r_b': ns.get('r_b') == b'\x00\xff!',
        'r_n': 'r_n' in ns and ns['r_n'] is None,
    }


def scenario_round_trip(bridge, cluster, fresh):
    nb = Notebook(bridge, '/srv/rt-%s.ipynb' % ('fresh' if fresh else 'session'))
    nb.ns.update(values())
    magic = '%%%%cluster %s%s --in %s --out %s\n' % (
        cluster, ' --fresh' if fresh else '', ','.join(sorted(values())), ','.join(OUT_NAMES))
    cell = nb.run(magic + ROUND_TRIP, sorted(values()), OUT_NAMES)
    return {'cell': cell, 'checks': check_round_trip(nb)}


def scenario_basics(bridge, cluster):
    r = {}
    r['session'] = scenario_round_trip(bridge, cluster, fresh=False)
    r['fresh'] = scenario_round_trip(bridge, cluster, fresh=True)
    nb = Notebook(bridge, '/srv/basics.ipynb')
    nb.ns['a'] = np.arange(5)
    # Unknown local name and code: the export raises, nothing is written.
    step, problem = nb.export(['a', 'nope'])
    r['unknown'] = {'problem': problem, 'files': os.listdir(step['dir'])}
    nb.ns['fn'] = lambda: 1
    step, problem = nb.export(['fn'])
    r['code'] = {'problem': problem, 'files': os.listdir(step['dir'])}
    # A missing --out name: an error in the cell, nothing comes back, nothing is set.
    nb.ns['keep'] = 'local'
    r['missing_out'] = nb.run('%%%%cluster %s --out keep,zz\nkeep = "remote"\n' % cluster,
                              names_out=['keep', 'zz'])
    r['keep_after_missing'] = nb.ns['keep']
    # A hostile pickle written by the remote: refused, nothing set, nothing ran.
    marker = os.path.join(os.environ['CB_VARS_TMP'], 'pwned-%s' % cluster)
    hostile = ('import posix\nclass H:\n    def __reduce__(self):\n'
               '        return (posix.system, ("touch %s",))\nevil = H()\nfine = 1\n' % marker)
    r['hostile'] = nb.run('%%%%cluster %s --out fine,evil\n%s' % (cluster, hostile),
                          names_out=['fine', 'evil'])
    r['hostile_marker'] = os.path.exists(marker)
    r['hostile_set'] = sorted(k for k in ('fine', 'evil') if k in nb.ns)
    # push / pull: the session's namespace from outside a cell.
    nb.ns['p'] = np.arange(10)
    r['push'] = nb.run('%%cluster push %s p' % cluster, names_in=['p'])
    r['use'] = nb.run('%%%%cluster %s\nq = int(p.sum())\nprint(q)\n' % cluster)
    r['pull'] = nb.run('%%cluster pull %s q' % cluster, names_out=['q'])
    r['pulled'] = nb.ns.get('q')
    nb2 = Notebook(bridge, '/srv/no-session.ipynb')
    r['pull_no_session'] = nb2.run('%%cluster pull %s q' % cluster, names_out=['q'])
    # Without the frontend's metadata (nbclient, the CLI, a Cluster Bridge notebook).
    r['no_metadata_in'] = nb.run('%%%%cluster %s --in a\nprint(1)\n' % cluster, metadata=False)
    r['no_metadata_out'] = nb.run('%%%%cluster %s --out q\nq = 1\n' % cluster, metadata=False)
    r['no_metadata_push'] = nb.run('%%cluster push %s a' % cluster, metadata=False)
    return r


def scenario_trusted(bridge, cluster):
    nb = Notebook(bridge, '/srv/trusted.ipynb')
    marker = os.path.join(os.environ['CB_VARS_TMP'], 'trusted-%s' % cluster)
    hostile = ('import posix\nclass H:\n    def __reduce__(self):\n'
               '        return (posix.system, ("touch %s",))\nevil = H()\n' % marker)
    cell = nb.run('%%%%cluster %s --out evil\n%s' % (cluster, hostile), names_out=['evil'])
    return {'cell': cell, 'marker': os.path.exists(marker)}


def scenario_skew(bridge, cluster):
    """A real second VENV2 (env np2, no system site packages): first it has no numpy, then a
    numpy package reporting 2.0.0 is put into its site-packages (the stand-in for a cluster with
    numpy 2; the sshd user is on this machine)."""
    nb = Notebook(bridge, '/srv/skew.ipynb')
    nb.ns['a'] = np.arange(3)
    nb.ns['plain'] = [1, 2]
    r = {}
    r['start'] = nb.run('%%%%cluster %s --env np2\nimport site\nprint(site.getsitepackages()[0])\n'
                        % cluster)
    site = r['start']['stdout'].strip()
    r['missing'] = nb.run('%%%%cluster %s --env np2 --in a\nprint(a)\n' % cluster, names_in=['a'])
    fake = os.path.join(site, 'numpy')
    os.makedirs(fake)
    with open(os.path.join(fake, '__init__.py'), 'w') as f:
        f.write("__version__ = '2.0.0'\n")
    for path in (fake, os.path.join(fake, '__init__.py')):
        os.chmod(path, 0o755)
    r['skew'] = nb.run('%%%%cluster %s --env np2 --in a\nprint(a)\n' % cluster, names_in=['a'])
    r['plain'] = nb.run('%%%%cluster %s --env np2 --in plain\nprint(plain)\n' % cluster,
                        names_in=['plain'])
    r['fresh_skew'] = nb.run('%%%%cluster %s --env np2 --fresh --in a\nprint(a)\n' % cluster,
                             names_in=['a'])
    r['remote_vars'] = sorted(os.listdir(os.path.join(os.environ['CB_VARS_WORKDIR'], 'vars'))) \
        if os.path.isdir(os.path.join(os.environ['CB_VARS_WORKDIR'], 'vars')) else []
    return r


def scenario_diskfull(bridge, cluster):
    """The remote vars folder is on a small file system (the test mounts it): --in of more than
    fits is a clear error, and nothing is left there."""
    nb = Notebook(bridge, '/srv/full.ipynb')
    nb.ns['big'] = np.random.RandomState(0).rand(4000000)  # 32 MB that do not deflate
    nb.ns['big_z'] = np.arange(8000000)  # 64 MB that deflate to about 12 MB (zblocks)
    nb.ns['small'] = 1
    vars_dir = os.path.join(os.environ['CB_VARS_WORKDIR'], 'vars')
    r = {'full': nb.run('%%%%cluster %s --in big\nprint(big.sum())\n' % cluster,
                        names_in=['big'])}
    r['left'] = sorted(os.listdir(vars_dir))
    r['full_z'] = nb.run('%%%%cluster %s --in big_z\nprint(big_z.sum())\n' % cluster,
                         names_in=['big_z'])
    r['left_z'] = sorted(os.listdir(vars_dir))
    r['after'] = nb.run('%%%%cluster %s --in small\nprint(small)\n' % cluster,
                        names_in=['small'])
    return r


def main():
    name, cluster = sys.argv[1], sys.argv[2]
    bridge = Bridge()
    try:
        if name == 'basics':
            out = scenario_basics(bridge, cluster)
        elif name == 'trusted':
            out = scenario_trusted(bridge, cluster)
        elif name == 'diskfull':
            out = scenario_diskfull(bridge, cluster)
        elif name == 'skew':
            out = scenario_skew(bridge, cluster)
        else:
            raise SystemExit('unknown scenario %s' % name)
        sys.stdout.write(json.dumps(out, default=repr) + '\n')
    finally:
        bridge.shutdown()


if __name__ == '__main__':
    main()
