"""npm_tool: a binary shipped inside an npm package, installed with `npm ci`.

The package.json/package-lock.json pair pins the package and its integrity hash, so
the install is reproducible and checked; npm is the only thing that downloads.
The repository exposes the binary as `@<name>//:<name>` (an executable file).
"""

def _npm_tool_impl(rctx):
    npm = rctx.which("npm")
    if not npm:
        fail("npm_tool(%s): npm is not installed; run ./dev setup (apt-get install npm)" % rctx.name)
    rctx.symlink(rctx.attr.package_json, "package.json")
    rctx.file("package-lock.json", rctx.read(rctx.attr.package_lock))
    rctx.report_progress("npm ci (%s)" % rctx.name)
    result = rctx.execute(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        timeout = 600,
        quiet = True,
    )
    if result.return_code != 0:
        fail("npm_tool(%s): npm ci failed:\n%s%s" % (rctx.name, result.stdout, result.stderr))
    if not rctx.path(rctx.attr.binary).exists:
        fail("npm_tool(%s): %s is not in the installed package" % (rctx.name, rctx.attr.binary))
    rctx.symlink(rctx.attr.binary, "bin/" + rctx.name)
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.file("BUILD.bazel", """package(default_visibility = ["//visibility:public"])

exports_files(["bin/{name}"])

alias(
    name = "{name}",
    actual = "bin/{name}",
)
""".format(name = rctx.name))

npm_tool = repository_rule(
    implementation = _npm_tool_impl,
    doc = "Installs a locked npm package and exposes one binary it ships.",
    attrs = {
        "binary": attr.string(mandatory = True, doc = "Path of the binary inside the installed tree."),
        "package_json": attr.label(mandatory = True, allow_single_file = True),
        "package_lock": attr.label(mandatory = True, allow_single_file = True),
    },
)
