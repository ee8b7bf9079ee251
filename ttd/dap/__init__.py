"""`ttd dap`: the Debug Adapter Protocol over LLDB connected to ttd's replay server."""
