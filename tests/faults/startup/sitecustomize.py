"""Python runs this at start-up when this folder is on PYTHONPATH (tests/faults/inject.py `fault_env`): the fault
hooks named in $KNOWRL_FAULTS are installed in every process of a test's stack, workers' flow runs included."""

from tests.faults.inject import install_from_env

install_from_env()
