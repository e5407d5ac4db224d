"""Scale-out: the hosts of a multi-host bench, built as network namespaces to test it."""
