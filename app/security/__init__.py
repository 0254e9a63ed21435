"""GroupSync's own sign-in security: the account audit log, second factors, session limits."""
