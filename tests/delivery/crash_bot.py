"""A bot process for the crash test: `python -m tests.delivery.crash_bot URL crash|restart`.

crash: handle three messages; the platform takes the first two events' replies, then the process is
killed (SIGKILL) at the first delivery of the third — after its commit, before anything reached anyone.
restart: a new process on the same database delivers what is still queued; prints what it delivered.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from bot.messages import Inbound, Person
from tests.conftest import build_app_for_tests
from tests.fakes import RecordingDeliverer

ADA = "ada@example.com"


class KilledOnTicket(RecordingDeliverer):
    def send(self, address, payload):  # type: ignore[no-untyped-def]
        if "opened ticket" in payload.text or address["to"] == "#triage":
            os.kill(os.getpid(), signal.SIGKILL)
        return super().send(address, payload)


def main(url: str, mode: str) -> None:
    platform = KilledOnTicket("crashtest") if mode == "crash" else RecordingDeliverer("crashtest")
    app = build_app_for_tests(url, chat=[platform], delivery_claim_seconds=0.2)
    if mode == "crash":
        for number, text in enumerate(("talk to a human", "The projector shows no picture", "not urgent")):
            app.bot.handle(Inbound(Person("crashtest", ADA, ADA), text=text, event_id=f"crash-{number}"))
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the dead process's claim lapses after 0.2 s
        app.delivery.dispatcher.run_due()
        if len(platform.delivered) >= 2:
            break
        time.sleep(0.05)
    print(json.dumps([{"to": r.to, "text": r.text} for r in platform.delivered]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
