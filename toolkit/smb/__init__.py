"""What SMB servers do on the wire: NEGOTIATE probe, validate-negotiate diagnosis, and the
comparison of the wire with the registry. Library only; the CLI renders the results."""
