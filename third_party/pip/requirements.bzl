"""The one way a BUILD file names a third-party Python dependency.

    load("//third_party/pip:requirements.bzl", "requirement")
    py_library(name = "x", deps = [requirement("librosa")])
"""

load("@pypi//:requirements.bzl", _requirement = "requirement")

requirement = _requirement
