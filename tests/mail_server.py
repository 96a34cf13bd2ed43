"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepted, by Message-ID.

It can refuse a recipient, and stall at the Nth recipient or message (telling the
test through `stalled`), as a slow mail server does: a killed sender then dies in
the middle of a real SMTP conversation. A message is queued before the server
answers its DATA, as real servers do: a sender killed during a stall there never
hears the answer, but the message has been delivered.
"""

import asyncio
import email
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Stall:
    at: str  # "rcpt" or "data"
    on: int  # the Nth recipient or message
    seconds: float


@dataclass
class Handler:
    refuse: set = field(default_factory=set)
    stall: Stall | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    received: list = field(default_factory=list)  # (Message-ID, recipients), as accepted
    messages: list = field(default_factory=list)  # the messages themselves, in that order
    counts: dict = field(default_factory=lambda: {"rcpt": 0, "data": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _maybe_stall(self, at: str) -> None:
        with self.lock:
            self.counts[at] += 1
            now = self.counts[at]
        if self.stall is not None and self.stall.at == at and self.stall.on == now:
            self.stalled.set()
            await asyncio.sleep(self.stall.seconds)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        await self._maybe_stall("rcpt")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # Queued first, answered after: a sender cut off in between has been delivered.
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            self.received.append((message["Message-ID"], tuple(envelope.rcpt_tos)))
            self.messages.append(message)
            number = len(self.received)
        await self._maybe_stall("data")
        return f"250 2.0.0 Ok: queued as Q{number}"


class MailServer:
    def __init__(self):
        self.handler = Handler()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "MailServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def mailer(self) -> dict:
        """Django's MAILERS entry for sending here through Fascia's backend."""
        return {
            "BACKEND": "config.mail.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 10},
        }

    def bodies(self) -> list[str]:
        """The text of each message accepted, in order."""
        with self.handler.lock:
            return [message.get_payload(decode=True).decode() for message in self.handler.messages]

    def message_ids(self) -> list[str]:
        with self.handler.lock:
            return [message_id for message_id, _ in self.handler.received]
