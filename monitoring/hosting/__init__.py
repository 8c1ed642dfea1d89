"""Distributed-PV hosting capacity per transformer area (SPEC section 15, DL/T 2041 device level)."""
