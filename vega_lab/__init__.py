"""vega_lab."""
