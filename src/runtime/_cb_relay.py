"""The agent's `relay HOST PORT`: a session's bytes through an exec channel, for login nodes
that forbid TCP forwarding (AllowTcpForwarding no). Connects one TCP socket and copies
stdin -> socket and socket -> stdout as raw bytes until either side closes.

Two threads, one per direction: a session that writes while we write to it must never wait
on us (one thread doing both could block in a send while the other side blocks too).
Standard library only, Python 3.6 syntax.
"""
import os
import socket
import sys
import threading

CONNECT_TIMEOUT_S = 10
CHUNK = 1 << 16


class RelayError(Exception):
    """The relay could not start (bad arguments, connect refused): one clear line."""


def parse(args):
    if len(args) != 2:
        raise RelayError('usage: agent.py relay HOST PORT')
    host, port = args
    try:
        number = int(port)
    except ValueError:
        number = 0
    if not host or not 0 < number < 65536:
        raise RelayError('relay: bad address %r %r (HOST PORT, port 1-65535)' % (host, port))
    return host, number


def connect(host, port):
    try:
        sock = socket.create_connection((host, port), CONNECT_TIMEOUT_S)
    except (OSError, socket.timeout) as e:
        raise RelayError('relay: cannot connect to %s:%d: %s' % (host, port, e.strerror or e))
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def relay(sock, stdin_fd=0, stdout_fd=1):
    """Copies both ways until one side closes; returns 0, or 1 after an unexpected error."""
    finished = threading.Event()
    failures = []

    def upstream():
        try:
            while True:
                data = os.read(stdin_fd, CHUNK)
                if not data:
                    return
                sock.sendall(data)
        except OSError as e:
            failures.append('to the session: %s' % (e.strerror or e))
        finally:
            finished.set()

    def downstream():
        try:
            while True:
                data = sock.recv(CHUNK)
                if not data:
                    return
                view = memoryview(data)
                while view:
                    view = view[os.write(stdout_fd, view):]
        except OSError as e:
            failures.append('from the session: %s' % (e.strerror or e))
        finally:
            finished.set()

    for body in (upstream, downstream):
        thread = threading.Thread(target=body)
        thread.daemon = True  # the one still blocked in a read must not keep us alive
        thread.start()
    finished.wait()
    try:
        sock.close()
    except OSError:
        pass
    # A closed channel or a closed session is the normal end; a reset is worth a line.
    real = [f for f in failures if 'Broken pipe' not in f]
    if real:
        sys.stderr.write('cluster-bridge agent: relay: %s\n' % real[0])
        return 1
    return 0


def command(args):
    host, port = parse(args)
    return relay(connect(host, port))
