"""trainer: the YAML-configured command-line app that trains, evaluates and exports models."""

__version__ = "0.1.0"
