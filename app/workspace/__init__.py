"""Workspace domain connections: the admin's set-up, assignments and the users' notices (issue #15)."""
