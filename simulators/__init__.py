"""Simulated devices on real protocols, with named faults and a virtual clock."""
