"""Alerts (SPEC section 7): rule conditions, the firing/resolved lifecycle and webhook delivery."""
