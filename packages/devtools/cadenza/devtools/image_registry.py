"""A real container registry on 127.0.0.1: Debian's `docker-registry` (the CNCF distribution
server), with filesystem storage under a state folder. For image push tests and local runs.

    with ImageRegistry(pathlib.Path(tmp)) as registry:
        registry.host                 # "127.0.0.1:PORT"; skopeo needs --*-tls-verify=false
"""

from __future__ import annotations

import shutil

from cadenza.devtools.emulators import EmulatorError, LocalServer

BINARY = "docker-registry"


class ImageRegistry(LocalServer):
    """`docker-registry serve` on a free port, storing under `state_dir/registry`."""

    name = "docker-registry"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        binary = shutil.which(BINARY)
        if binary is None:
            raise EmulatorError(
                f"{BINARY} is not installed: apt-get install docker-registry (./dev setup does)"
            )
        config = self.state_dir / "registry.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.state_dir / 'registry'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        return [binary, "serve", str(config)]

    def _ready_url(self) -> str:
        return f"http://{self.host}/v2/"
