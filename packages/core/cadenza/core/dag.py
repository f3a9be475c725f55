"""The DAG of jobs, built from every job config in the repository.

`Dag.build(configs)` checks that job names are unique, every upstream exists, there is
no cycle (the error shows it) and each child reads its parents' data: for every
upstream, one of the child's data inputs has the same location and suffix as one of
that parent's data outputs. It answers parents, children, ancestors, descendants and
a deterministic topological order, and serialises to JSON for the registry.

>>> from cadenza.core.config import parse_job_config
>>> normalize = parse_job_config('''
... job_name: normalize
... data: {outputs: [{name: audio, location: /data/normalized, suffix: .flac}]}
... ''')
>>> fingerprint = parse_job_config('''
... job_name: fingerprint
... upstream: [normalize]
... data: {inputs: [{name: audio, location: /data/normalized, suffix: .flac}]}
... ''')
>>> dag = Dag.build([fingerprint, normalize])
>>> dag.topological_order(), dag.children("normalize")
(('normalize', 'fingerprint'), ('fingerprint',))
"""

from __future__ import annotations

import difflib
import heapq
import json
from collections.abc import Iterable

import attrs

from cadenza.core.config import JobConfig, converter
from cadenza.core.errors import DagError

REGISTRY_FORMAT = 1


@attrs.frozen
class Dag:
    """Validated jobs and the edges between them. Build with `Dag.build`."""

    jobs: dict[str, JobConfig]

    @classmethod
    def build(cls, configs: Iterable[JobConfig]) -> Dag:
        """Validates the configs as one DAG; raises DagError listing every problem."""
        configs = list(configs)
        jobs: dict[str, JobConfig] = {}
        problems = []
        for config in configs:
            if config.job_name in jobs:
                problems.append(f"{config.job_name}: job name used by more than one job")
            jobs[config.job_name] = config
        for name in sorted(jobs):
            for parent in jobs[name].upstream:
                if parent not in jobs:
                    close = difflib.get_close_matches(parent, list(jobs), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    problems.append(f"{name}: upstream: no job named {parent!r}{hint}")
        if problems:
            raise DagError("\n".join(problems))
        dag = cls(jobs)
        cycle = dag._find_cycle()
        if cycle:
            raise DagError("cycle in the DAG: " + " -> ".join(cycle))
        problems = [p for name in sorted(jobs) for p in dag._data_mismatches(name)]
        problems += dag._shared_outputs()
        if problems:
            raise DagError("\n".join(problems))
        return dag

    def _find_cycle(self) -> list[str] | None:
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        path: list[str] = []

        def visit(name: str) -> list[str] | None:
            state[name] = 1
            path.append(name)
            for parent in sorted(self.jobs[name].upstream):
                if state.get(parent) == 1:
                    loop = [*path[path.index(parent) :], parent]
                    return list(reversed(loop))  # shown in data-flow order
                if parent not in state:
                    found = visit(parent)
                    if found:
                        return found
            path.pop()
            state[name] = 2
            return None

        for name in sorted(self.jobs):
            if name not in state:
                found = visit(name)
                if found:
                    return found
        return None

    def _data_mismatches(self, name: str) -> list[str]:
        child = self.jobs[name]
        reads = {(d.location.rstrip("/"), d.suffix) for d in child.data.inputs}
        problems = []
        for parent_name in child.upstream:
            parent = self.jobs[parent_name]
            writes = {(d.location.rstrip("/"), d.suffix) for d in parent.data.outputs}
            if not reads & writes:
                offered = ", ".join(f"{d.location}/*{d.suffix}" for d in parent.data.outputs)
                wanted = ", ".join(f"{d.location}/*{d.suffix}" for d in child.data.inputs)
                problems.append(
                    f"{name}: data.inputs ({wanted or 'none'}) read none of the data.outputs "
                    f"of upstream {parent_name!r} ({offered or 'none'})"
                )
        return problems

    def _shared_outputs(self) -> list[str]:
        """Files two jobs would both write: each would take the other's outputs for its
        own work done, and skip."""
        writers: dict[tuple[str, str], list[str]] = {}
        for name in sorted(self.jobs):
            for d in self.jobs[name].data.outputs:
                writers.setdefault((d.location.rstrip("/"), d.suffix), []).append(name)
        return [
            f"data.outputs {location}/*{suffix} is written by {', '.join(map(repr, names))}: "
            "each job needs outputs of its own (another location or suffix)"
            for (location, suffix), names in sorted(writers.items())
            if len(set(names)) > 1
        ]

    def parents(self, name: str) -> tuple[str, ...]:
        return tuple(sorted(self._job(name).upstream))

    def children(self, name: str) -> tuple[str, ...]:
        self._job(name)
        return tuple(sorted(n for n, c in self.jobs.items() if name in c.upstream))

    def ancestors(self, name: str) -> tuple[str, ...]:
        return self._reach(name, self.parents)

    def descendants(self, name: str) -> tuple[str, ...]:
        return self._reach(name, self.children)

    def _reach(self, name: str, step) -> tuple[str, ...]:
        seen, todo = set(), list(step(name))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(step(current))
        return tuple(n for n in self.topological_order() if n in seen)

    def roots(self) -> tuple[str, ...]:
        return tuple(n for n in self.topological_order() if not self.jobs[n].upstream)

    def topological_order(self) -> tuple[str, ...]:
        """Parents before children; ties broken by name, so the order is deterministic."""
        waiting = {name: len(set(c.upstream)) for name, c in self.jobs.items()}
        ready = [name for name, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            name = heapq.heappop(ready)
            order.append(name)
            for child in self.children(name):
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
        return tuple(order)

    def _job(self, name: str) -> JobConfig:
        if name not in self.jobs:
            close = difflib.get_close_matches(name, list(self.jobs), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DagError(f"no job named {name!r} in the DAG{hint}")
        return self.jobs[name]

    def to_json(self) -> str:
        """The registry document: every job's config, the order and the edges."""
        from cadenza.core.wiring import plan_wiring

        document = {
            "format": REGISTRY_FORMAT,
            "order": list(self.topological_order()),
            "jobs": {
                name: {
                    "config": converter.unstructure(self.jobs[name]),
                    "parents": list(self.parents(name)),
                    "children": list(self.children(name)),
                }
                for name in sorted(self.jobs)
            },
            "wiring": converter.unstructure(plan_wiring(self)),
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Dag:
        """Reads a registry document written by `to_json` (validating it again); a
        document that is not one is a DagError saying what is wrong."""
        try:
            document = json.loads(text)
        except ValueError as err:
            raise DagError(f"not a registry document: not JSON ({err})") from None
        if not isinstance(document, dict):
            raise DagError("not a registry document: expected a JSON object")
        if document.get("format") != REGISTRY_FORMAT:
            raise DagError(
                f"registry format {document.get('format')!r}; this Cadenza reads {REGISTRY_FORMAT}"
            )
        jobs = document.get("jobs")
        if not isinstance(jobs, dict):
            raise DagError("not a registry document: 'jobs' is missing or not an object")
        try:
            configs = [converter.structure(job["config"], JobConfig) for job in jobs.values()]
        except Exception as err:  # cattrs' own errors: the document was edited or damaged
            raise DagError(f"not a registry document: a job's config is damaged ({err})") from None
        return cls.build(configs)
