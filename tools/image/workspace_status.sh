#!/bin/sh
# Bazel's --workspace_status_command (.bazelrc): the git revision that image labels carry.
# A tree with uncommitted changes says so, so such an image is never mistaken for a commit's.
revision=$(git rev-parse HEAD 2>/dev/null) || revision=unknown
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
echo "STABLE_GIT_REVISION $revision"
