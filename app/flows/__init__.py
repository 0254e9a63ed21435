"""Use cases that cross domains, each one an explicit sequence of domain services in a stated order.

Nothing below this package knows these sequences exist: domains never call each other's
services upward and nothing registers itself by being imported. Views, CLI commands and
worker tasks call a flow; a flow calls domain services, and owns what it commits between them.
"""
