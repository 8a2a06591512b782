"""Single-Payer Tracker: collects, understands and reports US state single-payer legislation."""

__version__ = "0.1.0"
