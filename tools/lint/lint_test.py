"""Bazel lint test: fails when ruff or buildifier finds anything in the given files."""

import sys

from lint import lint, parse_args


def main() -> int:
    args = parse_args()
    if not args.files:
        print("lint_test: no files to lint", file=sys.stderr)
        return 1
    return (
        1 if lint(args.files, ruff=args.ruff, buildifier=args.buildifier, config=args.config) else 0
    )


if __name__ == "__main__":
    sys.exit(main())
