"""Governance: what the AI Act and the CNIL ask of a deployer, produced from the live settings and figures."""
