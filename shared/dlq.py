"""Dead letters: list, show, re-drive into the consumer that failed, or drop with a reason.

A dead letter is a message a consumer could not handle (stream FLOWERS_DLQ, subject
`flowers.dlq.<consumer>`), kept with its error. Re-driving sends its payload to the
owning service (`flowers.cmd.<service>.redrive`), which runs the consumer's handler in the
same inbox-guarded transaction: a message handled once stays handled once. What was
re-driven or dropped, by whom and why, is logged on `flowers.dlq.log.<action>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.bus import DLQ_STREAM
from shared.rpc import RpcClient

LOG_PREFIX = "flowers.dlq.log."


@dataclass(frozen=True)
class DeadLetter:
    id: int  # the sequence in FLOWERS_DLQ
    consumer: str
    subject: str
    stream_sequence: int
    deliveries: int
    error: str
    dead_lettered_at: str
    payload: str
    traceback: str = ""

    @property
    def service(self) -> str:
        """Consumers are named `<service>-<source>`."""
        return self.consumer.split("-", 1)[0]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "consumer": self.consumer,
            "subject": self.subject,
            "stream_sequence": self.stream_sequence,
            "deliveries": self.deliveries,
            "error": self.error,
            "dead_lettered_at": self.dead_lettered_at,
        }


class DeadLetterNotFound(LookupError):
    pass


async def _letter(js: JetStreamContext, seq: int) -> DeadLetter | None:
    try:
        message = await js.get_msg(DLQ_STREAM, seq)
    except NotFoundError:
        return None
    if message.subject is None or message.subject.startswith(LOG_PREFIX) or not message.data:
        return None
    body = json.loads(message.data)
    return DeadLetter(
        id=seq,
        consumer=body["consumer"],
        subject=body["subject"],
        stream_sequence=body["stream_sequence"],
        deliveries=body["deliveries"],
        error=body["error"],
        dead_lettered_at=body["dead_lettered_at"],
        payload=body["payload"],
        traceback=body.get("traceback", ""),
    )


async def list_letters(js: JetStreamContext) -> list[DeadLetter]:
    try:
        state = (await js.stream_info(DLQ_STREAM)).state
    except NotFoundError:
        return []
    if not state.messages:
        return []
    letters = []
    for seq in range(state.first_seq, state.last_seq + 1):
        letter = await _letter(js, seq)
        if letter is not None:
            letters.append(letter)
    return letters


async def get_letter(js: JetStreamContext, seq: int) -> DeadLetter:
    letter = await _letter(js, seq)
    if letter is None:
        raise DeadLetterNotFound(f"no dead letter {seq}")
    return letter


async def _log(js: JetStreamContext, action: str, letter: DeadLetter, **extra: Any) -> None:
    record = {
        **letter.summary(),
        "action": action,
        "at": datetime.now(UTC).isoformat(),
        **extra,
    }
    await js.publish(
        f"{LOG_PREFIX}{action}",
        json.dumps(record, ensure_ascii=False).encode(),
        stream=DLQ_STREAM,
    )


async def redrive(js: JetStreamContext, rpc: RpcClient, seq: int, actor: str) -> dict[str, Any]:
    """Hand the letter back to its consumer; on success it leaves the dead-letter list."""
    letter = await get_letter(js, seq)
    result: dict[str, Any] = await rpc.command(
        letter.service,
        "redrive",
        {"actor": actor, "consumer": letter.consumer, "payload": letter.payload},
        timeout=30,
    )
    await _log(js, "redriven", letter, actor=actor, handled=result.get("handled"))
    await js.delete_msg(DLQ_STREAM, seq)
    return result


async def drop(js: JetStreamContext, seq: int, reason: str, actor: str) -> None:
    if not reason.strip():
        raise ValueError("a reason is required to drop a dead letter")
    letter = await get_letter(js, seq)
    await _log(js, "dropped", letter, actor=actor, reason=reason)
    await js.delete_msg(DLQ_STREAM, seq)
