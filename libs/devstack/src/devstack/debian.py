"""Installing Debian packages on a machine that lacks them (as root, or through ``sudo -n``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .locks import exclusive, lock_path_for


def apt_install(packages: list[str]) -> None:
    """``apt-get update`` then ``apt-get install -y`` the packages, non-interactively.

    Runs directly as root, otherwise through ``sudo -n`` (never prompts for a password); raises
    ``RuntimeError`` saying what to install by hand when neither is possible.
    """
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive"]
    else:
        raise RuntimeError(f"not root and no sudo: install {' '.join(packages)} by hand")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"no apt-get on this machine: install {' '.join(packages)} by hand")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", NEEDRESTART_MODE="a")
    with exclusive(lock_path_for(Path("/var/lib/apt"), "apt")):
        subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, env=env)
        subprocess.run([*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                        "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                        *packages], check=True, env=env)
