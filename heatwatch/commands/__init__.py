"""The operator commands behind `heatwatch`: Config in, exit code out."""
