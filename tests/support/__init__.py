"""What the tests and benches share: sample records and one interaction builder, the in-memory dataset
writer. Importable as ``tests.support`` (pytest puts the repository root on ``sys.path``)."""
