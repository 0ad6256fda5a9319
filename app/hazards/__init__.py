"""hazards domain: tickets (隐患) from finding to 销号, their timeline and escalation."""
