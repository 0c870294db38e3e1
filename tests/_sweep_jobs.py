"""Module-level job functions for tests/test_sweep.py (process pools and clusters pickle them)."""

import os
import time


def square(config):
    if config.get("fail"):
        raise RuntimeError("deliberate failure")
    if config.get("die_after") is not None:  # simulate a lost node: the worker process dies
        time.sleep(config["die_after"])
        os._exit(1)
    marker = config.get("marker_dir")
    if marker:  # count real executions, to prove cached jobs are not recomputed
        with open(os.path.join(marker, f"ran_{config['x']}"), "a") as fh:
            fh.write("x")
    return {"y": config["x"] ** 2}


def arrays(config):
    import numpy as np

    return {"v": np.arange(config["n"], dtype=float)}


def pid(config):
    """The id of the process that ran the job (shows a job ran on a worker, not in the driver)."""
    return {"pid": os.getpid(), "i": config["i"]}
