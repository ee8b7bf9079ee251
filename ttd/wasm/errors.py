"""Errors raised by the Wasm binary layer.

Everything that goes wrong while reading a module surfaces as ``WasmError``
(never ``IndexError``/``struct.error``) so callers can catch one type and
still show the user *where* in the file the problem is.
"""

from __future__ import annotations

__all__ = ["WasmError", "UnsupportedOpcode"]


class WasmError(Exception):
    """Malformed or unsupported WebAssembly input.

    ``offset`` is the absolute byte offset in the module where the problem was
    detected (``None`` when no position applies), so messages can point at it.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        if offset is not None:
            text = f"{message} at offset 0x{offset:x}"
        else:
            text = message
        super().__init__(text)


class UnsupportedOpcode(WasmError):
    """An opcode the decoder (or a consumer such as the instrumenter) cannot handle.

    The message names the raw opcode bytes, the operator name when it is known
    and the offset, e.g.
    ``unsupported opcode 0xfe 0x10 (i32.atomic.load) at offset 0x1a2b``.
    """

    def __init__(
        self,
        opcode: bytes | tuple[int, ...] | list[int],
        offset: int | None,
        name: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.opcode = tuple(opcode)
        self.name = name
        self.reason = reason
        text = "unsupported opcode " + " ".join(f"0x{b:02x}" for b in self.opcode)
        if name:
            text += f" ({name})"
        if reason:
            text += f": {reason}"
        super().__init__(text, offset)
