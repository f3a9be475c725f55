"""Writes the BUILD file and requirements.bzl of the @pypi repository.

Run by pip_repository (pip_repository.bzl) inside the repository directory, after the
locked wheels were installed into site/. For every installed distribution it reads:

- RECORD: the files the distribution owns (its runfiles; names with spaces, which Bazel
  4 runfiles cannot hold, are left out and listed in a comment);
- METADATA Requires-Dist: its dependencies, with environment markers evaluated for this
  interpreter and with the extras that requirements.in (or another distribution) asks
  for, so `@pypi//:apache_beam` brings the `gcp` extra's dependencies along.

A distribution's files are named by the fewest labels that cover them: a directory
whose every recorded file belongs to that one distribution is one label (a source
directory), so numpy is `site/numpy` and not 1,500 file labels; namespace directories
shared by several distributions (`google/`) are split until each part has one owner.
Loading and analysis then handle a few hundred labels instead of ~30,000. (The
contents of these directories never change without the whole repository being
fetched again, which is what makes Bazel's directory inputs safe here.)

Each distribution becomes two targets: `_files_<name>` (its own files) and `<name>`
(its files plus those of its transitive dependencies). Depending on the closure this
way keeps Bazel free of the dependency cycles some distributions have.
"""

from __future__ import annotations

import argparse
import csv
import email.parser
import json
import pathlib
import re
import sys


def normalize(name: str) -> str:
    """PEP 503 name normalization, with `_` so the result is a valid target name."""
    return re.sub(r"[-_.]+", "_", name).lower()


