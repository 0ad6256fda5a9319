"""Authentication: passwords, devices, bearer tokens."""
