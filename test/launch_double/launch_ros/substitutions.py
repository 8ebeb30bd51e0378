"""launch_ros.substitutions test double. PACKAGE_SHARES (package -> share folder) replaces the ament index."""

from __future__ import annotations

from typing import Any

from launch import LaunchContext, Substitution

PACKAGE_SHARES: dict[str, str] = {}


class PackageNotFoundError(KeyError):
    pass


class FindPackageShare(Substitution):
    def __init__(self, package: Any):
        self.package = package

    def perform(self, context: LaunchContext) -> str:
        from launch.utilities import perform_substitutions

        package = perform_substitutions(context, self.package)
        if package not in PACKAGE_SHARES:
            raise PackageNotFoundError(f"package '{package}' not found")
        return PACKAGE_SHARES[package]
