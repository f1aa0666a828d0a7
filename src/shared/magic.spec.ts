import {
  isClusterCell,
  LINE_COMMANDS,
  MAGIC_OPTIONS,
  parseCell,
  parseJobRequest,
  ParsedCell,
  tokenize,
  usage
} from './magic';

function cluster(source: string) {
  const p = parseCell(source);
  if (p.kind !== 'cluster') {
    throw new Error(`expected a cluster cell, got ${JSON.stringify(p)}`);
  }
  return p;
}

function invalid(source: string): string {
  const p = parseCell(source);
  if (p.kind !== 'invalid') {
    throw new Error(`expected invalid, got ${JSON.stringify(p)}`);
  }
  expect(p.usage).toBe(usage());
  return p.error;
}

describe('tokenize', () => {
  it('splits on whitespace and honours quotes and escapes', () => {
    expect(
      tokenize(` a  'b c' "d \\"e\\"" f\\ g h'i'"j"`).map(t => t.text)
    ).toEqual(['a', 'b c', 'd "e"', 'f g', 'hij']);
  });
  it('keeps backslashes in single quotes and unknown escapes in double quotes', () => {
    expect(tokenize(`'a\\b' "c\\d"`).map(t => t.text)).toEqual([
      'a\\b',
      'c\\d'
    ]);
  });
  it('stops at a comment that starts a token', () => {
    expect(tokenize('a --gpus 1 # note --x').map(t => t.text)).toEqual([
      'a',
      '--gpus',
      '1'
    ]);
    expect(tokenize('a#b').map(t => t.text)).toEqual(['a#b']);
  });
  it('reports positions', () => {
    expect(tokenize(' ab "c d"')).toEqual([
      { text: 'ab', start: 1, end: 3 },
      { text: 'c d', start: 4, end: 9 }
    ]);
  });
  it('rejects unterminated quotes and trailing backslash', () => {
    expect(() => tokenize(`'abc`)).toThrow(/unterminated single quote/);
    expect(() => tokenize(`"abc`)).toThrow(/unterminated double quote/);
    expect(() => tokenize(`abc\\`)).toThrow(/trailing backslash/);
  });
  it('yields an empty string for empty quotes', () => {
    expect(tokenize(`''`).map(t => t.text)).toEqual(['']);
  });
});