def read_requirement_lines(path: pathlib.Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


class Distribution:
    def __init__(self, dist_info: pathlib.Path, site: pathlib.Path):
        meta = email.parser.Parser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        self.name = normalize(meta["Name"])
        self.version = meta["Version"]
        self.requires = meta.get_all("Requires-Dist") or []
        self.files: list[str] = []
        self.skipped: list[str] = []
        site_resolved = site.resolve()
        with open(dist_info / "RECORD", newline="", encoding="utf-8") as record:
            for row in csv.reader(record):
                if not row:
                    continue
                target = (site / row[0]).resolve()
                if not target.is_relative_to(site_resolved) or not target.is_file():
                    continue
                relative = target.relative_to(site_resolved).as_posix()
                if " " in relative:
                    self.skipped.append(relative)
                else:
                    self.files.append(relative)
        self.files.sort()


def owned_labels(dists: dict[str, Distribution]) -> dict[str, list[str]]:
    """Per distribution, the fewest paths (directories or files) covering exactly its files."""
    owner: dict[str, str] = {}
    for name, dist in dists.items():
        for path in dist.files + dist.skipped:
            owner[path] = name
    children: dict[str, set[str]] = {}
    owners_below: dict[str, set[str]] = {}
    for path, name in owner.items():
        parts = path.split("/")
        for depth in range(len(parts)):
            parent = "/".join(parts[:depth])
            child = "/".join(parts[: depth + 1])
            children.setdefault(parent, set()).add(child)
            owners_below.setdefault(child, set()).add(name)
    labels: dict[str, list[str]] = {name: [] for name in dists}

    def assign(directory: str) -> None:
        for child in sorted(children.get(directory, ())):
            below = owners_below[child]
            if child in owner:  # a file
                if " " not in child:
                    labels[owner[child]].append(child)
            elif len(below) == 1 and child != "bin":  # bin/ scripts stay single files
                labels[next(iter(below))].append(child)
            else:
                assign(child)

    assign("")
    return labels


def resolve_dependencies(
    dists: dict[str, Distribution], roots: list[str], problems: list[str]
) -> dict[str, set[str]]:
    """Direct dependencies of every distribution, given the root requirements' extras.

    A dependency missing from the lock is added to `problems` (and left out), so that
    the repository still builds and `bazel run //:requirements.update` can fix the lock;
    //:requirements_lock_test fails while there are problems.
    """
    from packaging.requirements import Requirement

    extras: dict[str, set[str]] = {name: set() for name in dists}
    for line in roots:
        req = Requirement(line)
        extras.setdefault(normalize(req.name), set()).update(req.extras)
    direct: dict[str, set[str]] = {}
    changed = True
    while changed:  # extras can be requested by other distributions: iterate to a fixpoint
        changed = False
        for name, dist in dists.items():
            deps = set()
            for spec in dist.requires:
                req = Requirement(spec)
                active = any(
                    req.marker is None or req.marker.evaluate({"extra": extra})
                    for extra in ["", *sorted(extras[name])]
                )
                if not active:
                    continue
                dep = normalize(req.name)
                if dep not in dists:
                    problem = f"{dist.name} {dist.version} requires {spec!r}, which is not locked"
                    if problem not in problems:
                        problems.append(problem)
                    continue
                deps.add(dep)
                if not req.extras <= extras[dep]:
                    extras[dep] |= req.extras
                    changed = True
            direct[name] = deps
    return direct


def closure(direct: dict[str, set[str]], start: str) -> list[str]:
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(direct[name])
    return sorted(seen)


def starlark_list(items: list[str], indent: str = "        ") -> str:
    if not items:
        return "[]"
    body = "".join(f"{indent}{json.dumps(item)},\n" for item in items)
    return "[\n" + body + indent[:-4] + "]"


def render_build(dists: dict[str, Distribution], direct: dict[str, set[str]]) -> str:
    out = [
        "# Generated by //third_party/pip:generate_build.py. Do not edit.",
        'package(default_visibility = ["//visibility:public"])',
        "",
        'exports_files(glob(["site/bin/*"]))',
        "",
        'filegroup(name = "wheelhouse", srcs = glob(["wheels/*.whl"]))',
        "",
        'exports_files(["lock_problems.txt"])',
        "",
    ]
    labels = owned_labels(dists)
    for name in sorted(dists):
        dist = dists[name]
        data = [f"site/{path}" for path in labels[name]]
        covered = [s for s in dist.skipped if not any(s.startswith(p + "/") for p in labels[name])]
        if covered:
            out.append(f"# {name}: left out (spaces in names): {', '.join(covered)}")
        out.append(
            f"py_library(\n"
            f'    name = "_files_{name}",\n'
            f"    data = {starlark_list(data)},\n"
            f'    imports = ["site"],\n'
            f'    visibility = ["//visibility:private"],\n'
            f")\n"
        )
        deps = [f":_files_{d}" for d in closure(direct, name)]
        out.append(
            f"# {dist.name} {dist.version}\n"
            f"py_library(\n"
            f'    name = "{name}",\n'
            f"    deps = {starlark_list(deps)},\n"
            f")\n"
        )
    return "\n".join(out)


def render_requirements_bzl(repository: str, dists, direct, runtime_roots, dev_roots) -> str:
    runtime = set()
    for line in runtime_roots:
        name = normalize(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0])
        if name in direct:
            runtime.update(closure(direct, name))
    versions = {name: dists[name].version for name in sorted(dists)}
    dev_only = sorted(set(dists) - runtime)
    return f'''"""Generated by //third_party/pip:generate_build.py. Do not edit."""

VERSIONS = {json.dumps(versions, indent=4, sort_keys=True)}

RUNTIME = {json.dumps(sorted(runtime), indent=4)}

DEV_ONLY = {json.dumps(dev_only, indent=4)}

def _normalize(name):
    out = ""
    for c in name.lower().elems():
        out += "_" if c in "-." else c
    for _ in range(len(out)):
        if "__" not in out:
            break
        out = out.replace("__", "_")
    return out

def requirement(name):
    """The Bazel target of the locked distribution `name` (any spelling: Foo-Bar, foo_bar)."""
    key = _normalize(name)
    if key not in VERSIONS:
        fail(("requirement(%r): %r is not in requirements_lock.txt. Add it to " % (name, key)) +
             "requirements.in (or requirements-dev.in) and relock with " +
             "`bazel run //:requirements.update`.")
    return "@{repository}//:" + key
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=pathlib.Path, required=True)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--lock", type=pathlib.Path, required=True)
    parser.add_argument("--runtime-in", type=pathlib.Path, action="append", default=[])
    parser.add_argument("--dev-in", type=pathlib.Path, action="append", default=[])
    args = parser.parse_args()

    sys.path.insert(0, str(args.site.resolve()))  # `packaging` comes from the lock itself
    dists = {}
    for dist_info in sorted(args.site.glob("*.dist-info")):
        dist = Distribution(dist_info, args.site)
        dists[dist.name] = dist
    runtime_roots = [line for f in args.runtime_in for line in read_requirement_lines(f)]
    dev_roots = [line for f in args.dev_in for line in read_requirement_lines(f)]
    problems: list[str] = []
    direct = resolve_dependencies(dists, runtime_roots + dev_roots, problems)
    for root in runtime_roots + dev_roots:
        name = normalize(re.split(r"[\[<>=!~; ]", root, maxsplit=1)[0])
        if name not in dists:
            problems.append(f"requirements*.in names {root!r}, which is not locked")
    pathlib.Path("lock_problems.txt").write_text("".join(f"{p}\n" for p in problems))
    if problems:
        print("requirements_lock.txt does not cover the inputs; relock:", *problems, sep="\n  ")
    pathlib.Path("BUILD.bazel").write_text(render_build(dists, direct))
    pathlib.Path("requirements.bzl").write_text(
        render_requirements_bzl(args.repository, dists, direct, runtime_roots, dev_roots)
    )
    pathlib.Path("WORKSPACE").write_text(f'workspace(name = "{args.repository}")\n')


if __name__ == "__main__":
    main()
