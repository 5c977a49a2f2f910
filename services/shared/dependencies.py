from __future__ import annotations

from nameko.extensions import DependencyProvider

from .settings import Settings


class SettingsProvider(DependencyProvider):
    """`self.settings`: the instance's settings (environment, overridden by the container config)."""

    def setup(self):
        self.settings = Settings.load(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.settings