describe('parseCell: %%cluster', () => {
  it('parses a bare magic', () => {
    expect(parseCell('%%cluster\nprint(1)')).toEqual({
      kind: 'cluster',
      request: {},
      code: 'print(1)',
      lineOffset: 1
    });
  });

  it('parses every option in both forms', () => {
    const p = cluster(
      '%%cluster gpu-a100 --gpus 2 --cpus=8 --mem 16G --time=01:30:00 --partition gpu ' +
        '--account=proj1 --qos high --constraint "a100&ib" --env torch --packages numpy,pandas==2.1 ' +
        '--scheduler slurm --name "my job" --detach --dry-run\nx = 1\nx'
    );
    expect(p.request).toEqual({
      cluster: 'gpu-a100',
      gpus: 2,
      cpus: 8,
      mem: '16G',
      time: '01:30:00',
      partition: 'gpu',
      account: 'proj1',
      qos: 'high',
      constraint: 'a100&ib',
      env: 'torch',
      packages: ['numpy', 'pandas==2.1'],
      scheduler: 'slurm',
      name: 'my job',
      detach: true,
      dryRun: true
    });
    expect(p.code).toBe('x = 1\nx');
  });

  it('accepts the cluster name after options', () => {
    expect(cluster('%%cluster --gpus 1 local\n').request).toEqual({
      gpus: 1,
      cluster: 'local'
    });
  });

  it('counts leading blank lines in lineOffset', () => {
    const p = cluster('\n  \n%%cluster local\na\nb');
    expect(p.lineOffset).toBe(3);
    expect(p.code).toBe('a\nb');
  });

  it('allows leading spaces, CRLF line ends and trailing comments', () => {
    const p = cluster(
      '  %%cluster local --gpus 1   # the A100\r\nprint(1)\r\n'
    );
    expect(p.request).toEqual({ cluster: 'local', gpus: 1 });
    expect(p.code).toBe('print(1)\r\n');
  });

  it('keeps the body verbatim, magic-looking lines included', () => {
    const body = '%%cluster other\n%cluster list\n  "quote\\\'';
    expect(cluster('%%cluster\n' + body).code).toBe(body);
  });

  it('returns an empty body for a magic alone', () => {
    expect(cluster('%%cluster local').code).toBe('');
  });

  it('normalizes memory sizes', () => {
    const mem = (v: string) => cluster(`%%cluster --mem ${v}`).request.mem;
    expect(mem('16g')).toBe('16G');
    expect(mem('16GB')).toBe('16G');
    expect(mem('16GiB')).toBe('16G');
    expect(mem('500m')).toBe('500M');
    expect(mem('2T')).toBe('2T');
    expect(mem('1024')).toBe('1024');
  });

  it('accepts the time forms SLURM accepts', () => {
    for (const t of [
      '30',
      '30:00',
      '01:00:00',
      '48:00:00',
      '1-00',
      '1-12:30',
      '2-00:00:00'
    ]) {
      expect(cluster(`%%cluster --time ${t}`).request.time).toBe(t);
    }
  });

  it.each([
    ['--gpus', '%%cluster --gpus', /--gpus needs a value/],
    [
      '--gpus followed by option',
      '%%cluster --gpus --detach',
      /--gpus needs a value/
    ],
    [
      'negative gpus',
      '%%cluster --gpus -1',
      /--gpus needs a value|whole number/
    ],
    ['fraction gpus', '%%cluster --gpus 1.5', /whole number/],
    ['word gpus', '%%cluster --gpus=two', /whole number/],
    ['huge gpus', '%%cluster --gpus 99999999999', /whole number/],
    ['zero cpus', '%%cluster --cpus 0', /at least 1/],
    ['bad mem', '%%cluster --mem lots', /--mem expects a size/],
    ['fraction mem', '%%cluster --mem 1.5G', /--mem expects a size/],
    ['zero mem', '%%cluster --mem 0G', /more than 0/],
    ['unitless bytes', '%%cluster --mem 10B', /give a unit/],
    ['bad time', '%%cluster --time 1h', /--time expects/],
    ['minutes over 59', '%%cluster --time 01:60:00', /below 60/],
    ['seconds over 59', '%%cluster --time 10:75', /below 60/],
    ['hours after days', '%%cluster --time 1-25:00:00', /below 24/],
    ['zero time', '%%cluster --time 00:00:00', /more than zero/],
    ['too many colons', '%%cluster --time 1:2:3:4', /--time expects/],
    [
      'bad scheduler',
      '%%cluster --scheduler lsf',
      /not one of direct, slurm, sge, pbs/
    ],
    [
      'unknown option',
      '%%cluster --gpu 1',
      /unknown option "--gpu" \(did you mean --gpus\?\)/
    ],
    [
      'unknown far option',
      '%%cluster --frobnicate',
      /unknown option "--frobnicate"$/
    ],
    ['short option', '%%cluster -g 1', /unknown option "-g"/],
    ['bare double dash', '%%cluster --', /unknown option "--"/],
    ['two clusters', '%%cluster a b', /only one cluster name/],
    ['duplicate option', '%%cluster --gpus 1 --gpus 2', /given twice/],
    ['duplicate via = form', '%%cluster --gpus=1 --gpus 2', /given twice/],
    ['flag with value', '%%cluster --detach=yes', /takes no value/],
    ['empty value', '%%cluster --partition=', /non-empty/],
    ['empty quoted value', "%%cluster --partition ''", /non-empty/],
    [
      'unterminated quote',
      '%%cluster --name "abc',
      /unterminated double quote/
    ],
    ['dash value', '%%cluster --account=-x', /invalid value/],
    ['bad env', '%%cluster --env "a b"', /invalid environment name/],
    ['env path', '%%cluster --env ../x', /invalid environment name/],
    ['empty packages', '%%cluster --packages ,,', /at least one package/],
    [
      'option-like package',
      '%%cluster --packages numpy,--index-url=http://evil',
      /invalid package/
    ],
    [
      'shell in package',
      '%%cluster --packages "numpy;rm -rf ~"',
      /invalid package/
    ],
    ['cluster with slash', '%%cluster ../etc', /invalid cluster name/],
    ['cluster with $', '%%cluster "$(id)"', /invalid cluster name/],
    [
      'newline smuggled in a value',
      '%%cluster --name "a\u0000b"',
      /control characters/
    ],
    [
      'escape in value',
      '%%cluster --partition "a\u001b[31m"',
      /control characters/
    ]
  ])('rejects %s', (_what, source, message) => {
    expect(invalid(source + '\nprint(1)')).toMatch(message);
  });

  it('escapes hostile values in error messages', () => {
    const err = invalid('%%cluster --mem "\\"; rm -rf /"');
    expect(err).toContain('"\\"; rm -rf /"');
  });

  it('caps long values in error messages', () => {
    const err = invalid('%%cluster --mem ' + 'x'.repeat(5000));
    expect(err.length).toBeLessThan(200);
  });

  it('treats %%clusterfoo as ordinary code', () => {
    expect(parseCell('%%clusterfoo\nx')).toEqual({
      kind: 'code',
      code: '%%clusterfoo\nx'
    });
  });

  it('never throws on random input', () => {
    const alphabet = [
      '%%cluster ',
      '%cluster ',
      '--',
      'gpus',
      '=',
      '"',
      "'",
      '\\',
      ' ',
      '\n',
      '#',
      'a',
      '1',
      '-',
      ':',
      '\u0000',
      'é'
    ];
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const len = rand() % 30;
      for (let j = 0; j < len; j++) {
        s += alphabet[rand() % alphabet.length];
      }
      const p: ParsedCell = parseCell(s);
      expect(['code', 'cluster', 'line', 'invalid']).toContain(p.kind);
    }
  });
});

