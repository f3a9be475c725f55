"""A job's two spellings, and the conversion between them.

A job's folder under jobs/ (`audio_info`) names its Bazel targets, its images and what
deploy keeps in `.cadenza/jobs/`; its `job_name` (`audio-info`) names its Pub/Sub
topics and subscriptions, its messages' recipients and its registry entry. They are the
same words with '_' in the folder where the job_name has '-': new_job writes them so,
and each job's :config_test checks it. The tools take either and convert.
"""

from __future__ import annotations


def job_name(name: str) -> str:
    """The job_name of a job named either way: `audio_info` or `audio-info` -> `audio-info`."""
    return name.replace("_", "-")


def folder_name(name: str) -> str:
    """The folder of a job named either way: `audio-info` or `audio_info` -> `audio_info`."""
    return name.replace("-", "_")


__all__ = ["folder_name", "job_name"]
