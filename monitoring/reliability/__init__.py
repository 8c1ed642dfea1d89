"""Reliability indices (SAIFI, SAIDI, CAIDI, ASAI) by region and period, and major event days."""
