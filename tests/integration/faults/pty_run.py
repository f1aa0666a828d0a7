"""Runs a command on a pseudo-terminal, as a person at a terminal would, and answers one
prompt: `pty_run.py PROMPT_TEXT ANSWER -- COMMAND...`. Prints {"code", "output", "asked"} as
JSON. The answer goes in only after PROMPT_TEXT appeared on the terminal."""
import json
import os
import pty
import select
import sys
import time


def main(argv):
    sep = argv.index('--')
    prompt, answer = argv[0].encode(), argv[1].encode()
    command = argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    output = b''
    asked = False
    deadline = time.time() + 240
    while time.time() < deadline:
        ready = select.select([fd], [], [], 0.5)[0]
        if not ready:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not asked and prompt in output:
            asked = True
            os.write(fd, answer + b'\r')
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    json.dump({'code': code, 'output': output.decode('utf-8', 'replace'), 'asked': asked},
              sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1:])
