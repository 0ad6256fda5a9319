"""checklists domain."""
