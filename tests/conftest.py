"""What every tier shares: the store locations a tier can run its tests against."""

pytest_plugins = ["tests.stores"]
