"""A local emulator of the Google services GroupSync uses: OAuth 2.0, OpenID Connect, People API v1.

``server.create_emulator`` assembles it; ``oauth`` (consent, tokens, ``require_grant``),
``people``/``people_state`` (the People API), ``hooks``/``people_hooks`` (test hooks),
``state`` (what it remembers, the state file), ``cli`` (``groupsync emulator``,
``serve_in_thread``). docs/emulator.md compares each behaviour with Google's.
"""
