"""The gdb-remote protocol layer LLDB's wasm plugin talks to, sans I/O.

`framing` turns bytes into packets and back, `protocol.GdbConnection` holds one conversation
and answers it from a `target.Target`, `replies` spells the answers, `parse` reads arguments.
"""
