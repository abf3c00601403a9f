"""What the tests and benches share: sample records and the one interaction builder (samples), the
in-memory dataset writer, free ports and a child's environment (deployment), the Label Studio client
with reviewer actions, the fault tests' consumer-group reads in a child process (group_reads).
Importable as ``tests.support`` (pytest puts the repository root on sys.path; benches run as scripts
put it there themselves)."""
