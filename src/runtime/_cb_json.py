"""Compact JSON for the agent and the runner without importing `json` (which imports `re`
and `enum`: several milliseconds of every warm cell). Uses CPython's C accelerators in _json;
falls back to the json module where they are missing. Python 3.6+.

dumps(obj) -> str: compact separators, ASCII only, NaN/Infinity refused (ValueError) since
JavaScript's JSON.parse rejects them; unknown types raise TypeError.
loads(text or bytes) -> object; ValueError on bad input.
"""
try:
    from _json import encode_basestring_ascii as _quote, make_scanner as _make_scanner
except ImportError:  # not CPython: the plain module is fine
    _quote = None

if _quote is None:
    import json as _json_module

    def dumps(obj):
        return _json_module.dumps(obj, separators=(',', ':'), allow_nan=False)

    def loads(text):
        if isinstance(text, (bytes, bytearray)):
            text = text.decode('utf-8')
        return _json_module.loads(text)
else:
    _INF = float('inf')

    def _encode(o, out):
        if isinstance(o, str):
            out.append(_quote(o))
        elif o is None:
            out.append('null')
        elif o is True:
            out.append('true')
        elif o is False:
            out.append('false')
        elif isinstance(o, int):
            out.append(int.__repr__(o))
        elif isinstance(o, float):
            if o != o or o == _INF or o == -_INF:
                raise ValueError('Out of range float values are not JSON compliant')
            out.append(float.__repr__(o))
        elif isinstance(o, dict):
            out.append('{')
            first = True
            for k, v in o.items():
                if not first:
                    out.append(',')
                first = False
                if isinstance(k, str):
                    out.append(_quote(k))
                elif k is True or k is False or k is None:
                    out.append('"%s"' % {True: 'true', False: 'false', None: 'null'}[k])
                elif isinstance(k, (int, float)):
                    out.append('"%r"' % (k,))
                else:
                    raise TypeError('keys must be str, int, float, bool or None, not %s'
                                    % type(k).__name__)
                out.append(':')
                _encode(v, out)
            out.append('}')
        elif isinstance(o, (list, tuple)):
            out.append('[')
            first = True
            for v in o:
                if not first:
                    out.append(',')
                first = False
                _encode(v, out)
            out.append(']')
        else:
            raise TypeError('Object of type %s is not JSON serializable' % type(o).__name__)

    def dumps(obj):
        out = []
        _encode(obj, out)
        return ''.join(out)

    class _Context(object):
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo = {}

        @staticmethod
        def parse_constant(name):
            return {'NaN': float('nan'), 'Infinity': _INF, '-Infinity': -_INF}[name]

    _scan = _make_scanner(_Context())
    _WS = ' \t\n\r'

    def loads(text):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode('utf-8')
        i = 0
        n = len(text)
        while i < n and text[i] in _WS:
            i += 1
        try:
            obj, end = _scan(text, i)
        except StopIteration as e:
            raise ValueError('Expecting value at char %s' % (e.value,))
        except SystemError:
            # The C scanner cannot build its JSONDecodeError without the json package (an
            # unterminated string or object): the json module says what is wrong.
            import json as _json_module
            _json_module.loads(text)
            raise ValueError('not valid JSON')
        while end < n and text[end] in _WS:
            end += 1
        if end != n:
            raise ValueError('Extra data at char %d' % end)
        return obj

