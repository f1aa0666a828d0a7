import { EventLineParser } from './events';

const line = (event: object) => JSON.stringify(event) + '\n';

describe('EventLineParser', () => {
  it('joins lines cut across chunks, at any byte, UTF-8 included', () => {
    const text =
      line({
        seq: 0,
        t: 1,
        type: 'stream',
        name: 'stdout',
        text: 'héllo ✓ 😀\n'
      }) + line({ seq: 1, t: 1, type: 'done', state: 'completed' });
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new EventLineParser();
      const a = parser.push(bytes.subarray(0, cut));
      const b = parser.push(bytes.subarray(cut));
      const events = [...a.events, ...b.events];
      expect(events.map(e => e.type)).toEqual(['stream', 'done']);
      expect((events[0] as { text: string }).text).toBe('héllo ✓ 😀\n');
      expect(parser.offset).toBe(bytes.length);
    }
  });

  it('tracks the byte offset of complete lines only', () => {
    const parser = new EventLineParser(100);
    const first = line({ seq: 0, t: 1, type: 'notice', text: 'x' });
    parser.push(Buffer.from(first + '{"seq":1,'));
    expect(parser.offset).toBe(100 + Buffer.byteLength(first));
    parser.dropPartial();
    // A resumed follow re-reads from the offset: the partial line arrives whole, once.
    const { events } = parser.push(
      Buffer.from(line({ seq: 1, t: 1, type: 'notice', text: 'y' }))
    );
    expect(events).toHaveLength(1);
  });

  it('reports junk lines without losing the events around them', () => {
    const parser = new EventLineParser();
    const a = line({ seq: 0, t: 1, type: 'notice', text: 'a' });
    const { events, bad } = parser.push(
      Buffer.from(
        a +
          'not json\n\n[1]\n' +
          line({ seq: 1, t: 1, type: 'notice', text: 'b' })
      )
    );
    expect(events.map(e => (e as { text: string }).text)).toEqual(['a', 'b']);
    expect(bad).toEqual(['not json', '[1]']);
    expect(parser.lastSeq).toBe(1);
  });
});
