"""WinRM/PSRP transport: sessions, structured invocation and error classification."""
