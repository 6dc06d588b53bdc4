"""Work orders, service-time limits, notices and their delivery."""
