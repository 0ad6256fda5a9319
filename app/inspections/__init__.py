"""inspections domain."""
