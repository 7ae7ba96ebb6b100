"""The spider kinds a ``spiders:`` entry of config.yaml can name."""
