import { PassThrough } from 'stream';

import { terminalSink } from './terminal';

function capture() {
  const out = new PassThrough();
  const err = new PassThrough();
  const read = (s: PassThrough) => (s.read() ?? '').toString();
  return { out, err, read };
}

describe('terminalSink', () => {
  it('prints streams, text/plain of rich outputs, status changes to stderr and errors', () => {
    const { out, err, read } = capture();
    const sink = terminalSink({ out, err });
    sink.stream('stdout', 'a\n');
    sink.stream('stderr', 'warn\n');
    sink.display({ 'text/plain': 'phase: connecting' }, {}, 'cb-status-1');
    sink.updateDisplay(
      { 'text/plain': 'phase: connecting' },
      {},
      'cb-status-1'
    );
    sink.updateDisplay({ 'text/plain': 'phase: running' }, {}, 'cb-status-1');
    sink.display({ 'text/html': '<b>x</b>', 'text/plain': '<Table>' });
    sink.display({ 'image/png': 'AAAA' });
    sink.result({ 'text/plain': '42' });
    sink.error('ValueError', 'bad', [
      'Traceback (most recent call last):',
      'ValueError: bad'
    ]);
    expect(read(out)).toBe('a\n<Table>\n<image/png output>\n42\n');
    expect(read(err)).toBe(
      'warn\nphase: connecting\nphase: running\nTraceback (most recent call last):\nValueError: bad\n'
    );
    expect(sink.errors).toBe(1);
  });
});
