"""A fake Socket Mode endpoint: the WebSocket server that `apps.connections.open` points slack_sdk at.

Just enough of RFC 6455 for slack_sdk's built-in client on a plain socket (it skips TLS off port 443):
the upgrade handshake, a `hello`, unmasked text frames out, masked frames in (acks, pings, close).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeSocketMode:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/link/?ticket=test"
        self.acks: list[str] = []
        self.connected = threading.Event()
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="fake-socket-mode", daemon=True).start()

    def send_event(self, envelope_id: str, payload: dict[str, Any]) -> None:
        """Slack pushing an Events API envelope down the socket."""
        self._send(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": "events_api",
                    "payload": payload,
                    "accepts_response_payload": False,
                    "retry_attempt": 0,
                }
            )
        )

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        if self._client is not None:
            self._client.close()

    # --- the server side --------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._client = client
            self._handshake(client)
            self._send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {}}))
            self.connected.set()
            threading.Thread(target=self._read, args=(client,), daemon=True).start()

    def _handshake(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
        client.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )

    def _send(self, text: str, opcode: int = 1) -> None:
        data = text.encode()
        header = bytes([0x80 | opcode])
        if len(data) < 126:
            header += bytes([len(data)])
        elif len(data) < 1 << 16:
            header += bytes([126]) + struct.pack("!H", len(data))
        else:
            header += bytes([127]) + struct.pack("!Q", len(data))
        with self._lock:
            assert self._client is not None
            self._client.sendall(header + data)

    def _read(self, client: socket.socket) -> None:
        try:
            while True:
                first, second = self._exactly(client, 2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._exactly(client, 2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", self._exactly(client, 8))
                mask = self._exactly(client, 4) if second & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._exactly(client, length)))
                if opcode == 1:
                    message = json.loads(data or b"{}")
                    if "envelope_id" in message:
                        self.acks.append(message["envelope_id"])
                elif opcode == 9:
                    self._send(data.decode(errors="replace"), opcode=10)
                elif opcode == 8:
                    return
        except (OSError, ConnectionError, ValueError):
            return

    @staticmethod
    def _exactly(client: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = client.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
