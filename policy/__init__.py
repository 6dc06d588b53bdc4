"""The city's rules: its numbers and the decisions on them, pure functions with no I/O.

Every package asks this one; nothing else restates a number or a formula."""
