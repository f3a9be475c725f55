"""The arguments every generated job target gets: which job, its config, module, registry."""

from __future__ import annotations

import argparse
import importlib
import inspect

from cadenza.runtime import JobLogic


def job_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--job", required=True, help="the job's folder name under jobs/")
    parser.add_argument("--config", required=True, help="its job.yaml")
    parser.add_argument("--module", required=True, help="its main module")
    parser.add_argument("--registry", required=True, help="the DAG registry JSON")
    return parser


def job_logic(module_name: str) -> type[JobLogic]:
    """The JobLogic subclass the job's main module runs (exactly one must be visible)."""
    module = importlib.import_module(module_name)
    found = {
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, JobLogic) and value is not JobLogic
    }
    if len(found) != 1:
        names = sorted(cls.__name__ for cls in found) or "none"
        raise SystemExit(f"{module_name}: expected one JobLogic subclass in scope, found {names}")
    return found.pop()
