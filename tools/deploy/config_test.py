"""Generated `:config_test` of every job: its config loads with its own params class, both as a
template and with its defaults, its job_name is its folder's name with '-' for '_', and it
is in the DAG registry under that name."""

import sys

from cadenza.core import load_job_config
from cadenza.devtools.job_names import job_name
from cadenza.devtools.registry import read_registry
from tools.deploy.job_args import job_logic, job_parser


def main(argv=None) -> int:
    args = job_parser(__doc__).parse_args(argv)
    logic = job_logic(args.module)
    params_class = getattr(logic, "params_class", None)
    template = load_job_config(args.config, params_class=params_class)
    resolved = load_job_config(args.config, env={}, params_class=params_class)
    if resolved.job_name != job_name(args.job):
        print(
            f"{args.config}: job_name {resolved.job_name!r}: expected {job_name(args.job)!r}, "
            f"the folder's name with '-' for '_' (the tools convert one to the other)",
            file=sys.stderr,
        )
        return 1
    dag = read_registry(args.registry)
    if resolved.job_name not in dag.jobs:
        print(f"{args.config}: job {resolved.job_name!r} is not in the registry", file=sys.stderr)
        return 1
    if dag.jobs[resolved.job_name] != load_job_config(args.config, env={}):
        print(f"{args.config}: the registry holds another config for {resolved.job_name!r}")
        return 1
    name = template.job_name
    params = getattr(params_class, "__name__", "dict")
    print(f"ok: {args.job} is job {name!r} (logic {logic.__name__}, params {params})")
    print(f"parents {list(dag.parents(name))}, children {list(dag.children(name))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