describe('parseCell: %cluster line magics', () => {
  it.each([
    ['%cluster list', 'list', []],
    ['%cluster', 'help', []],
    ['%cluster help', 'help', []],
    ['%cluster use gpu-a100', 'use', ['gpu-a100']],
    ['%cluster jobs', 'jobs', []],
    ['%cluster attach cb-123abc', 'attach', ['cb-123abc']],
    ['%cluster cancel cb-123abc', 'cancel', ['cb-123abc']],
    ['%cluster doctor', 'doctor', []],
    ['%cluster doctor local', 'doctor', ['local']],
    ['\n  %cluster list  \n\n', 'list', []]
  ])('%s', (source, command, args) => {
    expect(parseCell(source)).toEqual({ kind: 'line', command, args });
  });

  it.each([
    ['%cluster frob', /unknown %cluster command "frob"/],
    ['%cluster use', /wrong number of arguments: %cluster use NAME/],
    ['%cluster use a b', /wrong number of arguments/],
    ['%cluster list extra', /wrong number of arguments/],
    ['%cluster cancel --all', /wrong number of arguments|takes no options/],
    ['%cluster attach "a b"', /invalid job id/],
    ['%cluster use "../x"', /invalid cluster name/],
    ['%cluster list\nprint(1)', /must be alone in its cell/],
    ['%cluster use "x', /unterminated double quote/]
  ])('rejects %s', (source, message) => {
    expect(invalid(source)).toMatch(message);
  });

  it('parses %cluster clean [NAME] [--dry-run]', () => {
    expect(parseCell('%cluster clean')).toEqual({
      kind: 'line',
      command: 'clean',
      args: []
    });
    expect(parseCell('%cluster clean --dry-run gpu')).toEqual({
      kind: 'line',
      command: 'clean',
      args: ['gpu'],
      request: { dryRun: true }
    });
    expect(invalid('%cluster clean a b')).toMatch(/%cluster clean \[NAME\]/);
    expect(invalid('%cluster clean --force')).toMatch(/only --dry-run/);
    expect(invalid('%cluster clean "a;rm"')).toMatch(/invalid cluster name/);
  });

  it('leaves other percent lines alone', () => {
    expect(parseCell('%clusters\n')).toEqual({
      kind: 'code',
      code: '%clusters\n'
    });
    expect(parseCell('%time x')).toEqual({ kind: 'code', code: '%time x' });
  });
});

describe('parseCell: plain code', () => {
  it('returns code unchanged', () => {
    expect(parseCell('print(1)\n%%cluster x')).toEqual({
      kind: 'code',
      code: 'print(1)\n%%cluster x'
    });
    expect(parseCell('')).toEqual({ kind: 'code', code: '' });
    expect(parseCell('  \n')).toEqual({ kind: 'code', code: '  \n' });
  });
});

describe('parseJobRequest', () => {
  it('parses the argument string alone', () => {
    expect(parseJobRequest(' local --gpus=0')).toEqual({
      cluster: 'local',
      gpus: 0
    });
  });
});

describe('isClusterCell', () => {
  it('matches what parseCell treats as a cluster cell', () => {
    expect(isClusterCell('%%cluster\nx')).toBe(true);
    expect(isClusterCell('\n%%cluster a\nx')).toBe(true);
    expect(isClusterCell('%cluster list')).toBe(false);
    expect(isClusterCell('x\n%%cluster')).toBe(false);
  });
});

describe('usage', () => {
  it('mentions every option and line command', () => {
    const text = usage();
    for (const o of MAGIC_OPTIONS) {
      expect(text).toContain(`--${o.name}`);
    }
    for (const c of LINE_COMMANDS) {
      expect(text).toContain(`%cluster ${c.name}`);
    }
  });
});

