"""ttd: a record-and-replay time-travel debugger for WebAssembly."""

__version__ = "0.1.0"
