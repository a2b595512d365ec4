"""fastnn: neural networks from scratch, fast."""

__version__ = "0.1.0"
