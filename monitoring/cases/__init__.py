"""Remediation ledger (整治台账): cases, their audit trail and closed-loop sign-off (闭环销号)."""
