"""A cell body for distributed tests: a real rendezvous among the ranks over TCP (no torch),
MASTER_ADDR/MASTER_PORT as torch.distributed would use them. Rank 0 listens; every other rank
sends its value; rank 0 sends the sum back to each. Prints one line per rank."""
import os
import socket
import time

rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
addr, port = os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT'])
value = rank + 1
if rank == 0:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('', port))
    server.listen(world)
    peers = [server.accept()[0] for _ in range(world - 1)]
    total = value + sum(int(p.recv(64).decode()) for p in peers)
    for p in peers:
        p.sendall(str(total).encode())
        p.close()
    server.close()
else:
    deadline = time.time() + 60
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    conn.sendall(str(value).encode())
    total = int(conn.recv(64).decode())
    conn.close()
print('rank %d/%d local %s on %s: allreduce %d cvd=%s' % (
    rank, world, os.environ['LOCAL_RANK'], socket.gethostname(), total,
    os.environ.get('CUDA_VISIBLE_DEVICES')))
