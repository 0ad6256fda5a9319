"""review domain: supervisors' review of findings and their photo evidence."""
