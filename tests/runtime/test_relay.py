"""The agent's `relay HOST PORT` (_cb_relay.py) against real local socket servers: raw bytes
both ways, the end when either side closes, a clear error when the connect fails."""
import os
import socket
import subprocess
import threading
import unittest

from rt_helpers import AGENT, PYTHON

TIMEOUT = 30


def relay(port, host='127.0.0.1'):
    return subprocess.Popen([PYTHON, '-I', '-u', AGENT, 'relay', host, str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_all(stream, into):
    while True:
        data = stream.read1(1 << 16) if hasattr(stream, 'read1') else stream.read(1 << 16)
        if not data:
            return
        into.append(data)


class Server:
    """One connection on a loopback port, handled by `handle(conn)` in a thread."""

    def __init__(self, handle):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.closed_by_peer = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(handle,))
        self.thread.daemon = True
        self.thread.start()

    def _serve(self, handle):
        conn, _ = self.sock.accept()
        try:
            handle(self, conn)
        finally:
            conn.close()
            self.sock.close()


def echo(server, conn):
    while True:
        data = conn.recv(1 << 16)
        if not data:
            server.closed_by_peer.set()
            return
        conn.sendall(data)


class Relay(unittest.TestCase):
    def relay(self, port):
        proc = relay(port)
        self.addCleanup(lambda: [f.close() for f in (proc.stdin, proc.stdout, proc.stderr)])
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def test_copies_raw_bytes_both_ways_and_ends_when_stdin_closes(self):
        server = Server(echo)
        proc = self.relay(server.port)
        payload = bytes(range(256)) * 4096 + b'\r\n\x00 end'  # ~1 MiB, every byte value
        out = []
        reader = threading.Thread(target=read_all, args=(proc.stdout, out))
        reader.start()
        proc.stdin.write(payload)
        proc.stdin.flush()
        # Echoed in full before we close our side: nothing held back in a buffer.
        for _ in range(TIMEOUT * 10):
            if sum(len(c) for c in out) >= len(payload):
                break
            threading.Event().wait(0.1)
        self.assertEqual(b''.join(out), payload)
        proc.stdin.close()
        self.assertEqual(proc.wait(TIMEOUT), 0, proc.stderr.read().decode())
        reader.join(TIMEOUT)
        self.assertTrue(server.closed_by_peer.wait(TIMEOUT), 'the relay left the socket open')

    def test_ends_when_the_server_closes(self):
        def greet_and_close(server, conn):
            conn.sendall(b'bye\n')

        server = Server(greet_and_close)
        proc = self.relay(server.port)
        # stdin stays open: the socket's close alone ends the relay.
        self.assertEqual(proc.stdout.read(), b'bye\n')
        self.assertEqual(proc.wait(TIMEOUT), 0, proc.stderr.read().decode())

    def test_both_directions_at_once_without_reading_first(self):
        # The server sends 8 MiB before it reads anything: a relay that did both directions
        # in one blocking loop would stall once the pipes and socket buffers are full.
        size = 8 << 20

        def flood_then_drain(server, conn):
            conn.sendall(b'x' * size)
            got = 0
            while got < size:
                data = conn.recv(1 << 16)
                if not data:
                    break
                got += len(data)
            server.received.append(got)

        server = Server(flood_then_drain)
        proc = self.relay(server.port)
        out = []
        reader = threading.Thread(target=read_all, args=(proc.stdout, out))
        reader.start()
        writer = threading.Thread(target=lambda: (proc.stdin.write(b'y' * size), proc.stdin.flush()))
        writer.start()
        writer.join(TIMEOUT)
        self.assertFalse(writer.is_alive(), 'the relay stopped reading its stdin')
        server.thread.join(TIMEOUT)
        self.assertEqual(server.received, [size])
        reader.join(TIMEOUT)
        self.assertEqual(sum(len(c) for c in out), size)
        proc.stdin.close()
        self.assertEqual(proc.wait(TIMEOUT), 0)

    def test_a_refused_connect_is_a_clear_error(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        proc = self.relay(port)
        out, err = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(out, b'')
        self.assertIn('relay: cannot connect to 127.0.0.1:%d: Connection refused' % port, err.decode())

    def test_bad_arguments(self):
        for args in (['relay'], ['relay', '127.0.0.1'], ['relay', '127.0.0.1', 'http'],
                     ['relay', '127.0.0.1', '0'], ['relay', 'h', '1', 'extra']):
            out = subprocess.run([PYTHON, '-I', AGENT] + args, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=TIMEOUT)
            self.assertEqual(out.returncode, 2, args)
            self.assertRegex(out.stderr.decode(), r'cluster-bridge agent: (usage|relay: bad address)')


if __name__ == '__main__':
    unittest.main()
