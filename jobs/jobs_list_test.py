"""jobs/jobs.bzl lists exactly the job folders on disk, so adding a job is never half-done."""

import os
import pathlib
import sys


def job_folders(jobs_dir: pathlib.Path) -> set[str]:
    return {p.name for p in jobs_dir.iterdir() if p.is_dir() and (p / "job.yaml").exists()}


def main(argv: list[str]) -> int:
    listed = set(next(a for a in argv if a.startswith("--jobs=")).split("=", 1)[1].split(","))
    # The runfile is a symlink into the source tree: that tree's jobs/ is the truth.
    runfile = pathlib.Path(os.environ.get("TEST_SRCDIR", ".")) / "cadenza" / "jobs" / "jobs.bzl"
    jobs_dir = runfile.resolve().parent if runfile.exists() else pathlib.Path(__file__).parent
    on_disk = job_folders(jobs_dir)
    problems = []
    for name in sorted(on_disk - listed):
        problems.append(f"jobs/{name}/ has a job.yaml but is not listed in jobs/jobs.bzl")
    for name in sorted(listed - on_disk):
        problems.append(f"jobs/jobs.bzl lists {name!r} but jobs/{name}/job.yaml does not exist")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(
            f"ok: {len(listed)} jobs listed and on disk in {jobs_dir}: {', '.join(sorted(listed))}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
