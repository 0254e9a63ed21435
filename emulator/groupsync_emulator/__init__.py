"""A local emulator of the Google services GroupSync uses: OAuth 2.0, OpenID Connect, People API v1.

Its own distribution (``groupsync-emulator``, in ``emulator/`` beside ``app/``): it may import
``app``, never the reverse, and the production wheel and image hold none of it.
``server.create_emulator`` assembles it; ``oauth_state``/``oauth`` (what the OAuth side remembers;
consent, tokens, ``require_grant``), ``discovery`` (what a People request may say: bodies, field
masks, sources), ``people``/``people_state`` (the People API; ``PeopleState``'s parts in
``people_store``/``people_limits``/``people_contacts``/``people_groups``, what it stores in
``people_records``, person fields in ``people_fields``), ``hooks``/``people_hooks`` (test
hooks), ``state`` (what it remembers, the state file), ``cli`` (``groupsync-emulator``,
``serve_in_thread``), ``demo``/``demo_data`` (``groupsync-demo``). docs/emulator.md compares each
behaviour with Google's.
"""
