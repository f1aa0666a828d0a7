"""_cb_events: the one event log the agent and the runner both append to."""
import os
import sys
import unittest

from rt_helpers import RUNTIME, TempDirCase, read_events

sys.path.insert(0, RUNTIME)
import _cb_events  # noqa: E402


class EventLogTest(TempDirCase):
    def test_two_writers_continue_each_others_numbering(self):
        agent = _cb_events.EventLog(self.tmp)
        agent.write([{'type': 'status', 'phase': 'preparing'}])
        runner = _cb_events.EventLog(self.tmp)  # made before the agent's next write, as a held runner
        agent.write([{'type': 'status', 'phase': 'running'}])
        runner.write([{'type': 'stream', 'name': 'stdout', 'text': 'x'}, {'type': 'notice', 'text': 'y'}])
        agent.resync()
        agent.write([{'type': 'done', 'state': 'completed', 'exitCode': 0}])
        events = read_events(self.tmp)
        self.assertEqual([e['seq'] for e in events], [0, 1, 2, 3, 4])
        self.assertEqual(events[-1]['type'], 'done')
        self.assertTrue(_cb_events.has_done(os.path.join(self.tmp, 'events.jsonl')))

    def test_values_json_cannot_hold_are_written_as_their_repr_or_null(self):
        log = _cb_events.EventLog(self.tmp)
        log.write([{'type': 'display', 'data': {'text/plain': object, 'x': float('nan')}}])
        data = read_events(self.tmp)[0]['data']
        self.assertEqual(data['text/plain'], repr(object))
        self.assertIsNone(data['x'])

    def test_notify_pipe_gets_a_byte_per_batch_and_a_closed_one_is_dropped(self):
        r, w = os.pipe()
        log = _cb_events.EventLog(self.tmp, notify_fd=w)
        log.write([{'type': 'notice', 'text': 'a'}, {'type': 'notice', 'text': 'b'}])
        self.assertEqual(os.read(r, 10), b'.')
        os.close(r)
        log.write([{'type': 'notice', 'text': 'c'}])  # EPIPE: no error, no more notifying
        self.assertIsNone(log.notify_fd)
        os.close(w)
        self.assertEqual(len(read_events(self.tmp)), 3)

    def test_a_done_marker_inside_text_is_not_the_done_line(self):
        chunk = b'{"seq":0,"t":1,"type":"stream","text":"\\"type\\":\\"done\\""}\n'
        self.assertIsNone(_cb_events.find_done(chunk))
        done = b'{"seq":1,"t":1,"type":"done","state":"completed"}\n'
        self.assertEqual(_cb_events.find_done(chunk + done), len(chunk + done))


if __name__ == '__main__':
    unittest.main()
