"""The smallest spawn-mode worker, for the supervisor's own cost at 1,024 workers
(bench/lean.ts): an HTTP/1.0 "hello" on 127.0.0.1:<port>, one connection at a
time, standard library socket only (run with `python3 -S`: no site import).
SIGTERM keeps Python's default: the process ends at once.

    python3 -S bench/apps/tiny_server.py 8000
"""

import socket
import sys

RESPONSE = b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(64)
while True:
    connection, _ = listener.accept()
    try:
        # A TCP health probe connects and closes without a byte: nothing to answer.
        if connection.recv(4096):
            connection.sendall(RESPONSE)
    except OSError:
        pass
    connection.close()