describe('parseCell: data, distributed and sweep options', () => {
  it('parses --in, --out and --sync', () => {
    expect(
      cluster('%%cluster local --in a,b --out=c --sync src/\nc = a').request
    ).toEqual({
      cluster: 'local',
      inVars: ['a', 'b'],
      outVars: ['c'],
      sync: 'src'
    });
    expect(cluster('%%cluster --sync ./\n').request.sync).toBe('.');
  });

  it.each([
    ['%%cluster --in 1a\n', /"1a" is not a Python variable name/],
    ['%%cluster --in a,a\n', /"a" is named twice/],
    ['%%cluster --out class\n', /not a Python variable name/],
    ['%%cluster --in ,\n', /at least one variable name/],
    ['%%cluster --sync /etc\n', /relative to the notebook/],
    ['%%cluster --sync ~/x\n', /relative to the notebook/],
    ['%%cluster --out b --detach\n', /--out cannot be combined with --detach/],
    ['%%cluster --in a --dry-run\n', /--in cannot be combined with --dry-run/]
  ])('rejects %s', (source, message) => {
    expect(invalid(source)).toMatch(message);
  });

  it('parses a distributed launch', () => {
    expect(
      cluster(
        '%%cluster slurm --nodes 2 --gpus-per-node 4 --tasks-per-node=2 --launch torchrun\n'
      ).request
    ).toEqual({
      cluster: 'slurm',
      nodes: 2,
      gpusPerNode: 4,
      tasksPerNode: 2,
      launch: 'torchrun'
    });
  });

  it.each([
    ['%%cluster --nodes 0\n', /--nodes must be at least 1/],
    ['%%cluster --launch ray\n', /"ray" is not one of torchrun, srun, mpirun/],
    ['%%cluster --gpus 1 --gpus-per-node 2\n', /either --gpus/],
    [
      '%%cluster --nodes 2 --out x\n',
      /--out cannot be combined with a distributed/
    ]
  ])('rejects %s', (source, message) => {
    expect(invalid(source)).toMatch(message);
  });

  it('parses --array lists and ranges', () => {
    expect(cluster('%%cluster --array seed=0-3\n').request.array).toEqual({
      name: 'seed',
      values: [0, 1, 2, 3]
    });
    expect(
      cluster('%%cluster --array lr=0.1,1e-3,-2,adam --max-parallel 2\n')
        .request
    ).toEqual({
      array: { name: 'lr', values: [0.1, 0.001, -2, 'adam'] },
      maxParallel: 2
    });
  });

  it.each([
    ['%%cluster --array seed\n', /NAME=v1,v2/],
    ['%%cluster --array 1x=1,2\n', /not a Python variable name/],
    ['%%cluster --array s=5-1\n', /is empty/],
    ['%%cluster --array s=0-5000\n', /at most 1000 elements/],
    ['%%cluster --array s=a,,b\n', /empty value/],
    ['%%cluster --max-parallel 2\n', /give --array too/],
    ['%%cluster --array s=1,2 --nodes 2\n', /cannot be combined with --nodes/]
  ])('rejects %s', (source, message) => {
    expect(invalid(source)).toMatch(message);
  });
});

describe('parseCell: data and array line magics', () => {
  it.each([
    ['%cluster push gpu a,b', 'push', ['gpu', 'a', 'b']],
    ['%cluster pull gpu c', 'pull', ['gpu', 'c']],
    ['%cluster put gpu data.npy', 'put', ['gpu', 'data.npy']],
    ['%cluster put gpu "my dir" in/', 'put', ['gpu', 'my dir', 'in/']],
    ['%cluster get gpu out/x.pt x.pt', 'get', ['gpu', 'out/x.pt', 'x.pt']],
    ['%cluster rerun cb-1a 3', 'rerun', ['cb-1a', '3']]
  ])('%s', (source, command, args) => {
    expect(parseCell(source)).toEqual({ kind: 'line', command, args });
  });

  it.each([
    ['%cluster session gpu --in a', /--in belongs on a %%cluster cell/],
    [
      '%cluster session gpu --array s=1,2 --detach',
      /--detach, --array belong on a %%cluster cell/
    ],
    ['%cluster session gpu --fresh', /--fresh belongs on a %%cluster cell/],
    ['%cluster push gpu', /%cluster push NAME a,b/],
    ['%cluster pull gpu 1x', /not a Python variable name/],
    ['%cluster put gpu', /%cluster put NAME LOCAL \[REMOTE\]/],
    ['%cluster get gpu --all', /invalid path/],
    ['%cluster rerun cb-1 seven', /ELEMENT is an element's index/]
  ])('rejects %s', (source, message) => {
    expect(invalid(source)).toMatch(message);
  });
});
