"""public_reports domain: anonymous reports (群众举报) that staff verify into hazard tickets."""
