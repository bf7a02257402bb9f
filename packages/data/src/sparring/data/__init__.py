"""sparring.data: dataset readers, transforms and embedded samples (none registered yet)."""
