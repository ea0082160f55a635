"""Fuzzing of every decoder that reads outside input (see `targets`), runnable as
``python -m raftstore.testing.fuzz TARGET --runs N`` under atheris when it is installed, else under a plain
random-mutation driver with the same command line."""
