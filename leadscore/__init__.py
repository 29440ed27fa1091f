"""The `leadscore` command and its settings: the one place that wires features, training and
serving together."""

__version__ = "0.1.0"
